"""Region compilation in the runtime (docs/regions.md): a promoted key's next interpreted
message records the blocks it runs and they are its first region, so later calls run natively
to the end; a side exit has the interpreter record the rest of the message and the region
grows by it; lookups that no message follows still compile (what pc 0 reaches)."""

from __future__ import annotations

import pytest
from eth.vm.forks import CancunVM
from support import WAIT, region_backend, request, selector_loops, selector_scenario, wait_until

from pyevm_jit.compiler.regions import block_count
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning, jobs
from pyevm_jit.runtime.regions import forced_environment
from pyevm_jit.testing import differential as d


def _contract(count: int = 80) -> bytes:
    return selector_loops(count, 3)


def test_first_region_is_what_a_call_ran_and_calls_then_stay_native(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the learning run is the call right after the promotion; on a loaded machine that call
    # can come after `LEARN_WAIT`, and the first region is then what pc 0 reaches
    monkeypatch.setattr(jobs, "LEARN_WAIT", 60.0)
    code = _contract()
    backend = region_backend()
    vm = jit_vm(CancunVM, backend)
    scenario = selector_scenario(code, 41)
    stock = d.execute(scenario, CancunVM)
    with backend:
        # two misses promote it, a call after that is the learning run (calls back to back:
        # `wait_idle` would wait out the learning run and compile what pc 0 reaches instead)
        for _ in range(200):
            assert d.execute(scenario, vm) == stock
            if backend._inner.resident:
                break
        assert backend.wait_idle(WAIT)
        ((key, entry),) = backend._inner.resident.items()
        region = entry.program.region
        assert region is not None and len(region) < block_count(code, "cancun") / 4
        hits = backend.stats().lookup_hits
        for _ in range(3):
            assert d.execute(scenario, vm) == stock
        assert backend.stats().lookup_hits == hits + 3
        assert not backend.side_exits(), "the calls run natively to their end"
        # another function: one side exit, learned; the region grows and holds it
        other = selector_scenario(code, 7)
        other_stock = d.execute(other, CancunVM)
        assert d.execute(other, vm) == other_stock
        assert sum(backend.side_exits().values()) == 1
        assert backend.wait_idle(WAIT)
        wait_until(lambda: len(backend._inner.resident[key].program.region or ()) > len(region))
        for _ in range(2):
            assert d.execute(other, vm) == other_stock
            assert d.execute(scenario, vm) == stock
        assert sum(backend.side_exits().values()) == 1, "no side exit after the growth"


def test_lookups_without_messages_still_compile() -> None:
    req = request(_contract())
    with region_backend(hot_threshold=1) as backend:
        assert not backend.lookup(req).is_compiled
        wait_until(lambda: backend.lookup(req).is_compiled)
        (entry,) = backend._inner.resident.values()
        assert entry.program.region is not None and 0 in entry.program.region


def test_whole_contracts_without_regions_in_blocking_mode_and_when_off() -> None:
    req = request(_contract())
    for config in (
        RuntimeConfig(enabled=True, blocking=True, store=None,
                      tuning=RuntimeTuning(worker_count=0)),
        RuntimeConfig(enabled=True, store=None,
                      tuning=RuntimeTuning(worker_count=0, region_blocks=0, hot_threshold=1)),
    ):  # fmt: skip
        with JitBackend.new(config) as backend:
            backend.lookup(req)
            wait_until(lambda backend=backend: backend.lookup(req).is_compiled)
            (entry,) = backend._inner.resident.values()
            assert entry.program.region is None


def test_forced_environment_forces_random_regions(monkeypatch: object) -> None:
    env = forced_environment(7)
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    tuning = RuntimeTuning()
    assert tuning.region_random == 7 and tuning.region_blocking
    assert tuning.region_whole_share > 1
    req = request(_contract())
    config = RuntimeConfig(enabled=True, blocking=True, store=None, tuning=tuning)
    with JitBackend.new(config) as backend:
        assert backend.lookup(req).is_compiled
        (entry,) = backend._inner.resident.values()
        assert entry.program.region is not None
