"""Worker processes: a compiler that raises, hangs, crashes or exits fails its job only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from support import request

from pyevm_jit.runtime import (
    InterpretReason,
    JitBackend,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.workers import CompileFailure, CompileTask, ProcessPool
from pyevm_jit.testing import faults

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def backend() -> Iterator[JitBackend]:
    """One worker process, a short compile timeout (long enough for a worker to start on a
    loaded machine: it counts from dispatch), the fault-injecting compiler."""
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        compiler=faults.fault_compiler,
        linker=faults.fake_linker,
        store=None,
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=1, compile_timeout=8.0),
    )
    with JitBackend.new(config) as b:
        yield b


@pytest.mark.parametrize(
    ("marker", "reason_text"),
    [
        (faults.RAISE_MARKER, "injected compiler failure"),
        (faults.CRASH_MARKER, "worker died"),
        (faults.EXIT_MARKER, "worker died (exit code 3)"),
        (faults.HANG_MARKER, "timed out"),
    ],
)
def test_fault_fails_that_job_only(backend: JitBackend, marker: bytes, reason_text: str) -> None:
    before = backend.stats()
    bad = request(marker + b"\x00")
    assert backend.lookup(bad).reason is InterpretReason.JIT_FAILED
    reason = backend.failure_reason(bad.key.code_hash, "cancun")
    assert reason is not None and reason_text in reason
    # remembered: no second attempt
    assert backend.lookup(bad).reason is InterpretReason.JIT_FAILED
    # and the pool still works for everybody else
    good = request(b"\x5b" + marker + b"\x00")
    assert backend.lookup(good).is_compiled
    after = backend.stats()
    assert after.compilations_dispatched - before.compilations_dispatched == 2
    assert after.compilations_failed - before.compilations_failed == 1
    crashed = marker in (faults.CRASH_MARKER, faults.EXIT_MARKER)
    assert after.worker_crashes - before.worker_crashes == (1 if crashed else 0)
    timed_out = marker == faults.HANG_MARKER
    assert after.worker_timeouts - before.worker_timeouts == (1 if timed_out else 0)


def test_parallel_workers_attribute_crashes_exactly() -> None:
    pool = ProcessPool(faults.fault_compiler, 2, timeout=30.0)
    try:
        tasks = [
            CompileTask(code, "cancun", 2, keccak(code))
            for code in (
                faults.SLOW_MARKER + b"\x01",
                faults.CRASH_MARKER,
                faults.SLOW_MARKER + b"\x02",
                b"\x00",
            )
        ]
        futures = [pool.submit(t) for t in tasks]
        outcomes = []
        for fut in futures:
            try:
                fut.result(timeout=60)
                outcomes.append("ok")
            except CompileFailure:
                outcomes.append("failed")
        assert outcomes == ["ok", "failed", "ok", "ok"]
        assert pool.crashes == 1
    finally:
        pool.shutdown(5.0)


def test_workers_are_recycled() -> None:
    pool = ProcessPool(faults.fake_compiler, 1, recycle_after=2)
    try:
        pids: set[int] = set()
        for n in range(5):
            code = bytes([n])
            pool.submit(CompileTask(code, "cancun", 2, keccak(code))).result(timeout=60)
            pids.update(w.process.popen.pid for w in pool._workers)
        assert len(pids) >= 2
    finally:
        pool.shutdown(5.0)


def test_unclosed_backend_never_hangs_exit() -> None:
    """A worker stuck in a compilation and a backend nobody closes: the process still exits."""
    script = textwrap.dedent(
        """
        import threading
        from eth_hash.auto import keccak
        from pyevm_jit.runtime import (
            JitBackend, LookupRequest, RuntimeCacheKey, RuntimeConfig, RuntimeTuning,
        )
        from pyevm_jit.testing import faults
        code = faults.HANG_MARKER
        b = JitBackend.new(RuntimeConfig(
            enabled=True, compiler=faults.fault_compiler, linker=faults.fake_linker,
            tuning=RuntimeTuning(worker_count=1, hot_threshold=1, event_drain_interval=0.01,
                                 compile_timeout=0),
        ))
        b.compile_jit(LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code))
        import time
        deadline = time.monotonic() + 60
        while b.stats().pending_jobs == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        print("pending", b.stats().pending_jobs, flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "pending 1" in result.stdout


def test_many_threads_blocking_on_two_workers_with_crashes_and_clears() -> None:
    import threading

    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        compiler=faults.fault_compiler,
        linker=faults.fake_linker,
        store=None,
        dump_dir=None,
        tuning=RuntimeTuning(worker_count=2, compile_timeout=30.0),
    )
    good = [request(b"\x61" + n.to_bytes(2, "big") + b"\x00") for n in range(12)]
    bad = [request(faults.CRASH_MARKER + bytes([n])) for n in range(2)]
    bad += [request(faults.RAISE_MARKER + bytes([n])) for n in range(2)]
    errors: list[BaseException] = []
    answers: list[tuple[bool, bool]] = []  # (expected good, compiled)
    lock = threading.Lock()
    with JitBackend.new(config) as b:

        def worker(i: int) -> None:
            try:
                for j in range(30):
                    if (i + j) % 5 == 0:
                        req, ok = bad[(i + j) % len(bad)], False
                    else:
                        req, ok = good[(i * 3 + j) % len(good)], True
                    decision = b.lookup(req)
                    with lock:
                        answers.append((ok, decision.is_compiled))
                    if not decision.is_compiled:
                        assert decision.reason in (
                            InterpretReason.JIT_FAILED,
                            InterpretReason.NOT_READY,  # a clear raced the compilation
                        )
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        def clearer() -> None:
            for _ in range(3):
                b.clear_resident()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        threads.append(threading.Thread(target=clearer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        assert not errors, errors
        assert not any(ok is False and compiled for ok, compiled in answers)  # bad never runs
        s = b.stats()
        assert s.lookup_hits + s.lookup_misses == 6 * 30
        # after the storm: every good key compiles, every bad key is JitFailed
        assert all(b.lookup(r).is_compiled for r in good)
        assert all(b.lookup(r).reason is InterpretReason.JIT_FAILED for r in bad)
