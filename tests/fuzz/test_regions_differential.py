"""Region compilation (docs/regions.md) forced on tiny budgets, so that side exits happen at
many places: random programs through the JIT and the stock interpreter in the same process give
identical outcomes, side exits are counted, and regions grow."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyevm_jit import fuzz
from pyevm_jit.compiler.analysis import build_blocks
from pyevm_jit.compiler.compile import ObjectCode
from pyevm_jit.compiler.regions import first_region
from pyevm_jit.opcodes import fork_spec
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.workers.tasks import CompileTask, default_compiler
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm

# 20 programs per test (per budget for the runtime's regions: 40 in all), each run twice
SETTINGS = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def _region_backend(blocks: int) -> JitBackend:
    tuning = RuntimeTuning(
        region_blocks=blocks,
        region_blocking=True,
        region_whole_share=2.0,  # never compile the whole contract instead
        worker_count=0,
    )
    return JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None, tuning=tuning))


@pytest.fixture(scope="module", params=[1, 3])
def region_backend(request: pytest.FixtureRequest) -> Iterator[JitBackend]:
    backend = _region_backend(request.param)
    yield backend
    try:  # the programs did leave their regions
        assert backend.side_exits()
    finally:
        backend.close()


@SETTINGS
@given(data=st.data())
def test_region_programs_match_stock(region_backend: JitBackend, data: st.DataObject) -> None:
    fork = data.draw(st.sampled_from(d.MAIN_FORKS), label="fork")
    code = fuzz.generate_program(fuzz.HypothesisSource(data), fork, max_ops=80)
    scenario = d.Scenario(
        code=code,
        fork=fork,
        calldata=data.draw(st.binary(max_size=68), label="calldata"),
        gas=data.draw(st.sampled_from((30_000, 300_000)), label="gas"),
        accounts=d.standard_accounts(),
    )
    # twice: the second run may use a region grown from the first run's side exits
    for _ in range(2):
        d.check(scenario, backend=region_backend, require_native=False)
        region_backend.wait_idle(30)


class _RandomRegions:
    """A compiler that compiles the region the current example drew (side exits anywhere)."""

    def __init__(self) -> None:
        self.region: frozenset[int] = frozenset()
        self.compiled = 0

    def __call__(self, task: CompileTask) -> ObjectCode:
        self.compiled += 1
        return default_compiler(dataclasses.replace(task, region=self.region))


@SETTINGS
@given(data=st.data())
def test_random_regions_match_stock(data: st.DataObject) -> None:
    """Any subset of blocks compiled, the rest side exits: the stock outcome exactly."""
    fork = data.draw(st.sampled_from(d.MAIN_FORKS), label="fork")
    code = fuzz.generate_program(fuzz.HypothesisSource(data), fork, max_ops=80)
    starts = sorted(blk.start_pc for blk in build_blocks(code, fork_spec(fork)))
    compiler = _RandomRegions()
    compiler.region = frozenset(data.draw(st.sets(st.sampled_from(starts)), label="region"))
    tuning = RuntimeTuning(
        region_blocks=1, region_blocking=True, region_whole_share=2.0, worker_count=0
    )
    config = RuntimeConfig(
        enabled=True, blocking=True, store=None, tuning=tuning, compiler=compiler
    )
    with JitBackend.new(config) as backend:
        scenario = d.Scenario(
            code=code,
            fork=fork,
            calldata=data.draw(st.binary(max_size=68), label="calldata"),
            gas=data.draw(st.sampled_from((30_000, 300_000)), label="gas"),
            accounts=d.standard_accounts(),
        )
        d.check(scenario, backend=backend, require_native=False)
        assert compiler.compiled >= 1


def _loop_contract() -> bytes:
    """A loop over several blocks reached only through a dynamic jump (a return address on
    the stack), so the first region (pc 0 within one block) must side-exit and grow."""
    return asm(
        0,  # the counter
        Label("loop"),
        1, "ADD",
        "DUP1", 0, "SSTORE",
        Ref("after"), "SWAP1", Ref("body"), "JUMP",
        Label("after"),
        "DUP1", 20, "GT", Ref("loop"), "JUMPI",
        "STOP",
        Label("body"),
        3, "MUL", 3, "SWAP1", "DIV", "SWAP1", "JUMP",
    )  # fmt: skip


def test_side_exits_are_counted_and_regions_grow() -> None:
    """The first side exit has the interpreter record the rest of the message, and the region
    grows by all of it: the next message runs natively to its end."""
    backend = _region_backend(1)
    try:
        scenario = d.Scenario(
            code=_loop_contract(), fork="cancun", gas=1_000_000, accounts=d.standard_accounts()
        )
        exits = []
        for _ in range(3):
            d.check(scenario, backend=backend, expect="success")
            assert backend.wait_idle(30)
            exits.append(sum(backend.side_exits().values()))
        assert exits == [1, 1, 1], f"one side exit, then none: {exits}"
        (entry,) = backend._inner.resident.values()
        assert len(first_region(_loop_contract(), "cancun", 1)) < len(entry.program.region or ())
        blocks = {blk.start_pc for blk in build_blocks(_loop_contract(), fork_spec("cancun"))}
        assert entry.program.region == blocks, "every block of the contract runs"
    finally:
        backend.close()
