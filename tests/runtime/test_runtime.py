"""JitBackend behaviour with stand-in compilers (no dependence on codegen correctness)."""

from __future__ import annotations

import copy
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak
from support import WAIT, code_n, fake_backend, request, wait_until

from pyevm_jit.compiler.compile import ObjectCode
from pyevm_jit.runtime import (
    AotRequest,
    CompilationEvent,
    CompileTask,
    ConfigError,
    InterpretReason,
    JitBackend,
    ProgramKind,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import FileArtifactStore
from pyevm_jit.testing import faults


class Gate:
    """An in-process compiler that waits for `open()` before compiling (worker_count=0)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, task: CompileTask) -> ObjectCode:
        self.entered.release()
        self.event.wait()
        return faults.fake_compiler(task)

    def open(self) -> None:
        self.event.set()


@pytest.fixture
def backend() -> Iterator[JitBackend]:
    tuning = RuntimeTuning(worker_count=0, event_drain_interval=0.01, hot_threshold=3)
    with fake_backend(tuning=tuning) as b:
        yield b


# --- disabled / enabling ------------------------------------------------------------------------


def test_disabled_backend_answers_disabled_and_spawns_nothing() -> None:
    before = {t.name for t in threading.enumerate()}
    b = JitBackend.disabled()
    req = request(code_n(1))
    for _ in range(3):
        assert b.lookup(req).reason is InterpretReason.DISABLED
        assert b.lookup_blocking(req).reason is InterpretReason.DISABLED
    b.compile_jit(req)
    assert b.compile_jit_sync(req) is False
    b.prepare_aot(AotRequest(req.key.code_hash, req.code, "cancun"))
    assert {t.name for t in threading.enumerate()} == before
    s = b.stats()
    assert not s.enabled
    assert s.misses_by_reason["Disabled"] == 6 and s.lookup_misses == 6 and s.lookup_hits == 0
    assert s.commands_dropped == 2 and s.compilations_dispatched == 0
    b.close()


def test_set_enabled_starts_lazily_and_can_switch_off() -> None:
    config = RuntimeConfig(
        enabled=False,
        blocking=True,
        compiler=faults.fake_compiler,
        linker=faults.fake_linker,
        store=None,
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=0),
    )
    with JitBackend.new(config) as b:
        req = request(code_n(2))
        assert b.lookup(req).reason is InterpretReason.DISABLED
        b.set_enabled(True)
        assert b.lookup(req).is_compiled
        b.set_enabled(False)
        assert b.lookup(req).reason is InterpretReason.DISABLED
        b.set_enabled(True)
        assert b.lookup(req).is_compiled
        assert b.stats().compilations_dispatched == 1


# --- non-blocking lookups and promotion ---------------------------------------------------------


def test_promotion_at_hot_threshold(backend: JitBackend) -> None:
    req = request(code_n(3))
    for _ in range(2):
        assert backend.lookup(req).reason is InterpretReason.NOT_READY
    assert backend.wait_idle(WAIT)
    s = backend.stats()
    assert s.compilations_dispatched == 0 and s.resident_entries == 0  # below the threshold
    assert backend.lookup(req).reason is InterpretReason.NOT_READY  # the third miss promotes
    wait_until(lambda: backend.get_compiled(req.key.code_hash, "cancun") is not None)
    decision = backend.lookup(req)
    assert decision.is_compiled and decision.program is not None
    assert decision.program.kind is ProgramKind.JIT
    s = backend.stats()
    assert s.compilations_dispatched == 1 and s.compilations_succeeded == 1
    assert s.misses_by_reason["NotReady"] == 3 and s.lookup_hits == 1
    assert s.lookup_hits + s.lookup_misses == 4


def test_keys_are_per_fork(backend: JitBackend) -> None:
    code = code_n(4)
    cancun = request(code, "cancun")
    assert backend.compile_jit_sync(cancun)
    assert backend.lookup(cancun).is_compiled
    assert backend.lookup(request(code, "shanghai")).reason is InterpretReason.NOT_READY
    assert backend.get_compiled(cancun.key.code_hash, "shanghai") is None


def test_ineligible_and_failed_reasons(backend: JitBackend) -> None:
    assert backend.lookup(request(b"")).reason is InterpretReason.INELIGIBLE
    assert backend.lookup(request(b"\x00" * 24577)).reason is InterpretReason.INELIGIBLE
    bad = request(faults.RAISE_MARKER)
    backend.compile_jit_sync(bad)
    for _ in range(5):
        assert backend.lookup(bad).reason is InterpretReason.JIT_FAILED
    assert backend.wait_idle(WAIT)
    s = backend.stats()
    assert s.compilations_dispatched == 1  # never recompiled
    assert s.misses_by_reason == {"Disabled": 0, "Ineligible": 2, "NotReady": 0, "JitFailed": 5}
    assert s.failed_entries == 1


def test_max_bytecode_len_is_a_tuning_field() -> None:
    tuning = RuntimeTuning(worker_count=0, max_bytecode_len=10)
    with fake_backend(blocking=True, tuning=tuning) as b:
        assert b.lookup(request(b"\x5b" * 11)).reason is InterpretReason.INELIGIBLE
        assert b.lookup(request(b"\x5b" * 10)).is_compiled


def test_event_queue_overflow_is_counted() -> None:
    tuning = RuntimeTuning(
        worker_count=0, event_queue_capacity=4, event_drain_interval=3600, hot_threshold=1000
    )
    with fake_backend(tuning=tuning) as b:
        for n in range(10):
            assert b.lookup(request(code_n(n))).reason is InterpretReason.NOT_READY
        s = b.stats()
        assert s.events_dropped == 6 and s.events_queued == 4
        assert s.misses_by_reason["NotReady"] == 10


def test_get_compiled_and_tracked(backend: JitBackend) -> None:
    req = request(code_n(5))
    assert backend.get_compiled(req.key.code_hash, "cancun") is None
    assert backend.get_compiled_tracked(req.key.code_hash, "cancun") is None
    assert backend.stats().lookup_misses == 1
    assert backend.compile_jit_sync(req)
    program = backend.get_compiled(req.key.code_hash, "cancun")
    assert program is not None and program.key == req.key
    assert backend.stats().lookup_hits == 0  # untracked
    assert backend.get_compiled_tracked(req.key.code_hash, "cancun") is program
    assert backend.stats().lookup_hits == 1


def test_compile_jit_enqueues(backend: JitBackend) -> None:
    reqs = [request(code_n(n)) for n in range(10, 15)]
    for req in reqs:
        backend.compile_jit(req)
    assert backend.wait_idle(WAIT)
    assert all(backend.lookup(r).is_compiled for r in reqs)
    assert backend.stats().compilations_succeeded == 5


def test_prepare_aot_without_store_makes_aot_programs_resident(backend: JitBackend) -> None:
    reqs = [AotRequest(keccak(code_n(n)), code_n(n), "cancun") for n in range(20, 23)]
    backend.prepare_aot_batch(reqs)
    assert backend.wait_idle(WAIT)
    for r in reqs:
        program = backend.get_compiled(r.code_hash, "cancun")
        assert program is not None and program.kind is ProgramKind.AOT


def test_pending_job_limit_holds() -> None:
    gate = Gate()
    tuning = RuntimeTuning(worker_count=0, max_pending_jobs=2, event_drain_interval=0.01)
    with fake_backend(compiler=gate, tuning=tuning) as b:
        for n in range(5):
            b.compile_jit(request(code_n(30 + n)))
        wait_until(lambda: b.stats().commands_queued == 0 and b.stats().commands_dropped == 3)
        assert b.stats().pending_jobs == 2
        gate.open()
        assert b.wait_idle(WAIT)
        s = b.stats()
        assert s.compilations_succeeded == 2 and s.resident_entries == 2


# --- sharing, closing ---------------------------------------------------------------------------


def test_copies_share_state(backend: JitBackend) -> None:
    clone = copy.copy(backend)
    assert clone is not backend
    req = request(code_n(40))
    assert clone.compile_jit_sync(req)
    assert backend.lookup(req).is_compiled
    assert clone.stats().lookup_hits == 1
    assert copy.deepcopy(backend).stats().resident_entries == 1
    clone.close()
    assert backend.lookup(req).reason is InterpretReason.DISABLED


def test_close_is_idempotent_and_stops_thread() -> None:
    b = fake_backend(thread_name="pyevm-jit-close-test")
    assert any(t.name == "pyevm-jit-close-test" for t in threading.enumerate())
    b.close()
    b.close()
    assert not any(t.name == "pyevm-jit-close-test" for t in threading.enumerate())
    with pytest.raises(Exception, match="closed"):
        b.set_enabled(True)


def test_last_handle_garbage_collected_shuts_down() -> None:
    b = fake_backend(thread_name="pyevm-jit-gc-test")
    clone = copy.copy(b)
    del b
    gc.collect()
    assert clone.lookup(request(code_n(42))).reason is InterpretReason.NOT_READY  # still alive
    del clone
    gc.collect()
    wait_until(lambda: not any(t.name == "pyevm-jit-gc-test" for t in threading.enumerate()))


def test_blocking_waiters_released_on_close() -> None:
    gate = Gate()
    b = fake_backend(compiler=gate, blocking=True)
    answers: list[Any] = []
    t = threading.Thread(target=lambda: answers.append(b.lookup(request(code_n(41)))))
    t.start()
    gate.entered.acquire(timeout=WAIT)
    b.close()
    t.join(WAIT)
    gate.open()
    assert not t.is_alive()
    assert answers and not answers[0].is_compiled


# --- clear, generation, lifetime ----------------------------------------------------------------


def test_clear_resident_forgets_programs_and_failures(backend: JitBackend) -> None:
    good, bad = request(code_n(50)), request(faults.RAISE_MARKER + b"\x01")
    backend.compile_jit_sync(good)
    backend.compile_jit_sync(bad)
    assert backend.lookup(bad).reason is InterpretReason.JIT_FAILED
    gen = backend.stats().generation
    backend.clear_resident()
    s = backend.stats()
    assert s.generation == gen + 1 and s.resident_entries == 0 and s.failed_entries == 0
    assert s.resident_code_bytes == 0
    assert backend.lookup(good).reason is InterpretReason.NOT_READY


def test_clear_during_compilation_discards_result() -> None:
    gate = Gate()
    with fake_backend(compiler=gate) as b:
        req = request(code_n(51))
        b.compile_jit(req)
        assert gate.entered.acquire(timeout=WAIT)
        b.clear_resident()
        gate.open()
        assert b.wait_idle(WAIT)
        s = b.stats()
        assert s.compilations_discarded == 1 and s.resident_entries == 0
        assert b.get_compiled(req.key.code_hash, "cancun") is None
        # and the key can be compiled again afterwards
        assert b.compile_jit_sync(req)


def test_program_in_use_survives_clear_and_is_freed_after() -> None:
    with fake_backend(blocking=True) as b:
        decision = b.lookup(request(code_n(52)))
        program = decision.program
        assert program is not None
        native_ref = weakref.ref(program.native)
        with b.hold(program):
            assert b.stats().programs_in_use == 1
            b.clear_resident()
            gc.collect()
            assert native_ref() is not None  # still owned by the running frame
        assert b.stats().programs_in_use == 0
        del decision, program
        gc.collect()
        assert native_ref() is None  # the map no longer keeps it


# --- eviction -----------------------------------------------------------------------------------


def test_lru_eviction_by_resident_budget() -> None:
    # fake objects of small contracts are 64 bytes: room for two
    tuning = RuntimeTuning(worker_count=0, resident_code_budget=128)
    with fake_backend(blocking=True, tuning=tuning) as b:
        a, bb, c = request(code_n(60)), request(code_n(61)), request(code_n(62))
        assert b.lookup(a).is_compiled and b.lookup(bb).is_compiled
        assert b.lookup(a).is_compiled  # a is now more recent than bb
        assert b.lookup(c).is_compiled
        assert b.get_compiled(bb.key.code_hash, "cancun") is None
        assert b.get_compiled(a.key.code_hash, "cancun") is not None
        s = b.stats()
        assert s.evictions == 1 and s.resident_entries == 2 and s.resident_code_bytes == 128


def test_budget_holds_under_a_stream_of_contracts() -> None:
    """10,000 distinct compilations: the resident map and every other table stay bounded."""
    tuning = RuntimeTuning(worker_count=0, resident_code_budget=64 * 10)
    with fake_backend(blocking=True, tuning=tuning) as b:
        for n in range(10_000):
            code = b"\x62" + n.to_bytes(3, "big") + b"\x00"
            assert b.lookup(request(code)).is_compiled
            if n % 500 == 0:
                assert b.stats().resident_code_bytes <= 64 * 10
        s = b.stats()
        assert s.resident_entries == 10 and s.evictions == 9_990
        assert s.resident_code_bytes == 640 and s.pending_jobs == 0 and s.failed_entries == 0
        assert s.compilations_succeeded == 10_000


def test_program_larger_than_budget_is_not_kept() -> None:
    tuning = RuntimeTuning(worker_count=0, resident_code_budget=32)
    with fake_backend(blocking=True, tuning=tuning) as b:
        req = request(code_n(63))
        b.lookup(req)
        assert b.stats().resident_code_bytes == 0
        assert b.lookup(req).reason is InterpretReason.JIT_FAILED


def test_idle_eviction() -> None:
    tuning = RuntimeTuning(
        worker_count=0, idle_evict_after=0.05, idle_sweep_interval=0.01, event_drain_interval=0.01
    )
    with fake_backend(blocking=True, tuning=tuning) as b:
        req = request(code_n(64))
        assert b.lookup(req).is_compiled
        wait_until(lambda: b.stats().resident_entries == 0)
        s = b.stats()
        assert s.idle_evictions == 1 and s.evictions == 1


# --- callbacks, dumps ---------------------------------------------------------------------------


def test_on_compilation_reports_success_and_failure() -> None:
    seen: list[CompilationEvent] = []
    with fake_backend(blocking=True, on_compilation=seen.append) as b:
        ok, bad = request(code_n(70)), request(faults.RAISE_MARKER + b"\x02")
        b.lookup(ok)
        b.lookup(bad)
    assert [(e.key, e.kind, e.success) for e in seen] == [
        (ok.key, ProgramKind.JIT, True),
        (bad.key, ProgramKind.JIT, False),
    ]
    good = seen[0]
    assert (good.translate, good.optimise, good.codegen) == (0.001, 0.002, 0.003)
    assert good.duration >= 0 and good.error is None and good.object_len == 64
    assert seen[1].error is not None and "injected" in seen[1].error


def test_callback_exception_does_not_break_compilation() -> None:
    def explode(event: CompilationEvent) -> None:
        raise ValueError("callback bug")

    with fake_backend(blocking=True, on_compilation=explode) as b:
        assert b.lookup(request(code_n(71))).is_compiled


def test_dump_dir(tmp_path: Path) -> None:
    with fake_backend(blocking=True, dump_dir=tmp_path) as b:
        req = request(code_n(72))
        assert b.lookup(req).is_compiled
    folder = tmp_path / "cancun" / req.key.code_hash.hex()
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["bytecode.hex", "opt.ll", "program.o", "program.s", "unopt.ll"]
    assert (folder / "bytecode.hex").read_text().strip() == req.code.hex()
    assert (folder / "unopt.ll").read_text() == "; fake ir\n"


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_lookups_with_clears_and_evictions() -> None:
    tuning = RuntimeTuning(
        worker_count=0, hot_threshold=2, event_drain_interval=0.005, resident_code_budget=64 * 8
    )
    with fake_backend(tuning=tuning) as b:
        reqs = [request(code_n(200 + n)) for n in range(32)]
        errors: list[BaseException] = []
        per_thread = 3000
        hits = [0] * 6
        lookups = [0] * 6
        storm_over = threading.Event()

        def worker(i: int) -> None:
            try:
                j = 0
                # the storm, then on until this thread has been served native code since it
                # ended (the runtime keeps compiling, evicting and serving through clears)
                served_after_storm = False
                deadline = time.monotonic() + WAIT
                while j < per_thread or not served_after_storm:
                    after_storm = storm_over.is_set()
                    decision = b.lookup(reqs[(i * 7 + j) % len(reqs)])
                    lookups[i] += 1
                    j += 1
                    if decision.is_compiled:
                        assert decision.program is not None
                        assert decision.program.native.code_size == 64
                        hits[i] += 1
                        served_after_storm = served_after_storm or after_storm
                    else:
                        assert decision.reason is InterpretReason.NOT_READY
                    assert time.monotonic() < deadline, "never served after the storm"
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        def clearer() -> None:
            for _ in range(20):
                b.clear_resident()
                time.sleep(0.002)
            storm_over.set()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        threads.append(threading.Thread(target=clearer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert not any(t.is_alive() for t in threads)
        assert not errors
        s = b.stats()
        assert s.lookup_hits + s.lookup_misses == sum(lookups)
        assert s.lookup_hits == sum(hits)
        assert all(h > 0 for h in hits)  # every thread was served native code
        assert s.resident_code_bytes <= 64 * 8


# --- configuration ------------------------------------------------------------------------------


def test_defaults_follow_the_reference() -> None:
    t = RuntimeTuning()
    assert t.channel_capacity == 4096 and t.events_per_wakeup == 4096
    assert t.event_drain_interval == 0.1 and t.shutdown_timeout == 5.0
    assert t.hot_threshold == 8 and t.max_bytecode_len == 24576
    assert t.max_pending_jobs == 2048 and 1 <= t.worker_count <= 4
    assert t.resident_code_budget == 1 << 30
    assert t.idle_evict_after == 600.0 and t.idle_sweep_interval == 60.0
    assert t.recycle_after == 1000
    c = RuntimeConfig()
    assert not c.enabled and not c.blocking and not c.aot and c.store is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYEVM_JIT_HOT_THRESHOLD", "3")
    monkeypatch.setenv("PYEVM_JIT_ENABLED", "yes")
    monkeypatch.setenv("PYEVM_JIT_EVENT_DRAIN_INTERVAL", "0.5")
    monkeypatch.setenv("PYEVM_JIT_DUMP_DIR", str(tmp_path))
    monkeypatch.setenv("PYEVM_JIT_STORE", str(tmp_path / "store"))
    assert RuntimeTuning().hot_threshold == 3
    assert RuntimeTuning(hot_threshold=5).hot_threshold == 5  # explicit wins
    assert RuntimeTuning().event_drain_interval == 0.5
    config = RuntimeConfig.from_env(blocking=True)
    assert config.enabled and config.blocking and config.dump_dir == tmp_path
    assert isinstance(config.store, FileArtifactStore)
    assert config.store.directory == tmp_path / "store"
    monkeypatch.setenv("PYEVM_JIT_HOT_THRESHOLD", "many")
    with pytest.raises(ConfigError, match="PYEVM_JIT_HOT_THRESHOLD"):
        RuntimeTuning()
    monkeypatch.setenv("PYEVM_JIT_HOT_THRESHOLD", "-1")
    with pytest.raises(ConfigError):
        RuntimeTuning()
    monkeypatch.delenv("PYEVM_JIT_HOT_THRESHOLD")
    monkeypatch.setenv("PYEVM_JIT_ENABLED", "perhaps")
    with pytest.raises(ConfigError, match="boolean"):
        RuntimeConfig()


def test_should_compile() -> None:
    t = RuntimeTuning(max_bytecode_len=4)
    assert not t.should_compile(b"")
    assert t.should_compile(b"\x00" * 4)
    assert not t.should_compile(b"\x00" * 5)


def test_compiler_returning_garbage_is_jit_failed() -> None:
    def garbage(task: CompileTask) -> ObjectCode:
        return "not object code"  # type: ignore[return-value]

    with fake_backend(blocking=True, compiler=garbage) as b:
        req = request(code_n(73))
        assert b.lookup(req).reason is InterpretReason.JIT_FAILED
        reason = b.failure_reason(req.key.code_hash, "cancun")
        assert reason is not None and "link failed" in reason


def test_forked_child_sees_a_disabled_backend() -> None:
    import os

    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    with fake_backend(blocking=True) as b:
        assert b.lookup(request(code_n(74))).is_compiled
        pid = os.fork()
        if pid == 0:  # child: must answer at once, never wait for the parent's threads
            ok = b.lookup(request(code_n(75))).reason is InterpretReason.DISABLED
            ok = ok and b.stats().enabled is False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert b.lookup(request(code_n(75))).is_compiled  # the parent is unaffected


def test_promote_hot_off_never_compiles_misses() -> None:
    tuning = RuntimeTuning(worker_count=0, hot_threshold=1, event_drain_interval=0.01)
    with fake_backend(promote_hot=False, tuning=tuning) as b:
        req = request(code_n(76))
        for _ in range(5):
            assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.wait_idle(WAIT)
        assert b.stats().compilations_dispatched == 0
        assert b.compile_jit_sync(req)  # explicit requests still compile
        assert b.lookup(req).is_compiled
