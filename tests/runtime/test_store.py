"""Artifact stores: round trips, atomicity, and every way an artifact can be bad."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from support import code_n, fake_backend

from pyevm_jit.compiler.compile import ObjectCode
from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, EngineIdentity, engine_identity
from pyevm_jit.runtime import (
    AotRequest,
    InterpretReason,
    JitBackend,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import (
    MAGIC,
    ArtifactManifest,
    ArtifactStore,
    FileArtifactStore,
    RuntimeArtifactStore,
    StoredArtifact,
    StoreError,
    artifact_digest,
    identity_fingerprint,
)
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import faults


def artifact_for(
    code: bytes, fork: str = "cancun", identity: EngineIdentity | None = None
) -> StoredArtifact:
    key = RuntimeCacheKey(keccak(code), fork)
    obj = faults.fake_compiler(CompileTask(code, fork, DEFAULT_OPT_LEVEL, key.code_hash))
    return StoredArtifact.create(key, obj, len(code), identity or engine_identity())


@pytest.fixture
def store(tmp_path: Path) -> FileArtifactStore:
    return FileArtifactStore(tmp_path / "store")


def artifact_file(store: FileArtifactStore, artifact: StoredArtifact) -> Path:
    """One file per artifact: header, manifest, object."""
    return store.directory / artifact.key.fork / artifact.key.file_name


# --- the store itself ---------------------------------------------------------------------------


def test_round_trip_and_protocol(store: FileArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)
    assert isinstance(RuntimeArtifactStore(), ArtifactStore)
    a, b = artifact_for(code_n(1)), artifact_for(code_n(2), "shanghai")
    store.store(a)
    store.store(b)
    assert len(store) == 2
    assert store.load(a.key) == a
    assert sorted(x.key.fork for x in store.load_all()) == ["cancun", "shanghai"]
    store.delete(a.key)
    assert store.load(a.key) is None and len(store) == 1
    store.clear()
    assert store.load_all() == [] and store.rejected == 0
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700


def test_manifest_contents(store: FileArtifactStore) -> None:
    a = artifact_for(code_n(3))
    store.store(a)
    raw = artifact_file(store, a).read_bytes()
    assert raw.startswith(MAGIC) and raw.endswith(a.object_bytes)
    data = json.loads(raw[len(MAGIC) + 4 : -len(a.object_bytes)])
    ident = engine_identity().as_dict()
    for name, value in ident.items():
        assert data[name] == value
    assert data["code_hash"] == keccak(code_n(3)).hex() and data["fork"] == "cancun"
    assert data["opt_level"] == DEFAULT_OPT_LEVEL
    assert data["entry_symbol"] == "evm_cancun_" + keccak(code_n(3)).hex()
    assert data["bytecode_len"] == len(code_n(3)) and data["artifact_len"] == 64
    signed = {k: v for k, v in data.items() if k != "digest"}
    assert data["digest"] == artifact_digest(signed, a.object_bytes) and data["created"] > 0


def test_writes_are_atomic(store: FileArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    a = artifact_for(code_n(4))
    store.store(a)
    b = dataclasses.replace(a, object_bytes=a.object_bytes)  # same key, rewritten

    def broken_replace(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.store(b)
    monkeypatch.undo()
    assert store.load(a.key) == a  # the old artifact is intact
    assert not list((store.directory / "cancun").glob(".tmp-*"))  # no debris


def test_runtime_store_is_temporary() -> None:
    store = RuntimeArtifactStore()
    store.store(artifact_for(code_n(5)))
    directory = store.directory
    assert len(store.load_all()) == 1
    store.close()
    assert not directory.exists()


def test_store_refuses_inconsistent_artifact(store: FileArtifactStore) -> None:
    a = artifact_for(code_n(6))
    with pytest.raises(ValueError, match="inconsistent"):
        store.store(dataclasses.replace(a, object_bytes=a.object_bytes + b"x"))


# --- bad artifacts ------------------------------------------------------------------------------


def rewrite(store: FileArtifactStore, a: StoredArtifact, manifest: bytes, obj: bytes) -> None:
    path = artifact_file(store, a)
    path.write_bytes(MAGIC + len(manifest).to_bytes(4, "big") + manifest + obj)


def flip_byte(store: FileArtifactStore, a: StoredArtifact) -> None:
    path = artifact_file(store, a)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # in the object
    path.write_bytes(bytes(data))


def truncate(store: FileArtifactStore, a: StoredArtifact) -> None:
    path = artifact_file(store, a)
    path.write_bytes(path.read_bytes()[:-20])


def remove_object(store: FileArtifactStore, a: StoredArtifact) -> None:
    rewrite(store, a, a.manifest.to_json().encode(), b"")


def edit_manifest(field: str, value: object) -> Callable[[FileArtifactStore, StoredArtifact], None]:
    def edit(store: FileArtifactStore, a: StoredArtifact) -> None:
        data = json.loads(a.manifest.to_json())
        data[field] = value
        rewrite(store, a, json.dumps(data).encode(), a.object_bytes)

    return edit


def garbage_manifest(store: FileArtifactStore, a: StoredArtifact) -> None:
    rewrite(store, a, b"{not json", a.object_bytes)


def bad_header(store: FileArtifactStore, a: StoredArtifact) -> None:
    path = artifact_file(store, a)
    path.write_bytes(b"#!/bin/sh" + path.read_bytes())


BAD: dict[str, Callable[[FileArtifactStore, StoredArtifact], None]] = {
    "flipped byte": flip_byte,
    "truncated": truncate,
    "missing object": remove_object,
    "other code hash": edit_manifest("code_hash", keccak(b"other").hex()),
    "other fork": edit_manifest("fork", "shanghai"),
    "other compiler": edit_manifest("compiler_hash", "cd" * 32),
    "other cpu": edit_manifest("cpu", "some-other-cpu"),
    "other digest": edit_manifest("digest", keccak(b"x").hex()),
    "other length": edit_manifest("artifact_len", 63),
    "malformed manifest": garbage_manifest,
    "wrong field type": edit_manifest("opt_level", "two"),
    "other bytecode length": edit_manifest("bytecode_len", 99),
    "bad header": bad_header,
}


@pytest.mark.parametrize("damage", list(BAD), ids=list(BAD))
def test_bad_artifact_is_rejected_counted_logged(
    store: FileArtifactStore, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    a = artifact_for(code_n(7))
    store.store(a)
    BAD[damage](store, a)
    assert store.load(a.key) is None
    assert store.load_all() == []
    assert store.rejected == 2
    assert "rejected" in caplog.text
    assert store.rejections and store.rejections[0][1]


def test_foreign_artifact_is_not_linked(tmp_path: Path) -> None:
    """A genuine artifact built by another engine (other CPU): the backend skips it by its
    name, without reading it or counting it as rejected."""
    foreign_identity = dataclasses.replace(engine_identity(), cpu="not-this-cpu")
    store = FileArtifactStore(tmp_path / "s")
    foreign = artifact_for(code_n(8), identity=foreign_identity)
    store.store(foreign)
    assert store.load_all() == [foreign]  # intact, just not ours
    linked: list[ObjectCode] = []

    def linker(obj: ObjectCode) -> object:
        linked.append(obj)
        return faults.fake_linker(obj)

    config = RuntimeConfig(
        enabled=True,
        store=store,
        compiler=faults.fake_compiler,
        linker=linker,  # type: ignore[arg-type]
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        s = b.stats()
        assert s.aot_loaded == 0 and s.artifacts_rejected == 0 and s.resident_entries == 0
        assert linked == []
        code = code_n(8)
        assert not b.lookup(
            LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
        ).is_compiled
        assert linked == []


def test_world_writable_directory_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    good = FileArtifactStore(directory)
    good.store(artifact_for(code_n(9)))
    directory.chmod(0o777)
    store = FileArtifactStore(directory)
    assert store.unusable_reason is not None and "other users" in store.unusable_reason
    assert "other users" in caplog.text and store.rejected == 1
    assert store.load_all() == []
    assert store.store(artifact_for(code_n(10))) is False
    assert len(list((directory / "cancun").iterdir())) == 1  # nothing was written
    assert good.load_all() == []  # a store that became unsafe is refused by every handle
    with pytest.raises(StoreError, match="other users"):
        store.check()


def test_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    store = FileArtifactStore(path)
    assert store.unusable_reason is not None and "not a directory" in store.unusable_reason
    assert store.load_all() == []


NOBODY = 65534


def in_child_as_nobody(check: Callable[[], None]) -> str:
    """Run `check` in a forked child process, as an unprivileged user when we are root (for
    whom a mode 0500 folder is writable); what it raised, or "" when it passed."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        os.close(reader)
        status = 0
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            check()
        except BaseException as exc:  # noqa: BLE001
            os.write(writer, f"{type(exc).__name__}: {exc}".encode() or b"failed")
            status = 1
        os.close(writer)
        os._exit(status)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        report = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return report or ("" if status == 0 else f"child exit status {status}")


