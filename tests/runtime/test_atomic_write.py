"""The package's one atomic write and its neighbours (`pyevm_jit.files`): what is at the path
decides (a regular file is replaced, a link written through, a FIFO or character device written
in place, anything else refused); the store follows no link and replaces no non-file; missing
cache folders are created private whatever the umask; JSON input cannot crash the process by
its nesting; every writer of the package goes through the one write."""

from __future__ import annotations

import os
import re
import stat
import sys
import threading
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from support import code_n

from pyevm_jit import files
from pyevm_jit.compiler.compile import compile_object
from pyevm_jit.compiler.target import engine_identity
from pyevm_jit.runtime import RuntimeCacheKey
from pyevm_jit.runtime.store import FileArtifactStore, StoredArtifact

PACKAGE = Path(__file__).resolve().parents[2] / "pyevm_jit"


def test_regular_file_is_replaced_with_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    path = tmp_path / "out.json"
    path.write_text("old")
    files.atomic_write(path, b"new")
    assert path.read_bytes() == b"new" and synced
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    files.atomic_write(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    files.atomic_write(fifo, b"data")
    reader.join(30)
    assert got == [b"data"] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(files.NotWritableTarget, match="a folder"):
        files.atomic_write(tmp_path, b"x")


def _artifact(code: bytes) -> StoredArtifact:
    key = RuntimeCacheKey(keccak(code), "cancun")
    obj = compile_object(code, "cancun", 1, code_hash=key.code_hash)
    return StoredArtifact.create(key, obj, len(code), engine_identity())


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_store_replaces_no_link_and_no_fifo(tmp_path: Path, kind: str) -> None:
    store = FileArtifactStore(tmp_path / "store")
    artifact = _artifact(code_n(41))
    assert store.store(artifact)
    path = store.directory / artifact.key.fork / artifact.key.file_name
    path.unlink()
    if kind == "symlink":
        (tmp_path / "elsewhere").write_text("theirs")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        os.mkfifo(path, 0o600)
    before = os.lstat(path)
    with pytest.raises(OSError, match="not replaced"):
        store.store(artifact)
    after = os.lstat(path)
    assert after.st_ino == before.st_ino and after.st_mode == before.st_mode
    assert store.write_errors == 1


def test_missing_cache_folders_are_private_under_umask_000(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    store = FileArtifactStore(home / ".cache" / "pyevm-jit")
    old = os.umask(0)
    try:
        assert store.store(_artifact(code_n(42)))
    finally:
        os.umask(old)
    for folder in (home / ".cache", home / ".cache" / "pyevm-jit"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_nested_json_is_a_value_error_under_py_evms_recursion_limit() -> None:
    import eth.vm.forks  # noqa: F401 - raises the recursion limit, as in every command

    assert sys.getrecursionlimit() > 10_000
    with pytest.raises(ValueError, match="nested deeper"):
        files.loads_json("[" * 300_000 + "]" * 300_000)
    text = '{"a": "[[[[\\"[", "b": [[1], {"c": []}]}'
    assert files.nesting_depth(text.encode()) == 4  # { [ { [
    assert files.loads_json(text) == {"a": '[[[["[', "b": [[1], {"c": []}]}


def test_every_writer_uses_the_one_atomic_write() -> None:
    """No module but `files` replaces, creates or writes a file by itself (a test helper's
    marker file aside)."""
    pattern = re.compile(
        r"os\.replace\(|\.write_text\(|\.write_bytes\(|mkstemp\(|open\([^)]*[\"'][wax]b?[\"']"
    )
    allowed = {("cli/output.py", "mkstemp("), ("testing/faults.py", "open(")}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "files.py":
            continue
        for match in pattern.finditer(path.read_text()):
            if not any(rel == name and match.group(0).startswith(what) for name, what in allowed):
                found.append(f"{rel}: {match.group(0)}")
    assert not found, found
