"""The runtime library's object code kept in the store (issue 14 item 2): a new process with a
store links the library built by an earlier one instead of building it again, and a damaged or
foreign file is rejected and rebuilt, never trusted."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import WAIT

from pyevm_jit.runtime import rtlib_cache
from pyevm_jit.runtime.rtlib_cache import FOLDER, StoreRtlibCache, decode, encode, file_name
from pyevm_jit.runtime.store import FileArtifactStore

KEY = ("x86_64-unknown-linux-gnu", "e-m:e-p270:32:32")
OBJ = b"\x7fELF fake runtime library" * 8

_SCRIPT = textwrap.dedent(
    """
    import sys
    from pyevm_jit.compiler import link, rtlib
    from pyevm_jit.runtime import JitBackend, RuntimeConfig
    from pyevm_jit.runtime.store import FileArtifactStore

    store = FileArtifactStore(sys.argv[1], max_bytes=1 << 24) if sys.argv[1] != "-" else None
    backend = JitBackend.new(RuntimeConfig(enabled=True, store=store))
    assert all(link.rtlib_address(name) for name in rtlib.EXPORTED_SYMBOLS)
    print(rtlib.builds, store.rejected if store is not None else 0)
    backend.close()
    """
)


def _run(store: Path | str) -> tuple[int, int]:
    """(runtime libraries built, files rejected) by a fresh process with the store."""
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(store)], capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    builds, rejected = done.stdout.split()
    return int(builds), int(rejected)


def _library_file(store: Path) -> Path:
    (path,) = (store / FOLDER).iterdir()
    return path


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store in which a first process built the library (built once for this module's tests;
    each test works on its own copy, `store_copy`)."""
    store = tmp_path_factory.mktemp("rtlib") / "store"
    assert _run(store) == (1, 0)
    return store


@pytest.fixture
def store_copy(built_store: Path, tmp_path: Path) -> Path:
    """A copy of `built_store` (files with their modes) for one test to use and damage."""
    store = tmp_path / "store"
    shutil.copytree(built_store, store)
    return store


def test_second_process_links_the_stored_library_without_building_it(store_copy: Path) -> None:
    assert _library_file(store_copy).stat().st_mode & 0o077 == 0
    assert _run(store_copy) == (0, 0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_damaged_or_foreign_library_is_rejected_and_rebuilt(store_copy: Path, damage: str) -> None:
    store = store_copy
    path = _library_file(store)
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[-100] ^= 0x01
    elif damage == "truncate":
        del blob[-1000:]
    else:  # a valid file of another CPU under this engine's name
        start = len(rtlib_cache.MAGIC) + 4
        size = int.from_bytes(blob[len(rtlib_cache.MAGIC) : start], "big")
        manifest = json.loads(blob[start : start + size])
        manifest["cpu"] = "another-cpu"
        del manifest["digest"]
        data = bytes(blob[start + size :])
        manifest["digest"] = rtlib_cache._digest(manifest, data)
        text = json.dumps(manifest).encode()
        blob = bytearray(rtlib_cache.MAGIC + len(text).to_bytes(4, "big") + text + data)
    path.write_bytes(bytes(blob))
    assert _run(store) == (1, 1)  # rejected, built again, no crash
    assert _run(store) == (0, 0)  # and replaced by a good one


def test_no_store_keeps_nothing(tmp_path: Path) -> None:
    env = dict(os.environ, PYEVM_JIT_STORE="off", XDG_CACHE_HOME=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "-"], capture_output=True, text=True, env=env, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "0"]
    assert list(tmp_path.iterdir()) == []


def test_file_round_trip_and_checks() -> None:
    blob = encode(KEY, OBJ)
    assert decode(KEY, blob) == (OBJ, None)
    other = (KEY[0], KEY[1] + "-n8:16")
    assert decode(other, blob)[0] is None  # another target
    assert "digest" in str(decode(KEY, blob[:-1] + bytes([blob[-1] ^ 1]))[1])
    assert decode(KEY, b"junk")[0] is None
    assert file_name(KEY) != file_name(other)


def test_unsafe_library_file_is_refused(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "store")
    cache = StoreRtlibCache(store)
    cache.save(KEY, OBJ)
    assert cache.load(KEY) == OBJ
    path = tmp_path / "store" / FOLDER / file_name(KEY)
    path.chmod(0o666)  # writable by others
    assert cache.load(KEY) is None and store.rejected == 1
    path.unlink()
    target = tmp_path / "elsewhere.pjit"
    target.write_bytes(encode(KEY, OBJ))
    path.symlink_to(target)
    assert cache.load(KEY) is None and store.rejected == 2
    assert cache.load(("other", "layout")) is None  # absent: not a rejection
    assert store.rejected == 2


def test_library_file_counts_in_the_store_and_is_cleared(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "store")
    StoreRtlibCache(store).save(KEY, OBJ)
    assert store.size() > len(OBJ)
    assert store.keys() == []  # not an artifact
    store.clear()
    assert StoreRtlibCache(store).load(KEY) is None