def test_read_only_store_can_be_loaded_from() -> None:
    """A safe store that cannot be written (a read-only mount, a system-wide store) is loaded
    from; nothing is written into it. Runs as root too: the check then runs as an unprivileged
    user (this test was skipped as root before)."""
    directory = Path(tempfile.mkdtemp(prefix="pyevm-jit-ro-"))  # reachable by another user
    try:
        store_dir = directory / "store"
        a = artifact_for(code_n(1))
        FileArtifactStore(store_dir).store(a)
        if os.geteuid() == 0:
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
            directory.chmod(0o755)
        for path in [store_dir, *store_dir.iterdir()]:
            path.chmod(0o500)

        def check() -> None:
            store = FileArtifactStore(store_dir)
            assert store.unusable_reason is None, store.unusable_reason
            assert store.read_only_reason is not None and not store.writable
            assert store.load_all() == [a]
            assert store.store(artifact_for(code_n(2))) is False  # nothing written, no error
            store.check()
            with pytest.raises(StoreError, match="read-only"):
                store.check(write=True)

        assert in_child_as_nobody(check) == ""
        assert len(list((store_dir / "cancun").iterdir())) == 1
    finally:
        for path in [directory, *directory.rglob("*")]:
            if path.is_dir():
                path.chmod(0o700)
        shutil.rmtree(directory, ignore_errors=True)


