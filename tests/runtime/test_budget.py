"""Compile cost is bounded and fair: pathological shapes are interpreted (Ineligible, with the
reason), a compilation cannot run past its CPU budget, one contract cannot cost more than its
cap, and cheap jobs never wait behind expensive ones."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from support import WAIT, fake_backend, wait_until

from pyevm_jit.compiler.compile import ObjectCode, PhaseTimings
from pyevm_jit.runtime import (
    InterpretReason,
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeTuning,
    budget,
)
from pyevm_jit.runtime.workers import CompileTask, InProcessPool, ProcessPool
from pyevm_jit.testing import faults

REPO = Path(__file__).resolve().parents[2]

# The three: bytecode that costs a few gas to call and seconds to a minute to compile.
PATHOLOGICAL = {
    "24KB_SELFDESTRUCT": b"\xff" * 24576,
    "6KB_PUSH0_SLOAD": b"\x5f\x54" * 3072,
    "12KB_JUMPDEST_PUSH0_CALLDATALOAD_JUMP": b"\x5b\x5f\x35\x56" * 3072,
}


def request(code: bytes) -> LookupRequest:
    return LookupRequest(RuntimeCacheKey(keccak(code), "cancun"), code)


def backend(**tuning: object) -> JitBackend:
    tuning.setdefault("worker_count", 0)
    tuning.setdefault("event_drain_interval", 0.005)
    blocking = bool(tuning.pop("blocking", True))
    compiler = tuning.pop("compiler", faults.fault_compiler)
    return fake_backend(
        blocking=blocking,
        compiler=compiler,
        tuning=RuntimeTuning(**tuning),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("code", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_code_is_interpreted_as_ineligible(code: bytes) -> None:
    with backend() as b:
        req = request(code)
        assert b.lookup(req).reason is InterpretReason.INELIGIBLE
        assert b.lookup(req).reason is InterpretReason.INELIGIBLE
        reason = b.ineligible_reason(req.key.code_hash, "cancun")
        assert reason is not None and reason.startswith("pathological code:")
        s = b.stats()
        assert s.compilations_dispatched == 0  # never cost a compilation
        assert s.misses_by_reason["Ineligible"] == 2


def test_pathological_code_is_never_promoted() -> None:
    """The same through the hot path: hot, promoted, screened, Ineligible from then on."""
    with backend(blocking=False, hot_threshold=1) as b:
        reqs = [request(code) for code in PATHOLOGICAL.values()]
        for req in reqs:
            assert b.lookup(req).reason is InterpretReason.NOT_READY
        wait_until(lambda: all(b.ineligible_reason(r.key.code_hash, "cancun") for r in reqs))
        assert all(b.lookup(r).reason is InterpretReason.INELIGIBLE for r in reqs)
        assert b.stats().compilations_dispatched == 0


def _fixture_codes() -> dict[str, bytes]:
    codes: dict[str, bytes] = {}
    for path in sorted((REPO / "fixtures" / "bench").glob("*.json")):
        for test in json.loads(path.read_text()).values():
            for address, account in test["pre"].items():
                code = bytes.fromhex(account.get("code", "0x")[2:])
                if code:
                    codes[f"{path.stem}:{address[:8]}"] = code
    for path in sorted((REPO / "fixtures" / "contracts").glob("*.json")):
        data = json.loads(path.read_text())
        codes[path.stem] = bytes.fromhex(data["deployedBytecode"].removeprefix("0x"))
    return codes


def test_real_contracts_pass_the_screen() -> None:
    codes = _fixture_codes()
    assert len(codes) > 10
    policy = budget.BudgetPolicy()
    for name, code in codes.items():
        verdict = budget.assess(code, 1, policy)
        assert verdict.reason is None, (name, verdict.reason)
        assert verdict.budget >= policy.floor


def test_estimates_grow_with_the_level_and_the_shape() -> None:
    small = budget.shape(b"\x60\x01" * 100)
    big = budget.shape(b"\x60\x01\x60\x02\x01\x50" * 4000)
    assert 0 < budget.estimate(small, 1) < budget.estimate(big, 1) < budget.estimate(big, 2)
    assert budget.shape(PATHOLOGICAL["24KB_SELFDESTRUCT"]).suspends == 24576
    jumps = budget.shape(PATHOLOGICAL["12KB_JUMPDEST_PUSH0_CALLDATALOAD_JUMP"])
    assert (jumps.dynamic_jumps, jumps.jumpdests) == (3072, 3072)
    # a PUSH's data is not code: JUMPDEST bytes inside it are no jump targets
    assert budget.shape(b"\x61\x5b\x5b\x56").jumpdests == 0


def test_compilation_over_its_cpu_budget_is_stopped() -> None:
    """A compilation spinning on the CPU is stopped by the kernel at its budget (not at the
    wall-clock timeout), and the contract is Ineligible from then on."""
    with backend(
        worker_count=1, compile_budget_floor=1.0, compile_budget_headroom=1.0, compile_timeout=WAIT
    ) as b:
        req = request(faults.BURN_MARKER + b"\x00")
        started = time.monotonic()
        assert b.lookup(req).reason is InterpretReason.INELIGIBLE
        assert time.monotonic() - started < WAIT
        reason = b.ineligible_reason(req.key.code_hash, "cancun")
        assert reason is not None and "CPU budget" in reason
        s = b.stats()
        assert s.worker_timeouts == 1 and s.worker_crashes == 0
        assert b.failure_reason(req.key.code_hash, "cancun") is None
        assert b.lookup(request(b"\x60\x01\x00")).is_compiled  # the pool carries on


def _costly_compiler(task: CompileTask) -> ObjectCode:
    """A compiler reporting 5 CPU seconds per compilation."""
    obj = faults.fake_compiler(task)
    return ObjectCode(
        object_bytes=obj.object_bytes,
        entry_symbol=obj.entry_symbol,
        fork=obj.fork,
        opt_level=obj.opt_level,
        timings=PhaseTimings(1.0, 2.0, 2.0),
    )


def test_cap_on_what_one_contract_costs() -> None:
    """A contract whose compilations have used up its cap is not tiered up: the program it has
    stays (and keeps running natively)."""
    with backend(
        blocking=False,
        hot_threshold=1,
        tier_up_after=2,
        compile_cost_cap=3.0,
        compiler=_costly_compiler,
    ) as b:
        req = request(b"\x60\x01\x60\x02\x01\x00")
        b.lookup(req)
        wait_until(lambda: b.lookup(req).is_compiled)
        for _ in range(5):
            assert b.lookup(req).is_compiled
        assert b.wait_idle(WAIT)
        program = b.get_compiled(req.key.code_hash, "cancun")
        assert program is not None and program.opt_level == 1
        s = b.stats()
        assert s.tier_ups == 0 and s.compilations_dispatched == 1


def _task(code: bytes, cost: float, *, background: bool = False) -> CompileTask:
    return CompileTask(code, "cancun", 1, keccak(code), background=background, cost=cost)


def test_cheap_jobs_go_first() -> None:
    order: list[bytes] = []
    release = threading.Event()

    def compiler(task: CompileTask) -> ObjectCode:
        if task.code == b"\x00":
            release.wait(WAIT)  # hold the single thread while the others queue up
        order.append(task.code)
        return faults.fake_compiler(task)

    pool = InProcessPool(compiler)
    try:
        futures = [pool.submit(_task(b"\x00", 0.0))]
        for code, cost in ((b"\x03", 3.0), (b"\x01", 1.0), (b"\x04", 0.1), (b"\x02", 2.0)):
            futures.append(pool.submit(_task(code, cost, background=code == b"\x04")))
        release.set()
        for fut in futures:
            fut.result(timeout=WAIT)
    finally:
        pool.shutdown(5.0)
    # first compilations cheapest first, then the tier-up
    assert order == [b"\x00", b"\x01", b"\x02", b"\x03", b"\x04"]


def test_heavy_jobs_cannot_starve_light_ones() -> None:
    """One worker, and expensive compilations that never end: a cheap contract still compiles
    (on an extra worker), while the heavy ones wait for theirs."""
    pool = ProcessPool(faults.fault_compiler, 1)
    try:
        heavy: list[Future[ObjectCode]] = [
            pool.submit(_task(faults.HANG_MARKER + bytes([n]), 10.0)) for n in range(3)
        ]
        wait_until(lambda: heavy[0].running())
        light = [pool.submit(_task(bytes([0x60, n, 0x00]), 0.01)) for n in range(4)]
        for fut in light:
            assert fut.result(timeout=WAIT).object_bytes.startswith(b"FAKEOBJ:")
        assert not any(fut.done() for fut in heavy)
        assert sum(1 for fut in heavy if fut.running()) == 1  # one heavy slot: the pool's size
        assert len(pool._workers) <= 2
    finally:
        pool.shutdown(5.0)
