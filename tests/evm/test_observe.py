"""Observed messages (evm/observe.py): what a tracing code stream, a profiling gas meter and a
SHA3 hook see with native code equals what they see with py-evm's interpreter.

The observers here are written like titanoboa's (tests/integrations/test_boa.py runs titanoboa
itself): a code stream appending every executed pc, a gas meter adding gas per pc, a SHA3 hook
recording 64-byte preimages. Each scenario runs through stock py-evm and through the JIT, in this
process, and every message's observations are compared, including at failures (out of gas mid-block,
invalid jumps and opcodes, return data bounds, stack errors at block heads).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.code_stream import CodeStream
from eth.vm.gas_meter import GasMeter

from pyevm_jit.evm.observe import Observation
from pyevm_jit.fuzz.generate import RandomSource
from pyevm_jit.fuzz.loop import make_scenario
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm, push
from pyevm_jit.testing.differential import Scenario

SHA3 = 0x20


class TracingCodeStream(CodeStream):
    """Appends the pc of every instruction it hands out (like titanoboa's)."""

    def __init__(self, code: bytes) -> None:
        super().__init__(code)
        self.trace: list[int] = []

    def __iter__(self) -> Iterator[int]:
        while self.program_counter < self._length_cache:
            opcode = self._raw_code_bytes[self.program_counter]
            self.trace.append(self.program_counter)
            self.program_counter += 1
            yield opcode
        yield 0x00


class ProfilingGasMeter(GasMeter):
    """Gas used per pc (like titanoboa's)."""

    def __init__(self, start_gas: int, code: CodeStream) -> None:
        super().__init__(start_gas)
        self.code = code
        self.used: dict[int, int] = {}

    def consume_gas(self, amount: int, reason: str) -> None:
        super().consume_gas(amount, reason)
        pc = self.code.program_counter - 1
        self.used[pc] = self.used.get(pc, 0) + amount

    def return_gas(self, amount: int) -> None:
        super().return_gas(amount)
        pc = self.code.program_counter - 1
        self.used[pc] = self.used.get(pc, 0) - amount


def _int(value: int | bytes) -> int:
    return int.from_bytes(value, "big") if isinstance(value, bytes) else value


class Sha3Hook:
    def __init__(self, sha3: Any, records: list[tuple[bytes, bytes]]) -> None:
        self.sha3 = sha3
        self.records = records

    def __call__(self, computation: Any) -> None:
        size, offset = (_int(x) for x in computation._stack.values[-2:])
        self.sha3(computation)
        if size == 64:
            value = computation._stack.values[-1]
            image = value if isinstance(value, bytes) else value.to_bytes(32, "big")
            self.records.append((image, computation._memory.read_bytes(offset, size)))


class Observed:
    """Mixed in front of a computation class: its messages are observed."""

    log: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.code = TracingCodeStream(self.code._raw_code_bytes)  # type: ignore[has-type]
        self._gas_meter = ProfilingGasMeter(self.msg.gas, self.code)  # type: ignore[attr-defined]
        self.sha3_records: list[tuple[bytes, bytes]] = []
        self.opcodes = dict(self.opcodes)  # type: ignore[has-type]
        self.opcodes[SHA3] = Sha3Hook(self.opcodes[SHA3], self.sha3_records)
        Observed.log.append(self)

    @classmethod
    def jit_table_differences(cls, opcodes: dict[int, Any]) -> list[str]:
        """The SHA3 hook is honoured: `jit_observe` records what it would have."""
        table = dict(opcodes)
        hook = table.get(SHA3)
        if isinstance(hook, Sha3Hook):
            table[SHA3] = hook.sha3
        return super().jit_table_differences(table)  # type: ignore[misc,no-any-return]

    def jit_observe(self) -> Observation:
        return Observation(
            trace=self.code.trace,
            gas_used_of=self._gas_meter.used,
            on_sha3=lambda image, preimage: self.sha3_records.append((image, preimage)),
            host_ops_native=False,
        )


def _observed_vm(vm_class: type) -> type:
    state_class = vm_class._state_class  # type: ignore[attr-defined]
    computation = type("Observed", (Observed, state_class.computation_class), {})
    state = state_class.configure(computation_class=computation)
    return vm_class.configure(_state_class=state)  # type: ignore[attr-defined,no-any-return]


def _observe(scenario: Scenario, vm_class: type) -> tuple[d.Outcome, list[tuple[Any, ...]]]:
    Observed.log = []
    outcome = d.execute(scenario, _observed_vm(vm_class))
    seen = [
        (
            bytes(c.msg.code)[:8].hex(),
            c.code.trace,
            list(c._gas_meter.used.items()),  # order too: first charge at each pc
            c.code.program_counter,
            repr(c.error) if c.is_error else None,
            c._gas_meter.gas_remaining,
            c.sha3_records,
        )
        for c in Observed.log
    ]
    return outcome, seen


def check_observed(scenario: Scenario, require_native: bool = True) -> None:
    backend = d.get_backend()
    stock, stock_seen = _observe(scenario, d.fork_vm(scenario.fork))
    hits = backend.stats().lookup_hits
    jit, jit_seen = _observe(scenario, d.jit_vm_class(scenario.fork))
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert len(jit_seen) == len(stock_seen)
    for index, (mine, theirs) in enumerate(zip(jit_seen, stock_seen, strict=True)):
        assert mine == theirs, f"message {index}: {d.describe(scenario, [])}"
    if require_native:
        assert backend.stats().lookup_hits > hits, "no message ran native code"


CASES = {
    "straight line": asm(1, 2, "ADD", 0, "MSTORE", 32, 0, "RETURN"),
    "loop with JUMPI": asm(
        5,
        Label("loop"),
        1,
        "SWAP1",
        "SUB",
        "DUP1",
        Ref("loop"),
        "JUMPI",
        "STOP",
    ),
    "runs off the end": asm(1, 2, "ADD", "POP"),
    "sha3 of 64 bytes, twice": asm(
        7,
        0,
        "MSTORE",
        9,
        32,
        "MSTORE",
        64,
        0,
        "SHA3",
        64,
        0,
        "SHA3",
        "ADD",
        0,
        "MSTORE",
        32,
        0,
        32,
        0,
        "SHA3",
        "POP",
        "RETURN",
    ),
    "memory expansion out of gas mid-block": asm(1, 2, "ADD", 1, 0x3FFFFF, "MSTORE", 3, "POP"),
    "sha3 words out of gas": asm(1, 0, "MSTORE", 0x30000, 0, "SHA3", "STOP"),
    "exp bytes out of gas": asm(2**255, 3, "EXP", 2**255, 3, "EXP", "STOP"),
    "invalid jump (JUMP, small target)": asm(1, 2, "ADD", 3, "JUMP", "JUMPDEST", "STOP"),
    "invalid jump (JUMPI, target 2^64 + 3)": asm(1, 2**64 + 3, "JUMPI", "JUMPDEST", "STOP"),
    "jump into push data": asm(4, "JUMP", push(0x5B5B, 2), "JUMPDEST", "STOP"),
    "invalid opcode mid-block": asm(1, 2, "ADD", b"\x0c", "STOP"),
    "designated INVALID": asm(1, "POP", b"\xfe"),
    "returndatacopy out of bounds": asm(1, 0, 0, "RETURNDATACOPY", "STOP"),
    "stack underflow at a block head": asm(Label("j"), "POP", Ref("j"), "JUMP"),
    "jump into a JUMPDEST sled": asm(
        Ref("b"), "JUMP", Label("a"), Label("b"), Label("c"), 1, 2, "ADD", "STOP"
    ),
    "fall into a sled, underflow after it": asm(1, "POP", Label("a"), Label("b"), "POP"),
    "storage and revert": asm(5, 1, "SSTORE", 1, "SLOAD", 0, "MSTORE", 32, 0, "REVERT"),
    "call into another contract": asm(
        0,
        0,
        0,
        0,
        0,
        d.addr(d.STORER),
        50_000,
        "CALL",
        0,
        "MSTORE",
        0,
        0,
        0,
        0,
        d.addr(d.BURNER),
        50_000,
        "STATICCALL",
        "POP",
        32,
        0,
        "RETURN",
    ),
}


LATER_OPCODES = ("returndatacopy out of bounds", "call into another contract")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("fork", ["cancun", "frontier"])
def test_observations_equal_the_interpreters(name: str, fork: str) -> None:
    if fork == "frontier" and name in LATER_OPCODES:
        pytest.skip("opcodes of later forks")
    scenario = Scenario(code=CASES[name], fork=fork, gas=200_000, accounts=d.standard_accounts())
    check_observed(scenario)


@pytest.mark.parametrize("gas", [19, 20, 21])
def test_observations_when_the_block_was_prepaid(gas: int) -> None:
    """MSTORE's expansion fails natively only because the rest of the block was prepaid."""
    code = asm(0x20, 0, "MSTORE", 1, 2, 3, "STOP")
    check_observed(Scenario(code=code, fork="cancun", gas=21_000 + gas))


@pytest.mark.parametrize("seed", range(24))
def test_observations_of_random_programs(seed: int) -> None:
    rng = random.Random(seed)
    fork = rng.choice(["cancun", "shanghai", "berlin", "prague"])
    _, scenario = make_scenario(RandomSource(rng), rng, fork, [])
    check_observed(scenario, require_native=False)


def test_an_observer_that_cannot_be_served_interprets() -> None:
    """A code stream other than py-evm's, with no `jit_observe` that knows it: interpreted."""

    class Unknown(CodeStream):
        pass

    class Replacing:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[call-arg]
            self.code = Unknown(self.code._raw_code_bytes)  # type: ignore[has-type]

    vm_class = d.jit_vm_class("cancun")
    state_class = vm_class._state_class  # type: ignore[attr-defined]
    computation = type("Replacing", (Replacing, state_class.computation_class), {})
    vm = vm_class.configure(_state_class=state_class.configure(computation_class=computation))  # type: ignore[attr-defined]
    backend = d.get_backend()
    before = backend.stats()
    outcome = d.execute(Scenario(code=asm(1, 2, "ADD", "STOP")), vm)
    after = backend.stats()
    assert outcome.status == "success"
    assert after.lookup_hits == before.lookup_hits
    assert after.misses_by_reason["Ineligible"] > before.misses_by_reason["Ineligible"]