def test_read_only_directory_check_uses_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir(mode=0o700)
    FileArtifactStore(directory).store(artifact_for(code_n(2)))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    store = FileArtifactStore(directory)
    assert store.unusable_reason is None
    assert store.read_only_reason is not None and "not writable" in store.read_only_reason
    assert len(store.load_all()) == 1
    assert store.store(artifact_for(code_n(3))) is False
    assert len(store) == 1


def test_manifest_parser_rejects_wrong_format() -> None:
    a = artifact_for(code_n(11))
    data = json.loads(a.manifest.to_json())
    assert ArtifactManifest.from_json(json.dumps(data)) == a.manifest
    data["format"] = 99
    with pytest.raises(ValueError, match="format"):
        ArtifactManifest.from_json(json.dumps(data))


# --- AOT through the backend --------------------------------------------------------------------


def aot_backend(store: FileArtifactStore, **kwargs: Any) -> JitBackend:
    return fake_backend(store=store, **kwargs)


@pytest.fixture
def prepared(store: FileArtifactStore) -> Iterator[list[bytes]]:
    codes = [code_n(100 + n) for n in range(4)]
    with aot_backend(store) as b:
        b.prepare_aot_batch([AotRequest(keccak(c), c, "cancun") for c in codes])
        assert b.wait_idle(60)
        s = b.stats()
        assert s.artifacts_stored == 4 and s.compilations_succeeded == 4
        for c in codes:
            program = b.get_compiled(keccak(c), "cancun")
            assert program is not None and program.kind is ProgramKind.AOT
    yield codes


def test_preload_on_new_compiles_nothing(store: FileArtifactStore, prepared: list[bytes]) -> None:
    """Preloaded programs are verified, linked and resident from `new`, as the reference's
    are: `get_compiled` finds each at once (their code length is checked by the first
    lookup)."""
    with aot_backend(store) as b:
        s = b.stats()
        assert s.aot_loaded == 4 and s.resident_entries == 4 and s.compilations_dispatched == 0
        for c in prepared:
            program = b.get_compiled(keccak(c), "cancun")
            assert program is not None and program.kind is ProgramKind.AOT
        for c in prepared:
            d = b.lookup(LookupRequest(RuntimeCacheKey(keccak(c), "cancun"), c))
            assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        assert b.stats().lookup_hits == 4 and b.stats().resident_entries == 4


