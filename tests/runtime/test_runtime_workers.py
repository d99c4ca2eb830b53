"""Worker processes: a compiler that raises, hangs or crashes fails its job only; a worker
that dies (idle or busy) is replaced and its job retried once; a timeout counts from a ready
worker; a worker whose parent has gone exits quietly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from support import WAIT, fake_backend, request, wait_until

from pyevm_jit.runtime import (
    InterpretReason,
    JitBackend,
    LookupDecision,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.children import PARENT_VARIABLE, child_command, child_environment
from pyevm_jit.runtime.workers import CompileFailure, CompileTask, ProcessPool
from pyevm_jit.testing import faults

REPO = Path(__file__).resolve().parents[2]


def one_worker_backend(
    compiler: Callable[[CompileTask], object] = faults.fault_compiler, timeout: float = 2.0
) -> JitBackend:
    """A blocking backend on one worker process with the fault-injecting compiler. The compile
    timeout counts from the moment the worker is ready, so it need not allow for start-up."""
    return fake_backend(
        blocking=True,
        compiler=compiler,
        tuning=RuntimeTuning(worker_count=1, compile_timeout=timeout),
    )


@pytest.fixture(scope="module")
def backend() -> Iterator[JitBackend]:
    with one_worker_backend() as b:
        yield b


def _pool(backend: JitBackend) -> ProcessPool:
    pool = backend._inner.pool
    assert isinstance(pool, ProcessPool)
    return pool


@pytest.mark.parametrize(
    ("marker", "answer", "reason_text", "crashes", "timeouts"),
    [
        (faults.RAISE_MARKER, InterpretReason.JIT_FAILED, "injected compiler failure", 0, 0),
        # a crash the compilation causes happens again on the fresh worker: then it is failed
        (faults.CRASH_MARKER, InterpretReason.JIT_FAILED, "worker died twice", 2, 0),
        (faults.EXIT_MARKER, InterpretReason.JIT_FAILED, "died twice (exit codes 3, 3)", 2, 0),
        # over its time: interpreted from then on, counted Ineligible
        (faults.HANG_MARKER, InterpretReason.INELIGIBLE, "timed out", 0, 1),
    ],
)
def test_fault_fails_that_job_only(
    backend: JitBackend,
    marker: bytes,
    answer: InterpretReason,
    reason_text: str,
    crashes: int,
    timeouts: int,
) -> None:
    before = backend.stats()
    bad = request(marker + b"\x00")
    assert backend.lookup(bad).reason is answer
    if answer is InterpretReason.JIT_FAILED:
        reason = backend.failure_reason(bad.key.code_hash, "cancun")
    else:
        reason = backend.ineligible_reason(bad.key.code_hash, "cancun")
    assert reason is not None and reason_text in reason
    # remembered: no second attempt
    assert backend.lookup(bad).reason is answer
    # and the pool still works for everybody else
    good = request(b"\x5b" + marker + b"\x00")
    assert backend.lookup(good).is_compiled
    after = backend.stats()
    assert after.compilations_dispatched - before.compilations_dispatched == 2
    assert after.compilations_failed - before.compilations_failed == 1
    assert after.worker_crashes - before.worker_crashes == crashes
    assert after.worker_timeouts - before.worker_timeouts == timeouts


@pytest.mark.parametrize("noticed", [True, False], ids=["noticed", "unnoticed"])
def test_dead_idle_worker_is_replaced(noticed: bool) -> None:
    """An idle worker killed (the OOM killer, kill -9): the next contract compiles on a fresh
    worker, whether the pool saw the death first or finds it when it sends the job."""
    with one_worker_backend(timeout=WAIT) as b:
        assert b.lookup(request(b"\x01\x00")).is_compiled
        pool = _pool(b)
        (worker,) = pool._workers
        os.kill(worker.process.popen.pid, signal.SIGKILL)
        worker.process.popen.wait(WAIT)
        if noticed:
            wait_until(lambda: not pool._workers)
        req = request(b"\x02\x00")
        assert b.lookup(req).is_compiled
        assert b.failure_reason(req.key.code_hash, "cancun") is None
        assert b.stats().worker_crashes == 1


def test_dead_busy_worker_job_is_retried_once(tmp_path: Path) -> None:
    """A worker killed while it compiles: the job runs again on a fresh worker and succeeds."""
    gate = tmp_path / "gate"
    req = request(faults.GATE_MARKER + str(gate).encode())
    with one_worker_backend(timeout=WAIT) as b:
        pool = _pool(b)
        answer: list[LookupDecision] = []
        caller = threading.Thread(target=lambda: answer.append(b.lookup(req)))
        caller.start()
        wait_until((tmp_path / "gate.started").exists)  # compiling, not starting up
        (busy,) = pool._workers
        os.kill(busy.process.popen.pid, signal.SIGKILL)
        wait_until(lambda: busy not in pool._workers)
        gate.touch()  # the second attempt gets through
        caller.join(WAIT)
        assert answer and answer[0].is_compiled
        s = b.stats()
        assert s.worker_crashes == 1
        assert s.compilations_dispatched == 1 and s.compilations_failed == 0


# a compiler that worker processes cannot import: they die before they are ready
_ghost = types.ModuleType("pyevm_jit_test_ghost_compiler")


def _ghost_compiler(task: CompileTask) -> object:  # pragma: no cover - never runs
    return faults.fake_compiler(task)


_ghost_compiler.__module__ = _ghost.__name__
_ghost.compile = _ghost_compiler  # type: ignore[attr-defined]
_ghost_compiler.__qualname__ = "compile"
sys.modules[_ghost.__name__] = _ghost


def test_worker_that_cannot_start_is_not_the_contracts_fault() -> None:
    """Workers that die starting up fail the job without remembering the key: nothing is known
    to be wrong with the contract, and its next miss tries again."""
    with one_worker_backend(_ghost_compiler) as b:
        req = request(b"\x03\x00")
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.failure_reason(req.key.code_hash, "cancun") is None
        assert b.lookup(req).reason is InterpretReason.NOT_READY
        assert b.stats().compilations_dispatched == 2  # tried again


def test_timeout_counts_from_a_ready_worker() -> None:
    """Workers that take longer to start than the timeout (a loaded machine): jobs still
    finish, since the clock starts when the worker is ready."""
    pool = ProcessPool(faults.slow_start_compiler, 1, timeout=faults.SLOW_START_SECONDS / 2)
    try:
        code = b"\x04\x00"
        result = pool.submit(CompileTask(code, "cancun", 1, keccak(code))).result(timeout=WAIT)
        assert result.object_bytes.startswith(b"FAKEOBJ:")
        assert pool.timeouts == 0
    finally:
        pool.shutdown(5.0)


def test_worker_that_never_gets_ready_fails_its_job_as_transient() -> None:
    """A worker stuck starting up is killed after the start-up limit; its job fails without
    blaming the contract."""
    pool = ProcessPool(
        faults.slow_start_compiler,
        1,
        timeout=WAIT,
        startup_timeout=faults.SLOW_START_SECONDS / 2,
    )
    try:
        code = b"\x04\x01"
        fut = pool.submit(CompileTask(code, "cancun", 1, keccak(code)))
        with pytest.raises(CompileFailure, match="not ready") as failure:
            fut.result(timeout=WAIT)
        assert failure.value.transient
        assert pool.timeouts == 0
    finally:
        pool.shutdown(5.0)


def test_worker_exits_quietly_when_its_parent_is_gone() -> None:
    """The parent went away (Ctrl-C during `--jobs 2` killed it): the worker's reply finds a
    broken pipe, and the worker exits without a traceback."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    worker = subprocess.Popen(
        child_command("pyevm_jit.runtime.workers", str(to_child_r), str(from_child_w)),
        pass_fds=(to_child_r, from_child_w),
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    os.close(from_child_r)  # nobody will read the worker's replies
    import multiprocessing.connection

    writer = multiprocessing.connection.Connection(to_child_w, readable=False)
    code = b"\x05\x00"
    writer.send(faults.fake_compiler)
    writer.send(CompileTask(code, "cancun", 1, keccak(code)))
    _out, err = worker.communicate(timeout=WAIT)
    writer.close()
    assert worker.returncode == 0
    assert "Traceback" not in err and "BrokenPipeError" not in err


