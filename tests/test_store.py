"""Artifact stores: round trips, atomicity, and every way an artifact can be bad."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
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
    ArtifactManifest,
    ArtifactStore,
    FileArtifactStore,
    RuntimeArtifactStore,
    StoredArtifact,
    StoreError,
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


def files(store: FileArtifactStore, artifact: StoredArtifact) -> tuple[Path, Path]:
    base = store.directory / artifact.key.fork / artifact.key.stem
    return base.with_name(base.name + ".o"), base.with_name(base.name + ".json")


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
    _obj, manifest = files(store, a)
    data = json.loads(manifest.read_text())
    ident = engine_identity().as_dict()
    for name, value in ident.items():
        assert data[name] == value
    assert data["code_hash"] == keccak(code_n(3)).hex() and data["fork"] == "cancun"
    assert data["opt_level"] == DEFAULT_OPT_LEVEL and data["entry_symbol"].startswith("evm_cancun_")
    assert data["bytecode_len"] == len(code_n(3)) and data["artifact_len"] == 64
    assert data["digest"] == keccak(a.object_bytes).hex() and data["created"] > 0


def test_writes_are_atomic(store: FileArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    a = artifact_for(code_n(4))
    store.store(a)
    b = dataclasses.replace(a, object_bytes=a.object_bytes)  # same key, rewritten

    def broken_replace(src: str, dst: str) -> None:
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


def flip_byte(store: FileArtifactStore, a: StoredArtifact) -> None:
    obj, _ = files(store, a)
    data = bytearray(obj.read_bytes())
    data[10] ^= 0x01
    obj.write_bytes(bytes(data))


def truncate(store: FileArtifactStore, a: StoredArtifact) -> None:
    obj, _ = files(store, a)
    obj.write_bytes(obj.read_bytes()[:20])


def remove_object(store: FileArtifactStore, a: StoredArtifact) -> None:
    files(store, a)[0].unlink()


def edit_manifest(field: str, value: object) -> Callable[[FileArtifactStore, StoredArtifact], None]:
    def edit(store: FileArtifactStore, a: StoredArtifact) -> None:
        _, manifest = files(store, a)
        data = json.loads(manifest.read_text())
        data[field] = value
        manifest.write_text(json.dumps(data))

    return edit


def garbage_manifest(store: FileArtifactStore, a: StoredArtifact) -> None:
    files(store, a)[1].write_text("{not json")


BAD: dict[str, Callable[[FileArtifactStore, StoredArtifact], None]] = {
    "flipped byte": flip_byte,
    "truncated": truncate,
    "missing object": remove_object,
    "other code hash": edit_manifest("code_hash", keccak(b"other").hex()),
    "other fork": edit_manifest("fork", "shanghai"),
    "other abi": edit_manifest("abi_version", 999),
    "other cpu": edit_manifest("cpu", "some-other-cpu"),
    "other digest": edit_manifest("digest", keccak(b"x").hex()),
    "other length": edit_manifest("artifact_len", 63),
    "malformed manifest": garbage_manifest,
    "wrong field type": edit_manifest("opt_level", "two"),
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
    """A genuine artifact built by another engine (other CPU): the backend skips it."""
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
        assert s.aot_loaded == 0 and s.artifacts_rejected == 1 and s.resident_entries == 0
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
    store.store(artifact_for(code_n(10)))
    assert len(good.load_all()) == 1  # nothing was written
    with pytest.raises(StoreError, match="other users"):
        store.check()


def test_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    store = FileArtifactStore(path)
    assert store.unusable_reason is not None and "not a directory" in store.unusable_reason
    assert store.load_all() == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_directory_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        store = FileArtifactStore(directory)
        assert store.unusable_reason is not None and "not writable" in store.unusable_reason
    finally:
        directory.chmod(0o700)


def test_read_only_directory_check_uses_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir(mode=0o700)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    store = FileArtifactStore(directory)
    assert store.unusable_reason is not None and "not writable" in store.unusable_reason


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
    with aot_backend(store) as b:
        s = b.stats()
        assert s.aot_loaded == 4 and s.resident_entries == 4 and s.compilations_dispatched == 0
        for c in prepared:
            d = b.lookup(LookupRequest(RuntimeCacheKey(keccak(c), "cancun"), c))
            assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        assert b.stats().lookup_hits == 4


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
        assert store.load_all() == []
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
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.wait_idle(60)
        d = b.lookup(req)
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.AOT
        s = b.stats()
        assert s.aot_loaded == 1 and s.compilations_dispatched == 0 and s.resident_entries == 1
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
        real = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: real + 1)  # we pretend to be someone else
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
    """A store-only backend (no promotion) that evicts a preloaded program loads it again on
    its next miss instead of interpreting it from then on."""
    with aot_backend(store) as b:
        size = b.stats().resident_code_bytes // 4
    tuning = RuntimeTuning(
        worker_count=0,
        event_drain_interval=0.01,
        idle_evict_after=0.05 if how == "idle" else 600.0,
        idle_sweep_interval=0.01,
        resident_code_budget=(1 << 30) if how == "idle" else 3 * size,
    )
    with aot_backend(store, promote_hot=False, tuning=tuning) as b:
        if how == "idle":
            deadline = time.monotonic() + 60
            while b.stats().idle_evictions < 4:
                assert time.monotonic() < deadline, "no idle eviction"
                time.sleep(0.01)
        evicted = [c for c in prepared if b.get_compiled(keccak(c), "cancun") is None]
        assert evicted, "nothing was evicted"
        req = LookupRequest(RuntimeCacheKey(keccak(evicted[0]), "cancun"), evicted[0])
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        deadline = time.monotonic() + 60
        while not b.lookup(req).is_compiled:
            assert time.monotonic() < deadline, "evicted program not reloaded"
            time.sleep(0.01)
        program = b.get_compiled(req.key.code_hash, "cancun")
        assert program is not None and program.kind is ProgramKind.AOT
        assert b.stats().compilations_dispatched == 0  # loaded, not compiled


def test_identity_fingerprint_is_stable() -> None:
    """Store file names carry it: the same identity must keep the same name across versions."""
    identity = EngineIdentity(
        3, "22.1.0", "0.50.0", "x86_64-unknown-linux-gnu", "znver3", "+sse2,-avx512f"
    )
    assert identity_fingerprint(identity) == "57c082f0533f2c40"
    manifest = artifact_for(code_n(9), identity=identity).manifest
    assert manifest.identity == identity and manifest.key.identity == "57c082f0533f2c40"
