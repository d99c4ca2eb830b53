"""Tiered compilation: hot JIT programs are recompiled at the tier-up level and swapped in."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import support
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import WAIT, wait_until

from pyevm_jit import fuzz
from pyevm_jit.compiler.compile import ObjectCode
from pyevm_jit.runtime import (
    AotRequest,
    CompilationEvent,
    CompileTask,
    JitBackend,
    LookupRequest,
    ProgramKind,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import RuntimeArtifactStore
from pyevm_jit.testing import differential as d
from pyevm_jit.testing import faults
from pyevm_jit.testing.assembler import asm

CODE = b"\x60\x02\x60\x03\x01\x50\x00"  # PUSH1 2 PUSH1 3 ADD POP STOP


def request(code: bytes = CODE, fork: str = "cancun") -> LookupRequest:
    return support.request(code, fork)


def fake_backend(tier_up_after: int = 3, **kwargs: Any) -> JitBackend:
    tuning = RuntimeTuning(worker_count=0, event_drain_interval=0.01, tier_up_after=tier_up_after)
    return support.fake_backend(blocking=True, tuning=tuning, **kwargs)


def test_hot_program_is_recompiled_at_the_tier_up_level() -> None:
    events: list[CompilationEvent] = []
    with fake_backend(on_compilation=events.append) as backend:
        first = backend.lookup(request()).program
        assert first is not None and first.opt_level == 1
        for _ in range(2):  # hits 1 and 2: below the threshold of 3
            assert backend.lookup(request()).program is first
        assert backend.wait_idle(WAIT)
        assert backend.stats().tier_ups == 0
        assert backend.lookup(request()).program is first  # the third hit asks for a tier-up
        wait_until(lambda: backend.stats().tier_ups == 1)
        second = backend.lookup(request()).program
        assert second is not None and second is not first
        assert second.opt_level == 2 and second.kind is ProgramKind.JIT
        for _ in range(10):  # already at the tier-up level: no further recompilation
            backend.lookup(request())
        assert backend.wait_idle(WAIT)
        stats = backend.stats()
        assert stats.tier_ups == 1 and stats.compilations_succeeded == 2
        assert stats.resident_entries == 1
    assert [(e.opt_level, e.tier_up) for e in events] == [(1, False), (2, True)]


def test_tier_up_after_zero_disables_tiering() -> None:
    with fake_backend(tier_up_after=0) as backend:
        for _ in range(50):
            backend.lookup(request())
        assert backend.wait_idle(WAIT)
        assert backend.stats().tier_ups == 0
        assert backend.stats().compilations_dispatched == 1


def test_aot_programs_are_not_tiered_up() -> None:
    store = RuntimeArtifactStore()
    code_hash = keccak(CODE)
    with fake_backend(store=store) as backend:
        backend.prepare_aot(AotRequest(code_hash, CODE, "cancun"))
        assert backend.wait_idle(WAIT)
    with fake_backend(store=store) as backend:  # preloads the artifact
        for _ in range(20):
            program = backend.lookup(request()).program
            assert program is not None and program.kind is ProgramKind.AOT
        assert backend.wait_idle(WAIT)
        assert backend.stats().tier_ups == 0 and backend.stats().compilations_dispatched == 0


class FailAtLevel:
    """An in-process compiler that fails at one optimisation level."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, task: CompileTask) -> ObjectCode:
        if task.opt_level == self.level:
            raise RuntimeError("injected failure at the tier-up level")
        return faults.fake_compiler(task)


def test_failed_tier_up_keeps_the_working_program() -> None:
    with fake_backend(compiler=FailAtLevel(2)) as backend:
        first = backend.lookup(request()).program
        for _ in range(5):
            backend.lookup(request())
        wait_until(lambda: backend.stats().compilations_failed == 1)
        decision = backend.lookup(request())
        assert decision.program is first  # still resident, not JitFailed
        assert backend.failure_reason(keccak(CODE), "cancun") is None
        assert backend.stats().tier_ups == 0


