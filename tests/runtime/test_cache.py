"""The persistent cache by default (issue 14 item 2): where it lives, how it is switched off,
its size bound, sharing by many processes, and a stored program used on its first lookup."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, engine_identity
from pyevm_jit.runtime import (
    InterpretReason,
    JitBackend,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.config import default_store, default_store_path
from pyevm_jit.runtime.store import FileArtifactStore, StoredArtifact
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import faults


def code_n(n: int) -> bytes:
    return b"\x61" + n.to_bytes(2, "big") + b"\x50\x00"


def request(code: bytes) -> LookupRequest:
    return LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)


def fake_artifact(code: bytes, size: int = 64) -> StoredArtifact:
    key = RuntimeCacheKey(keccak(code), "cancun")
    obj = faults.fake_compiler(CompileTask(code, "cancun", DEFAULT_OPT_LEVEL, key.code_hash))
    if size > len(obj.object_bytes):
        import dataclasses

        obj = dataclasses.replace(obj, object_bytes=obj.object_bytes + b"\0" * (size - 64))
    return StoredArtifact.create(key, obj, len(code), engine_identity())


# --- where the cache lives ----------------------------------------------------------------------


def test_suite_is_hermetic() -> None:
    """conftest switches the default cache off: no test writes to the user's real cache."""
    assert os.environ.get("PYEVM_JIT_STORE", "").lower() == "off"
    assert RuntimeConfig().store is None


def test_default_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PYEVM_JIT_STORE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "pyevm-jit"
    store = RuntimeConfig().store
    assert (
        isinstance(store, FileArtifactStore) and store.directory == tmp_path / "xdg" / "pyevm-jit"
    )
    assert store.max_bytes is not None and store.max_bytes > 0
    assert not store.directory.exists()  # created on the first write, not by a config
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".cache" / "pyevm-jit"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored (XDG spec)
    assert default_store_path() == tmp_path / "home" / ".cache" / "pyevm-jit"


def test_store_variable_and_switch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYEVM_JIT_STORE", str(tmp_path / "mine"))
    store = default_store()
    assert isinstance(store, FileArtifactStore) and store.directory == tmp_path / "mine"
    for off in ("off", "OFF", "none", "0", ""):
        monkeypatch.setenv("PYEVM_JIT_STORE", off)
        assert RuntimeConfig().store is None
    explicit = FileArtifactStore(tmp_path / "explicit")
    assert RuntimeConfig(store=explicit).store is explicit
    assert RuntimeConfig(store=None).store is None


def test_store_size_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYEVM_JIT_STORE", str(tmp_path / "c"))
    monkeypatch.setenv("PYEVM_JIT_STORE_MAX_BYTES", "12345")
    store = default_store()
    assert isinstance(store, FileArtifactStore) and store.max_bytes == 12345


# --- size bound ---------------------------------------------------------------------------------


def test_least_recently_used_artifacts_are_pruned(tmp_path: Path) -> None:
    artifacts = [fake_artifact(code_n(i), size=1500) for i in range(9)]
    size = len(artifacts[0].to_bytes())
    store = FileArtifactStore(tmp_path / "c", max_bytes=6 * size)
    now = time.time()
    for age, a in zip(range(5, 0, -1), artifacts[:5], strict=True):  # artifacts[0] the oldest
        assert store.store(a)
        path = store.directory / "cancun" / a.key.file_name
        os.utime(path, (now - 1000 * age, now - 1000 * age))
    assert len(store) == 5
    assert store.load(artifacts[0].key) is not None  # used now: no longer the oldest
    for a in artifacts[5:]:
        assert store.store(a)
    assert store.size() <= 6 * size
    left = {k.code_hash for k in store.keys()}
    assert keccak(code_n(0)) in left  # recently used survives
    assert keccak(code_n(1)) not in left  # the least recently used went first
    assert keccak(code_n(8)) in left  # the newest stays


def test_explicit_store_is_unbounded_by_default(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "s")
    assert store.max_bytes is None
    for i in range(20):
        store.store(fake_artifact(code_n(i), size=2000))
    assert len(store) == 20


def test_stale_temporary_files_are_pruned(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "c", max_bytes=1 << 20)
    store.store(fake_artifact(code_n(1)))
    leftover = store.directory / "cancun" / ".tmp-123-abc"
    leftover.write_bytes(b"x" * 100)
    old = time.time() - 7200
    os.utime(leftover, (old, old))
    fresh = store.directory / "cancun" / ".tmp-456-def"
    fresh.write_bytes(b"y")
    store.prune(0 + 1 << 20)
    assert not leftover.exists() and fresh.exists() and len(store) == 1


# --- many processes -----------------------------------------------------------------------------


def _hammer(directory: str, seed: int, rounds: int, queue: multiprocessing.Queue) -> None:
    store = FileArtifactStore(directory, max_bytes=40_000)
    bad = 0
    for r in range(rounds):
        a = fake_artifact(code_n((seed * 7 + r) % 24), size=1000 + 100 * (r % 5))
        store.store(a)
        for key in store.keys():
            got = store.load(key)
            if got is None:
                continue  # pruned by someone meanwhile: fine
            if got.integrity_problem() is not None:
                bad += 1
    queue.put((bad, store.rejected))