def test_child_whose_parent_ended_before_it_started_exits_at_once() -> None:
    """A Ctrl-C while a child is being launched: the parent ends before the child's launcher
    runs, so the child is re-parented before it could ask for its parent. The launcher takes
    the parent's pid from the environment the parent wrote and exits (here the pid written is
    not the real parent's: without that check the child would run its module for a minute)."""
    env = {**child_environment(), PARENT_VARIABLE: "1"}
    child = subprocess.Popen(
        child_command("timeit", "-n", "1", "-r", "1", "import time; time.sleep(60)"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert "Traceback" not in err


def test_workers_do_not_get_the_terminals_ctrl_c() -> None:
    """Workers run in a session of their own: a Ctrl-C at the terminal reaches the parent (which
    shuts them down), never a worker starting up, which would print a KeyboardInterrupt."""
    pool = ProcessPool(faults.fake_compiler, 1)
    try:
        code = b"\x06\x00"
        pool.submit(CompileTask(code, "cancun", 1, keccak(code))).result(timeout=WAIT)
        (worker,) = pool._workers
        assert os.getpgid(worker.process.pid) != os.getpgid(0)
    finally:
        pool.shutdown(5.0)


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
        assert pool.crashes == 2  # the crashing job, and its retry
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


def _fake_package_in(folder: Path) -> None:
    """A `pyevm_jit` folder that ends any process importing it (exit status 97)."""
    (folder / "pyevm_jit").mkdir()
    (folder / "pyevm_jit" / "__init__.py").write_text("raise SystemExit(97)\n")


@pytest.mark.parametrize("safe_path_flag", [True, False], ids=["-P", "3.10-bootstrap"])
def test_child_command_does_not_import_from_the_working_directory(
    tmp_path: Path, safe_path_flag: bool
) -> None:
    """`python -m` puts the working directory first on `sys.path`; the command the workers
    are started with (either form) imports the parent's package instead of a `pyevm_jit`
    folder there, and passes its arguments on."""
    import pyevm_jit
    from pyevm_jit.runtime.children import child_environment, python_module_command

    cwd = tmp_path / "cwd"
    lib = tmp_path / "lib"
    cwd.mkdir()
    lib.mkdir()
    _fake_package_in(cwd)
    (lib / "probe_mod.py").write_text(
        "import sys\nimport pyevm_jit\nprint(pyevm_jit.__file__)\nprint(sys.argv[1:])\n"
    )
    env = child_environment()
    env["PYTHONPATH"] = str(lib) + os.pathsep + env["PYTHONPATH"]
    plain = subprocess.run(
        [sys.executable, "-m", "probe_mod"], cwd=cwd, env=env, capture_output=True, timeout=WAIT
    )
    assert plain.returncode == 97  # the risk is real: plain -m imports the fake
    cmd = python_module_command("probe_mod", "a", "b", safe_path_flag=safe_path_flag)
    safe = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=WAIT)
    assert safe.returncode == 0, safe.stderr
    assert safe.stdout.splitlines() == [pyevm_jit.__file__, "['a', 'b']"]


def test_worker_started_in_a_folder_with_a_fake_package_compiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compile worker started while the working directory holds a `pyevm_jit` folder still
    imports the real package (it did not start at all before)."""
    _fake_package_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    pool = ProcessPool(faults.fault_compiler, 1, timeout=WAIT)
    try:
        code = b"\x04\x02"
        result = pool.submit(CompileTask(code, "cancun", 1, keccak(code))).result(timeout=WAIT)
        assert result.object_bytes.startswith(b"FAKEOBJ:")
    finally:
        pool.shutdown(5.0)


def test_worker_warm_up_starts_the_compiler_at_both_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before a worker reports ready it compiles once at the first tier's and the tier-up's
    level, so the target machines those jobs use exist and the first job's time is its own."""
    from pyevm_jit.compiler import compile as compile_module
    from pyevm_jit.compiler import target
    from pyevm_jit.runtime.workers import tasks

    compiled: list[tuple[bytes, str, int]] = []
    real = compile_module.compile_object

    def record(code: bytes, fork: str, opt_level: int = 1, **kwargs: object) -> object:
        compiled.append((code, fork, opt_level))
        return real(code, fork, opt_level)

    monkeypatch.setattr(compile_module, "compile_object", record)
    monkeypatch.setattr(target, "_tm_cache", {})
    tasks._warm_up_default_compiler()
    levels = [target.DEFAULT_OPT_LEVEL, target.TIER_UP_OPT_LEVEL]
    assert compiled == [(compile_module.START_UP_CODE, "frontier", level) for level in levels]
    # the machine-code levels those compilations use, and no other
    assert set(target._tm_cache) == {target._levels(level)[1] for level in levels}