class Gate:
    """An in-process compiler that holds tier-up compilations until `open()`."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()

    def __call__(self, task: CompileTask) -> ObjectCode:
        if task.opt_level == 2:
            self.entered.set()
            self.opened.wait(WAIT)
        return faults.fake_compiler(task)


def test_clear_during_tier_up_discards_it() -> None:
    gate = Gate()
    with fake_backend(compiler=gate) as backend:
        for _ in range(4):
            backend.lookup(request())
        assert gate.entered.wait(WAIT)
        backend.clear_resident()
        gate.opened.set()
        assert backend.wait_idle(WAIT)
        stats = backend.stats()
        assert stats.tier_ups == 0 and stats.compilations_discarded == 1
        assert stats.resident_entries == 0


def test_real_tier_up_program_runs_and_matches_stock() -> None:
    """With the real compiler: a program called often enough is swapped for a level-2 build,
    and the transaction's outcome (through py-evm) still equals the stock interpreter's."""
    scenario = d.Scenario(
        code=asm(
            *[x for i in range(8) for x in (i * 7 + 3, i, "SSTORE")],
            5,
            6,
            "MUL",
            1,
            "SLOAD",
            "ADD",
            0,
            "MSTORE",
            32,
            0,
            "RETURN",
        )
    )
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        store=None,
        tuning=RuntimeTuning(worker_count=1, tier_up_after=2),
    )
    with JitBackend.new(config) as backend:
        stock = d.run_stock(scenario)
        for _ in range(3):
            assert not d.compare(stock, d.run_jit(scenario, backend))
        wait_until(lambda: backend.stats().tier_ups == 1)
        program = backend.get_compiled(keccak(scenario.code), "cancun")
        assert program is not None and program.opt_level == 2
        jit = d.run_jit(scenario, backend)
        assert jit.native_messages == 1
        assert not d.compare(stock, jit)


@pytest.fixture(scope="module")
def level2_backend() -> Any:
    """One blocking backend compiling straight at the tier-up level."""
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        store=None,
        tuning=RuntimeTuning(jit_opt_level=2, tier_up_after=0),
    )
    with JitBackend.new(config) as backend:
        yield backend


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_level2_random_programs_match_stock(level2_backend: JitBackend, data: Any) -> None:
    """Optimised machine code is what hot programs end up running: differential check of it,
    on the fuzzer's random and adversarial programs over the main forks."""
    fork = data.draw(st.sampled_from(("frontier", "istanbul", "london", "cancun", "prague")))
    source = fuzz.HypothesisSource(data)
    if data.draw(st.booleans(), label="adversarial"):
        scenario = fuzz.adversarial(source, fork)
    else:
        code = fuzz.generate_program(source, fork, max_ops=60)
        calldata = data.draw(st.binary(max_size=68), label="calldata")
        scenario = d.Scenario(
            code=code, fork=fork, calldata=calldata, accounts=d.standard_accounts()
        )
    d.check(scenario, backend=level2_backend)


def _task(code: bytes, *, background: bool) -> CompileTask:
    return CompileTask(code, "cancun", 2 if background else 1, keccak(code), background=background)


def test_first_compilation_does_not_wait_for_a_tier_up_worker() -> None:
    """One worker busy with a slow tier-up: a first compilation gets an extra worker at once,
    and the pool shrinks back to its size afterwards."""
    from pyevm_jit.runtime.workers import ProcessPool

    pool = ProcessPool(faults.fault_compiler, 1)
    try:
        slow = pool.submit(_task(faults.HANG_MARKER + b"\x01", background=True))
        wait_until(lambda: slow.running())
        first = pool.submit(_task(CODE, background=False))
        assert first.result(timeout=WAIT).object_bytes.startswith(b"FAKEOBJ:")
        assert not slow.done()  # it finished while the tier-up still runs
        wait_until(lambda: len(pool._workers) == 1)  # the extra worker is gone again
    finally:
        pool.shutdown(5.0)
    assert slow.done()  # failed by the shutdown


def test_waiting_first_compilations_go_before_tier_ups() -> None:
    from pyevm_jit.runtime.workers import InProcessPool

    order: list[bool] = []
    release = threading.Event()

    def compiler(task: CompileTask) -> ObjectCode:
        if task.code == b"\x00":
            release.wait(WAIT)  # hold the single thread while the others queue up
        order.append(task.background)
        return faults.fake_compiler(task)

    pool = InProcessPool(compiler)
    try:
        blocker = pool.submit(_task(b"\x00", background=False))
        futures = [pool.submit(_task(CODE, background=True))]
        futures += [pool.submit(_task(bytes([0x60, n, 0x00]), background=False)) for n in range(3)]
        release.set()
        for fut in [blocker, *futures]:
            fut.result(timeout=WAIT)
    finally:
        pool.shutdown(5.0)
    assert order == [False, False, False, False, True]