def test_many_processes_share_one_store(tmp_path: Path) -> None:
    """Four processes writing, reading and pruning the same keys at once: no torn or mixed
    artifact is ever seen, and the bound holds."""
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    directory = str(tmp_path / "shared")
    FileArtifactStore(directory).check(write=True)
    procs = [
        context.Process(target=_hammer, args=(directory, seed, 40, queue)) for seed in range(4)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert results == [(0, 0)] * 4
    assert FileArtifactStore(directory).size() <= 40_000 + 4 * 1500


# --- the first lookup of a stored key -----------------------------------------------------------


def backend(store: FileArtifactStore, **kwargs: object) -> JitBackend:
    kwargs.setdefault(
        "tuning", RuntimeTuning(worker_count=0, hot_threshold=8, event_drain_interval=0.01)
    )
    kwargs.setdefault("compiler", faults.fake_compiler)
    config = RuntimeConfig(
        enabled=True,
        store=store,
        linker=faults.fake_linker,
        **kwargs,  # type: ignore[arg-type]
    )
    return JitBackend.new(config)


def test_jit_compilations_are_written_to_the_store(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "c", max_bytes=1 << 20)
    with backend(store, blocking=True) as b:
        d = b.lookup(request(code_n(1)))
        assert d.is_compiled and d.program is not None and d.program.kind is ProgramKind.JIT
        assert b.stats().artifacts_stored == 1
    assert [k.code_hash for k in store.keys()] == [keccak(code_n(1))]


def test_stored_program_is_used_on_its_first_lookup(tmp_path: Path) -> None:
    """No hot threshold for code compiled once: a non-blocking backend answers the very first
    lookup of a stored key with its program."""
    store = FileArtifactStore(tmp_path / "c", max_bytes=1 << 20)
    with backend(store, blocking=True) as b:
        assert b.lookup(request(code_n(2))).is_compiled
    for preload in (False, True):
        with backend(FileArtifactStore(store.directory, max_bytes=1 << 20), preload=preload) as b:
            d = b.lookup(request(code_n(2)))
            assert d.is_compiled, preload
            s = b.stats()
            assert s.lookup_hits == 1 and s.lookup_misses == 0 and s.compilations_dispatched == 0
            # a key the store lacks still waits for the hot threshold
            assert b.lookup(request(code_n(3))).reason is InterpretReason.NOT_READY


def test_artifact_written_by_another_process_is_found(tmp_path: Path) -> None:
    """A key first missed before another process stored it is found when it becomes hot."""
    store = FileArtifactStore(tmp_path / "c", max_bytes=1 << 20)
    compiled: list[bytes] = []

    def counting_compiler(task: CompileTask) -> object:
        compiled.append(task.code)
        return faults.fake_compiler(task)

    tuning = RuntimeTuning(worker_count=0, hot_threshold=2, event_drain_interval=0.01)
    with backend(store, compiler=counting_compiler, tuning=tuning) as b:
        req = request(code_n(4))
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        FileArtifactStore(store.directory).store(fake_artifact(code_n(4)))  # someone else
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.wait_idle(60)
        assert b.lookup(req).is_compiled
        assert compiled == []


def test_second_run_of_a_script_starts_native(tmp_path: Path) -> None:
    """The same script twice with the default configuration: the first run compiles (once the
    contract is hot) and stores; the second run's first call runs native code."""
    script = textwrap.dedent(
        """
        import sys
        from eth_hash.auto import keccak
        from pyevm_jit.evm.vm import jit_vm
        from pyevm_jit.runtime import JitBackend, RuntimeConfig
        from pyevm_jit.testing import differential as d
        from pyevm_jit.testing.assembler import asm
        code = asm(0, "CALLDATALOAD", 1, "ADD", 0, "MSTORE", 32, 0, "RETURN")
        backend = JitBackend.new(RuntimeConfig(enabled=True))
        vm = jit_vm(d.fork_vm("cancun"), backend)
        first = None
        for call in range(int(sys.argv[1])):
            out = d.execute(d.Scenario(code=code, calldata=call.to_bytes(32, "big")), vm)
            assert int.from_bytes(out.output, "big") == call + 1
            if first is None:
                first = backend.stats().lookup_hits
            backend.wait_idle(30)
        print(first, backend.stats().lookup_hits, backend.stats().compilations_succeeded)
        """
    )
    env = dict(os.environ, PYEVM_JIT_STORE=str(tmp_path / "cache"), PYEVM_JIT_WORKER_COUNT="0")
    runs = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", script, "12"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        runs.append(tuple(int(x) for x in out.stdout.split()))
    (first_hits1, hits1, compiled1), (first_hits2, hits2, compiled2) = runs
    assert first_hits1 == 0 and compiled1 == 1 and hits1 >= 1  # cold: interpreted until hot
    assert first_hits2 == 1 and compiled2 == 0 and hits2 == 12  # warm: native from the start