def test_preload_waits_for_enable(store: FileArtifactStore, prepared: list[bytes]) -> None:
    config = RuntimeConfig(
        enabled=False,
        store=store,
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        assert b.stats().aot_loaded == 0
        b.set_enabled(True)
        assert b.stats().aot_loaded == 4


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "other cpu", "missing object"])
def test_bad_artifact_is_recompiled_and_replaced(
    store: FileArtifactStore, prepared: list[bytes], damage: str
) -> None:
    victim = artifact_for(prepared[0])
    BAD[damage](store, victim)
    with aot_backend(store, blocking=True, aot=True) as b:
        s = b.stats()
        assert s.aot_loaded == 3 and s.artifacts_rejected >= 1
        req = LookupRequest(RuntimeCacheKey(keccak(prepared[0]), "cancun"), prepared[0])
        d = b.lookup(req)
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        assert b.stats().compilations_dispatched == 1 and b.stats().artifacts_stored == 1
    with aot_backend(store) as b:
        s = b.stats()
        assert s.aot_loaded == 4 and s.artifacts_rejected == 0


def test_digest_is_checked_again_before_linking(store: FileArtifactStore) -> None:
    """Even an artifact that changes between the store's check and linking is never linked."""
    a = artifact_for(code_n(12))
    store.store(a)
    tampered = StoredArtifact(a.manifest, a.object_bytes[:-1] + b"\x01")

    class Sneaky(FileArtifactStore):
        def load_all(self) -> list[StoredArtifact]:
            return [tampered]

    sneaky = Sneaky(store.directory)
    sneaky.load = lambda key: tampered  # type: ignore[method-assign]
    with aot_backend(sneaky) as b:
        s = b.stats()
        assert s.aot_loaded == 0 and s.artifacts_rejected == 1


def test_lazy_load_from_store_on_miss(store: FileArtifactStore, prepared: list[bytes]) -> None:
    config = RuntimeConfig(
        enabled=False,
        blocking=True,
        store=store,
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        extra = artifact_for(code_n(13))
        b.set_enabled(True)
        store.store(extra)  # written by someone else after the preload
        req = LookupRequest(extra.key.runtime_key, code_n(13))
        d = b.lookup(req)
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        assert b.stats().compilations_dispatched == 0


def test_clear_persisted(store: FileArtifactStore, prepared: list[bytes]) -> None:
    with aot_backend(store) as b:
        for c in prepared:
            assert b.lookup(LookupRequest(RuntimeCacheKey(keccak(c), "cancun"), c)).is_compiled
        b.clear_persisted()
        assert store.load_all() == []
        assert b.stats().resident_entries == 4  # resident programs are unaffected
        b.clear_resident()
        req = LookupRequest(RuntimeCacheKey(keccak(prepared[0]), "cancun"), prepared[0])
        assert b.lookup(req).reason is InterpretReason.NOT_READY


def test_prepare_aot_persists_a_key_resident_as_jit(store: FileArtifactStore) -> None:
    with aot_backend(store, blocking=True) as b:
        code = code_n(14)
        req = LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
        first = b.lookup(req).program
        assert first is not None and first.kind is ProgramKind.JIT
        assert len(store.load_all()) == 1  # JIT compilations are persisted too
        b.prepare_aot(AotRequest(keccak(code), code, "cancun"))
        assert b.wait_idle(60)
        program = b.get_compiled(keccak(code), "cancun")
        assert program is not None and program.kind is ProgramKind.AOT
        assert len(store.load_all()) == 1


def test_artifact_that_does_not_link_is_not_stored(store: FileArtifactStore) -> None:
    def refuse(obj: ObjectCode) -> object:
        raise RuntimeError("cannot link")

    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        aot=True,
        store=store,
        compiler=faults.fake_compiler,
        linker=refuse,  # type: ignore[arg-type]
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        code = code_n(15)
        d = b.lookup(LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code))
        assert d.reason is InterpretReason.JIT_FAILED
        assert store.load_all() == [] and b.stats().artifacts_stored == 0


def test_without_preload_stored_keys_load_on_first_miss(
    store: FileArtifactStore, prepared: list[bytes]
) -> None:
    assert {k.runtime_key.code_hash for k in store.keys()} == {keccak(c) for c in prepared}
    config = RuntimeConfig(
        enabled=True,
        preload=False,
        store=store,
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0, hot_threshold=1000, event_drain_interval=0.01),
    )
    with JitBackend.new(config) as b:
        assert b.stats().aot_loaded == 0 and b.stats().resident_entries == 0
        code = prepared[1]
        req = LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
        d = b.lookup(req)  # the first lookup loads it: no hot threshold for stored code
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        s = b.stats()
        assert s.aot_loaded == 1 and s.compilations_dispatched == 0 and s.resident_entries == 1
        assert s.lookup_hits == 1 and s.lookup_misses == 0
        # a key that is not in the store still waits for the hot threshold
        other = LookupRequest(RuntimeCacheKey(keccak(code_n(999)), "cancun"), code_n(999))
        b.lookup(other)
        assert b.wait_idle(60)
        assert b.get_compiled(other.key.code_hash, "cancun") is None


