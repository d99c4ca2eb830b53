"""Native code you can trust (issue 17 findings 1-3): every folder and file of a store is
checked, an artifact is bound to its key, and only code of this very compiler is linked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from pyevm_jit.compiler.compile import entry_symbol
from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, engine_identity
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import (
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import (
    FileArtifactStore,
    StoredArtifact,
    artifact_digest,
)
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import differential as d
from pyevm_jit.testing import faults
from pyevm_jit.testing.assembler import asm

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]


def code_n(n: int) -> bytes:
    return b"\x61" + n.to_bytes(2, "big") + b"\x50\x00"


def fake_artifact(code: bytes, fork: str = "cancun") -> StoredArtifact:
    key = RuntimeCacheKey(keccak(code), fork)
    obj = faults.fake_compiler(CompileTask(code, fork, DEFAULT_OPT_LEVEL, key.code_hash))
    return StoredArtifact.create(key, obj, len(code), engine_identity())


def artifact_file(store: FileArtifactStore, a: StoredArtifact) -> Path:
    return store.directory / a.key.fork / a.key.file_name


def stored(tmp_path: Path, name: str = "store") -> tuple[FileArtifactStore, StoredArtifact]:
    store = FileArtifactStore(tmp_path / name)
    a = fake_artifact(code_n(1))
    assert store.store(a)
    return store, a


# --- finding 1: permissions on every path from the root to each file ---------------------------


def test_world_writable_fork_folder_is_refused(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    (store.directory / "cancun").chmod(0o777)
    fresh = FileArtifactStore(store.directory)
    assert fresh.load(a.key) is None and fresh.load_all() == []
    assert fresh.rejected >= 1 and "writable by other users" in fresh.rejections[0][1]


def test_group_writable_store_root_is_refused(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    store.directory.chmod(0o770)
    fresh = FileArtifactStore(store.directory)
    assert fresh.unusable_reason is not None and "group" in fresh.unusable_reason
    assert fresh.load(a.key) is None and fresh.load_all() == []


def test_fork_folder_symlinked_elsewhere_is_refused(tmp_path: Path) -> None:
    """A fork folder that is a link to another user's world-writable folder."""
    store, a = stored(tmp_path)
    elsewhere = tmp_path / "someone-elses"
    shutil.move(str(store.directory / "cancun"), elsewhere)
    elsewhere.chmod(0o777)
    if ROOT:
        os.chown(elsewhere, 4242, 4242)
    (store.directory / "cancun").symlink_to(elsewhere)
    fresh = FileArtifactStore(store.directory)
    assert fresh.load(a.key) is None and fresh.load_all() == []
    assert fresh.rejected >= 1


def test_artifact_file_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    path = artifact_file(store, a)
    target = tmp_path / "elsewhere.pjit"
    shutil.move(str(path), target)
    path.symlink_to(target)
    assert FileArtifactStore(store.directory).load(a.key) is None


def test_artifact_file_writable_by_others_is_refused(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    artifact_file(store, a).chmod(0o666)
    fresh = FileArtifactStore(store.directory)
    assert fresh.load(a.key) is None and "writable by other users" in fresh.rejections[0][1]


def test_artifact_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, a = stored(tmp_path)
    if ROOT:
        os.chown(artifact_file(store, a), 4242, 4242)
        assert FileArtifactStore(store.directory).load(a.key) is None
    else:
        pytest.skip("only root can give a file away")


def test_unsafe_folder_above_the_store_is_refused(tmp_path: Path) -> None:
    """Someone who can write a folder above the store can swap the store for their own."""
    above = tmp_path / "open"
    above.mkdir()
    store, a = stored(above)
    above.chmod(0o777)  # world-writable, no sticky bit
    fresh = FileArtifactStore(store.directory)
    assert fresh.unusable_reason is not None and "above the store" in fresh.unusable_reason
    assert fresh.load(a.key) is None
    above.chmod(0o1777)  # sticky, like /tmp: fine
    assert FileArtifactStore(store.directory).load(a.key) == a


def test_safe_store_loads(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    assert FileArtifactStore(store.directory).load(a.key) == a


# --- finding 2: an artifact is bound to its key -------------------------------------------------

RETURNS_FIVE = asm(2, 3, "ADD", 0, "MSTORE", 32, 0, "RETURN")
REVERTS = asm(0, 0, "REVERT")


def fill_real(store_dir: Path, codes: list[bytes], fork: str = "cancun") -> None:
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        aot=True,
        store=FileArtifactStore(store_dir),
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        for code in codes:
            assert b.lookup(LookupRequest(RuntimeCacheKey(keccak(code), fork), code)).is_compiled


def rewrite(
    path: Path, edit: dict[str, object], *, resign: bool, target: Path | None = None
) -> None:
    """Edit the manifest of an artifact file (re-signing the digest when `resign`: what a tool
    that renames artifacts would do) and write it to `target`."""
    a = StoredArtifact.from_bytes(path.read_bytes())
    fields = {**a.manifest.signed_fields(), **edit}
    digest = artifact_digest(fields, a.object_bytes) if resign else a.manifest.digest
    new = StoredArtifact(type(a.manifest)(**fields, digest=digest), a.object_bytes)
    (target or path).write_bytes(new.to_bytes())
    (target or path).chmod(0o600)


def run_stored(
    store_dir: Path, code: bytes, fork: str = "cancun"
) -> tuple[d.Outcome, d.Outcome, int]:
    config = RuntimeConfig(
        enabled=True,
        promote_hot=False,
        store=FileArtifactStore(store_dir),
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        scenario = d.Scenario(code=code, fork=fork)
        stock = d.execute(scenario, d.fork_vm(fork))
        jit = d.execute(scenario, jit_vm(d.fork_vm(fork), b))
        return stock, jit, b.stats().lookup_hits


@pytest.mark.parametrize("resign", [False, True], ids=["digest-kept", "digest-recomputed"])
def test_artifact_copied_under_another_code_hash_never_runs(tmp_path: Path, resign: bool) -> None:
    """One contract's artifact copied under another's code hash, only `code_hash` edited (and
    the digest recomputed, as a renaming tool would): rejected, the right code runs."""
    store_dir = tmp_path / "store"
    fill_real(store_dir, [RETURNS_FIVE, REVERTS])
    store = FileArtifactStore(store_dir)
    keys = {k.code_hash: k for k in store.keys()}
    five, revert = keys[keccak(RETURNS_FIVE)], keys[keccak(REVERTS)]
    source = store_dir / "cancun" / five.file_name
    target = store_dir / "cancun" / revert.file_name
    rewrite(source, {"code_hash": keccak(REVERTS).hex()}, resign=resign, target=target)
    stock, jit, hits = run_stored(store_dir, REVERTS)
    assert stock.status == "revert"
    assert not d.compare(stock, jit), "another contract's code ran"
    assert hits == 0  # the mixed-up artifact was never linked


def test_artifact_copied_to_another_fork_never_runs(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    fill_real(store_dir, [RETURNS_FIVE], "cancun")
    fill_real(store_dir, [REVERTS], "shanghai")
    store = FileArtifactStore(store_dir)
    five = next(k for k in store.keys() if k.fork == "cancun")
    revert = next(k for k in store.keys() if k.fork == "shanghai")
    rewrite(
        store_dir / "cancun" / five.file_name,
        {"code_hash": keccak(REVERTS).hex(), "fork": "shanghai"},
        resign=True,
        target=store_dir / "shanghai" / revert.file_name,
    )
    stock, jit, hits = run_stored(store_dir, REVERTS, "shanghai")
    assert not d.compare(stock, jit) and hits == 0


@pytest.mark.parametrize(
    "edit",
    [{"bytecode_len": 999}, {"created": 1.0}, {"opt_level": 3}],
    ids=["bytecode_len", "created", "opt_level"],
)
def test_digest_covers_the_manifest(tmp_path: Path, edit: dict[str, object]) -> None:
    store, a = stored(tmp_path)
    path = artifact_file(store, a)
    rewrite(path, edit, resign=False)
    fresh = FileArtifactStore(store.directory)
    assert fresh.load(a.key) is None and fresh.load_all() == []
    assert fresh.rejected >= 1


def test_entry_symbol_is_derived_from_the_key(tmp_path: Path) -> None:
    store, a = stored(tmp_path)
    other = entry_symbol(keccak(b"other"), "cancun")
    rewrite(artifact_file(store, a), {"entry_symbol": other}, resign=True)
    fresh = FileArtifactStore(store.directory)
    assert fresh.load(a.key) is None and "entry symbol" in fresh.rejections[0][1]
    assert a.to_object_code().entry_symbol == entry_symbol(a.key.code_hash, "cancun")


def test_code_length_must_match(tmp_path: Path) -> None:
    """An artifact whose manifest (validly signed) names another code length than the code
    being run is not linked for it."""
    store, a = stored(tmp_path)
    rewrite(artifact_file(store, a), {"bytecode_len": len(code_n(1)) + 1}, resign=True)
    assert FileArtifactStore(store.directory).load(a.key) is not None  # intact, for its length
    linked: list[object] = []

    def linker(obj: object) -> object:
        linked.append(obj)
        return faults.fake_linker(obj)  # type: ignore[arg-type]

    for preload in (True, False):
        config = RuntimeConfig(
            enabled=True,
            preload=preload,
            promote_hot=False,
            store=FileArtifactStore(store.directory),
            linker=linker,  # type: ignore[arg-type]
            tuning=RuntimeTuning(worker_count=0),
        )
        with JitBackend.new(config) as b:
            decision = b.lookup(LookupRequest(a.key.runtime_key, code_n(1)))
            assert not decision.is_compiled
            assert b.stats().artifacts_rejected >= 1


def test_manifest_and_object_are_one_atomic_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails at any point leaves the previous artifact intact and nothing else."""
    store = FileArtifactStore(tmp_path / "store")
    a = fake_artifact(code_n(2))
    assert store.store(a)
    before = sorted(p.name for p in (store.directory / "cancun").iterdir())
    real_replace = os.replace

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError):
        store.store(fake_artifact(code_n(2)))
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(p.name for p in (store.directory / "cancun").iterdir()) == before
    assert store.load(a.key) == a
    assert len(before) == 1  # manifest and object live in one file


# --- finding 3: code of another compiler is never linked ---------------------------------------


def test_identity_holds_package_version_and_compiler_hash() -> None:
    import pyevm_jit
    from pyevm_jit.compiler import target

    ident = engine_identity()
    assert ident.package_version == pyevm_jit.__version__
    assert len(ident.compiler_hash) == 64
    assert ident.compiler_hash == target.compiler_sources_hash()


def test_compiler_hash_follows_the_code_generator(tmp_path: Path) -> None:
    from pyevm_jit.compiler import target

    copy = tmp_path / "pyevm_jit"
    shutil.copytree(REPO / "pyevm_jit", copy)
    assert target.compiler_sources_hash(copy) == target.compiler_sources_hash()
    ops = copy / "compiler" / "codegen" / "ops.py"
    ops.write_text(ops.read_text() + "\n# a change\n")
    assert target.compiler_sources_hash(copy) != target.compiler_sources_hash()
    rtlib = copy / "compiler" / "rtlib" / "division.py"
    ops.write_text((REPO / "pyevm_jit/compiler/codegen/ops.py").read_text())
    rtlib.write_text(rtlib.read_text() + "\n# a change\n")
    assert target.compiler_sources_hash(copy) != target.compiler_sources_hash()


def test_store_of_a_buggy_code_generator_is_not_linked(tmp_path: Path) -> None:
    """A copy of the package whose code generator emits ADD as MUL fills a store; this package
    must not run that code (before the fix: 2 + 3 = 6)."""
    buggy = tmp_path / "buggy"
    shutil.copytree(REPO / "pyevm_jit", buggy / "pyevm_jit")
    ops = buggy / "pyevm_jit" / "compiler" / "codegen" / "ops.py"
    text = ops.read_text()
    assert '"ADD": pb.b.add' in text
    ops.write_text(text.replace('"ADD": pb.b.add', '"ADD": pb.b.mul'))
    store = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        from eth_hash.auto import keccak
        from pyevm_jit.runtime import JitBackend, LookupRequest, RuntimeCacheKey, RuntimeConfig
        from pyevm_jit.runtime import RuntimeTuning
        from pyevm_jit.runtime.store import FileArtifactStore
        code = bytes.fromhex({RETURNS_FIVE.hex()!r})
        cfg = RuntimeConfig(enabled=True, blocking=True, aot=True,
                            store=FileArtifactStore({str(store)!r}),
                            tuning=RuntimeTuning(worker_count=0))
        with JitBackend.new(cfg) as b:
            req = LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
            assert b.lookup(req).is_compiled
        """
    )
    env = dict(os.environ, PYTHONPATH=str(buggy), PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=tmp_path)
    assert len(FileArtifactStore(store).keys()) == 1
    stock, jit, hits = run_stored(store, RETURNS_FIVE)
    assert int.from_bytes(stock.output, "big") == 5
    assert not d.compare(stock, jit) and hits == 0