def test_hot_misses_promote_to_aot_when_configured(store: FileArtifactStore) -> None:
    config = RuntimeConfig(
        enabled=True,
        aot=True,
        store=store,
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0, hot_threshold=2, event_drain_interval=0.01),
    )
    with JitBackend.new(config) as b:
        code = code_n(16)
        req = LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.wait_idle(60)
        d = b.lookup(req)
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        assert [a.key.runtime_key for a in store.load_all()] == [req.key]


def test_backend_with_unsafe_store_counts_it_and_still_compiles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o777)
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        aot=True,
        store=FileArtifactStore(directory),
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        assert b.stats().artifacts_rejected == 1
        assert "other users" in caplog.text
        code = code_n(17)
        assert b.lookup(LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)).is_compiled
    assert list(directory.iterdir()) == []  # nothing written into the unsafe folder


def test_directory_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(directory, 4242, 4242)  # really someone else's
    else:
        real = os.geteuid()  # the id the store checks ownership against
        monkeypatch.setattr(os, "geteuid", lambda: real + 1)  # we pretend to be someone else
    store = FileArtifactStore(directory)
    assert store.unusable_reason is not None and "another user" in store.unusable_reason


def test_runtime_store_with_backends() -> None:
    store = RuntimeArtifactStore()
    try:
        with aot_backend(store, blocking=True, aot=True) as b:  # type: ignore[arg-type]
            code = code_n(18)
            assert b.lookup(
                LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)
            ).is_compiled
        with aot_backend(store) as b:  # type: ignore[arg-type]
            assert b.stats().aot_loaded == 1 and b.stats().compilations_dispatched == 0
    finally:
        store.close()


@pytest.mark.parametrize("how", ["idle", "budget"])
def test_evicted_aot_program_is_loaded_again_from_the_store(
    store: FileArtifactStore, prepared: list[bytes], how: str
) -> None:
    """A store-only backend (no promotion) that evicts a stored program loads it again on its
    next lookup instead of interpreting it from then on."""
    requests = [LookupRequest(RuntimeCacheKey(keccak(c), "cancun"), c) for c in prepared]
    with aot_backend(store) as b:
        for req in requests:
            assert b.lookup(req).is_compiled
        size = b.stats().resident_code_bytes // 4
    tuning = RuntimeTuning(
        worker_count=0,
        event_drain_interval=0.01,
        idle_evict_after=0.05 if how == "idle" else 600.0,
        idle_sweep_interval=0.01,
        resident_code_budget=(1 << 30) if how == "idle" else 3 * size,
    )
    with aot_backend(store, promote_hot=False, tuning=tuning) as b:
        for req in requests:
            b.lookup(req)
        if how == "idle":
            deadline = time.monotonic() + 60
            while b.stats().idle_evictions < 4:
                assert time.monotonic() < deadline, "no idle eviction"
                time.sleep(0.01)
        evicted = [r for r in requests if b.get_compiled(r.key.code_hash, "cancun") is None]
        assert evicted, "nothing was evicted"
        loaded = b.stats().aot_loaded
        d = b.lookup(evicted[0])
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        s = b.stats()
        assert s.aot_loaded == loaded + 1 and s.compilations_dispatched == 0  # loaded again


def test_identity_fingerprint_is_stable() -> None:
    """Store file names carry it: the same identity must keep the same name across versions."""
    identity = EngineIdentity(
        package_version="0.1.0",
        compiler_hash="ab" * 32,
        py_evm_version="0.12.1b1",
        llvm_version="22.1.0",
        llvmlite_version="0.50.0",
        triple="x86_64-unknown-linux-gnu",
        cpu="znver3",
        features="+sse2,-avx512f",
    )
    assert identity_fingerprint(identity) == "31c5300d2cff3e43"
    manifest = artifact_for(code_n(9), identity=identity).manifest
    assert manifest.identity == identity and manifest.key.identity == "31c5300d2cff3e43"
