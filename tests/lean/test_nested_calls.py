"""Calls between native programs (docs/calls.md) against py-evm.

Chains of frames of one contract, each depth writing storage, transient storage and a log,
calling the next depth its own way and ending its own way, run through the JIT VM and the stock
interpreter in the same process; the whole outcome (status, gas, refund, output, logs,
accounts, state root) must match, and the lean call path must have run (counted by wrapping
`lean.calls.call`). Customisations of the call path (a patched CALL, an overridden
`apply_message` or `apply_computation`, a tracer) run as written, as on py-evm. The caller's
storage cache across a call (evm/hostops.py) is checked by counting SLOAD misses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from support import count_calls, pairwise

from pyevm_jit import forks
from pyevm_jit.fuzz.call_patterns import call_chain
from pyevm_jit.fuzz.generate import RandomSource
from pyevm_jit.opcodes import BY_NAME
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import AsmItem as Item
from pyevm_jit.testing.assembler import Label, Ref, asm
from pyevm_jit.testing.differential import CALLEE, Scenario, standard_accounts

WORLD = standard_accounts()


@pytest.fixture
def nested_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Calls run by the lean call path (`lean.calls.call`)."""
    from pyevm_jit.lean import calls

    yield count_calls(monkeypatch, calls, "call")


def check(scenario: Scenario, count: list[int], *, used: bool = True) -> d.Outcome:
    before = count[0]
    stock, jit = d.run_both(scenario)
    diffs = d.compare(stock, jit)
    assert diffs == [], d.describe(scenario, diffs)
    assert jit.native_messages
    if used:
        assert count[0] > before, "the lean call path did not run"
    else:
        assert count[0] == before, "the lean call path ran"
    return stock


def _supports(fork: str, op: str) -> bool:
    return BY_NAME[op] in forks.valid_opcodes(fork)


def chain(
    fork: str,
    kinds: Sequence[str],
    endings: Sequence[str],
    *,
    values: Sequence[int] = (),
    gas: Sequence[int | str] = (),
    target: int | str = "ADDRESS",
) -> bytes:
    """A contract whose frame at depth k (call data word 0) writes slot k and slot 9, TSTOREs,
    logs, calls depth k + 1 with `kinds[k]` (value `values[k]`, gas `gas[k]`), records the
    call's flag, return data size and returned word, then ends with `endings[k]` ("stop",
    "return", "revert", "invalid", "oog"). The last depth (len(endings) - 1) calls `target`
    when it has a kind."""
    depth = len(endings)
    items: list[Item] = [0, "CALLDATALOAD"]
    for k in range(depth):
        items += ["DUP1", k, "EQ", Ref(f"d{k}"), "JUMPI"]
    items.append("STOP")
    for k in range(depth):
        items += [Label(f"d{k}"), "POP", k + 1, k, "SSTORE", k + 1, 9, "SSTORE"]
        if _supports(fork, "TSTORE"):
            items += [k + 1, 1, "TSTORE"]
        items += [0xE0 + k, 0, 0, "LOG1"]
        if k < len(kinds):
            kind = kinds[k]
            items += [k + 1, 0, "MSTORE", 32, 32, 32, 0]
            if kind in ("CALL", "CALLCODE"):
                items.append(values[k] if k < len(values) else 0)
            to = "ADDRESS" if k < depth - 1 else target
            items += [to, gas[k] if k < len(gas) else "GAS", kind, 100 + k, "SSTORE"]
            items += ["RETURNDATASIZE", 200 + k, "SSTORE", 32, "MLOAD", 300 + k, "SSTORE"]
            items += [9, "SLOAD", 400 + k, "SSTORE"]
            if _supports(fork, "TLOAD"):
                items += [1, "TLOAD", 500 + k, "SSTORE"]
        items += [k, 0, "MSTORE"]
        items += {
            "stop": ["STOP"],
            "return": [32, 0, "RETURN"],
            "revert": [32, 0, "REVERT"],
            "invalid": ["INVALID"],
            "oog": [Label(f"burn{k}"), Ref(f"burn{k}"), "JUMP"],
        }[endings[k]]
    return asm(*items)


FORKS = ("frontier", "byzantium", "istanbul", "berlin", "cancun", "prague")
DEPTH = 5


# Every fork with every ending and every depth, every ending at every depth: a covering design
# of fork x ending x depth (support.pairwise; PYEVM_JIT_FULL_MATRIX=1 runs the whole product)
@pytest.mark.parametrize(
    ("fork", "ending", "at"),
    pairwise(
        FORKS,
        ["revert", "invalid", "oog"],
        range(DEPTH),
        allowed=lambda fork, ending, _: not (fork == "frontier" and ending == "revert"),
    ),
)
def test_a_failure_at_every_depth(fork: str, ending: str, at: int, nested_count: list[int]) -> None:
    endings = ["return"] * DEPTH
    endings[at] = ending
    code = chain(fork, ["CALL"] * (DEPTH - 1), endings)
    check(Scenario(code=code, fork=fork, gas=2_000_000, accounts=WORLD), nested_count)


@pytest.mark.parametrize(
    ("fork", "kind", "at"),
    pairwise(
        ["byzantium", "cancun", "prague"],
        ["DELEGATECALL", "CALLCODE", "STATICCALL"],
        range(DEPTH - 1),
    ),
)
def test_call_kinds_at_every_depth(fork: str, kind: str, at: int, nested_count: list[int]) -> None:
    """A DELEGATECALL or CALLCODE writes the caller's storage; a STATICCALL's child (and all
    below it) fails at its first write (a static violation at that depth)."""
    kinds = ["CALL"] * (DEPTH - 1)
    kinds[at] = kind
    code = chain(fork, kinds, ["return"] * DEPTH, values=[1] * DEPTH)
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=3), nested_count)


@pytest.mark.parametrize("fork", ["frontier", "berlin", "cancun"])
@pytest.mark.parametrize("value", [1, 3, 4])  # the contract holds 3 wei
def test_value_transfers_down_the_chain(fork: str, value: int, nested_count: list[int]) -> None:
    kinds = ["CALL", "CALLCODE", "CALL"]
    code = chain(fork, kinds, ["return"] * 4, values=[value] * 3, target=d.addr(d.RICH))
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=3), nested_count)


@pytest.mark.parametrize("fork", ["tangerine-whistle", "berlin", "cancun"])
@pytest.mark.parametrize("child_gas", [0, 1, 700, 5_000, 30_000, 2**64])
def test_child_gas_and_out_of_gas(fork: str, child_gas: int, nested_count: list[int]) -> None:
    """Requested gas below, at and above what the 63/64 rule leaves, at every depth."""
    code = chain(fork, ["CALL"] * 3, ["return"] * 4, gas=[child_gas, "GAS", child_gas])
    for total in (80_000, 300_000):
        check(Scenario(code=code, fork=fork, gas=total, accounts=WORLD), nested_count)


@pytest.mark.parametrize("fork", ["byzantium", "berlin", "cancun", "prague"])
@pytest.mark.parametrize("precompile", [1, 2, 4, 5, 9])
def test_precompile_targets_at_the_bottom(
    fork: str, precompile: int, nested_count: list[int]
) -> None:
    for kind in ("CALL", "STATICCALL", "DELEGATECALL"):
        code = chain(fork, [kind] * 3, ["return"] * 3, target=precompile)
        check(Scenario(code=code, fork=fork, accounts=WORLD), nested_count)


@pytest.mark.parametrize("fork", ["frontier", "homestead"])
def test_depth_1024(fork: str, nested_count: list[int]) -> None:
    """Without the 63/64 rule a contract calling itself reaches the depth limit; the frame at
    1024 calls once more and gets 0."""
    code = asm(
        0, "SLOAD", 1, "ADD", "DUP1", 0, "SSTORE",
        0, 0, 0, 0, 0, "ADDRESS", 200, "GAS", "SUB", "CALL", "DUP1", 1, "SSTORE",
        0, "MSTORE", 32, 0, "RETURN",
    )  # fmt: skip
    stock = check(Scenario(code=code, fork=fork, gas=30_000_000, accounts=WORLD), nested_count)
    from pyevm_jit.testing.differential import CONTRACT

    assert stock.accounts[CONTRACT].storage[0] == 1025  # the depth limit was reached


@pytest.mark.parametrize("fork", ["cancun", "prague"])
def test_create_inside_a_child(fork: str, nested_count: list[int]) -> None:
    init = asm(1, 0, "SSTORE", 1, 0, "RETURN")
    word = int.from_bytes(init.ljust(32, b"\0"), "big")
    inner = [word, 0x400, "MSTORE", len(init), 0x400, 0, "CREATE", 5, "SSTORE", 32, 0, "REVERT"]
    for end in (inner, inner[:-3] + ["STOP"]):
        code = asm(
            "CALLDATASIZE", Ref("inner"), "JUMPI",
            1, 0, "MSTORE", 0, 0, 32, 0, 0, "ADDRESS", "GAS", "CALL", 0, "SSTORE", "STOP",
            Label("inner"), *end,
        )  # fmt: skip
        check(Scenario(code=code, fork=fork, accounts=WORLD), nested_count)


@pytest.mark.parametrize("fork", ["berlin", "cancun", "prague"])
@pytest.mark.parametrize("seed", range(12))
def test_generated_chains(fork: str, seed: int, nested_count: list[int]) -> None:
    """The fuzzer's generator of call chains (fuzz/call_patterns.py)."""
    import random

    scenario = call_chain(RandomSource(random.Random(seed * 7919 + len(fork))), fork)
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))


# --- customisations keep py-evm's path ------------------------------------------------------------
def _custom_vm(fork: str, **computation_attrs: Any) -> tuple[type, type]:
    """(stock VM, JIT VM) whose computation class has `computation_attrs`."""
    from pyevm_jit.evm.vm import jit_vm

    vm = forks.fork_vm(fork)
    state_class = vm.get_state_class()
    computation = state_class.computation_class.configure(
        __name__="CustomComputation", **computation_attrs
    )
    state = state_class.configure(__name__="CustomState", computation_class=computation)
    custom = vm.configure(__name__="CustomVM", _state_class=state)
    return custom, jit_vm(custom, d.get_backend())


def _check_custom(
    scenario: Scenario,
    stock_vm: type,
    jit: type,
    count: list[int],
    calls: list[int],
    lean: bool,
) -> None:
    """The same outcome, the customisation run as often as on py-evm, and the lean call path
    run (`lean`: it calls the customised method) or not."""
    before = count[0]
    stock = d.execute(scenario, stock_vm)
    seen_stock, calls[:] = len(calls), []
    outcome = d.execute(scenario, jit)
    assert d.compare(stock, outcome) == [], d.describe(scenario, d.compare(stock, outcome))
    assert (count[0] > before) == lean
    assert seen_stock and len(calls) == seen_stock, (seen_stock, len(calls))


CHAIN = chain("cancun", ["CALL", "DELEGATECALL", "CALL"], ["return", "return", "revert", "stop"])


def test_an_overridden_apply_message_runs(nested_count: list[int]) -> None:
    calls: list[int] = []

    def apply_message(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return super(custom, cls).apply_message(*args, **kwargs)

    stock_vm, jit = _custom_vm("cancun")
    custom = stock_vm.get_state_class().computation_class
    custom.apply_message = classmethod(apply_message)  # type: ignore[attr-defined]
    scenario = Scenario(code=CHAIN, accounts=WORLD)
    _check_custom(scenario, stock_vm, jit, nested_count, calls, lean=True)


def test_an_overridden_apply_computation_runs(nested_count: list[int]) -> None:
    from eth.vm.forks.cancun.computation import CancunComputation

    calls: list[int] = []

    def apply_computation(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return CancunComputation.apply_computation.__func__(cls, *args, **kwargs)

    stock_vm, jit = _custom_vm("cancun", apply_computation=classmethod(apply_computation))
    scenario = Scenario(code=CHAIN, accounts=WORLD)
    _check_custom(scenario, stock_vm, jit, nested_count, calls, lean=False)


def test_apply_message_patched_after_jit_vm(
    nested_count: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """py-evm's own FrontierComputation.apply_message wrapped after the JIT VM was made: the
    wrapper runs for every child on both sides."""
    from eth.vm.forks.frontier.computation import FrontierComputation

    calls: list[int] = []
    real = FrontierComputation.apply_message.__func__  # type: ignore[attr-defined]

    def wrapped(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(cls, *args, **kwargs)

    jit = d.jit_vm_class("cancun")
    monkeypatch.setattr(FrontierComputation, "apply_message", classmethod(wrapped))
    scenario = Scenario(code=CHAIN, accounts=WORLD)
    _check_custom(scenario, forks.fork_vm("cancun"), jit, nested_count, calls, lean=True)


def test_a_patched_call_opcode_runs(nested_count: list[int]) -> None:
    from eth.vm.forks.cancun.computation import CancunComputation

    calls: list[int] = []
    real = CancunComputation.opcodes[0xF1]

    class Watched(type(real)):  # type: ignore[misc]
        def __call__(self, computation: Any) -> None:
            calls.append(1)
            super().__call__(computation)

    opcodes = {**CancunComputation.opcodes, 0xF1: Watched.configure(
        __name__="opcode:CALL", mnemonic="CALL", gas_cost=real.gas_cost)()}  # fmt: skip
    stock_vm, jit = _custom_vm("cancun", opcodes=opcodes)
    code = chain("cancun", ["CALL", "CALL"], ["return", "revert", "stop"])
    scenario = Scenario(code=code, accounts=WORLD)
    _check_custom(scenario, stock_vm, jit, nested_count, calls, lean=False)


def test_a_tracer_sees_every_child(nested_count: list[int]) -> None:
    """A tracing code stream set by the computation's constructor (as titanoboa's): its
    messages are interpreted, and the tracer sees the same instructions of every frame as on
    py-evm."""
    from eth.vm.code_stream import CodeStream

    seen: list[int] = []

    class Tracing(CodeStream):
        def __iter__(self) -> Iterator[int]:
            for op in super().__iter__():
                seen.append(op)
                yield op

    def __init__(self: Any, *args: Any) -> None:  # noqa: N807
        base.__init__(self, *args)
        self.code = Tracing(self.msg.code)

    stock_vm, jit = _custom_vm("cancun", __init__=__init__)
    base = stock_vm.get_state_class().computation_class.__mro__[1]
    scenario = Scenario(code=CHAIN, accounts=WORLD)
    before = nested_count[0]
    stock = d.execute(scenario, stock_vm)
    stock_ops, seen[:] = list(seen), []
    outcome = d.execute(scenario, jit)
    assert d.compare(stock, outcome) == [], d.describe(scenario, d.compare(stock, outcome))
    assert seen == stock_ops and stock_ops.count(0xF1) >= 2
    assert nested_count[0] == before


def test_the_chain_runs_the_lean_call_path(nested_count: list[int]) -> None:
    check(Scenario(code=CHAIN, accounts=WORLD), nested_count)
    assert d.addr(CALLEE)  # the standard world is in place


# --- the caller's storage cache across a call (hostops.run_lean_call, docs/calls.md) --------
@pytest.fixture
def sload_misses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    from pyevm_jit.evm import hostops, run

    yield count_calls(monkeypatch, run, "run_lean_sload", hostops.run_lean_sload)


WRITER = bytes.fromhex("00000000000000000000000000000000000c0de5")  # SSTORE(5, 77), STOP


def _cache_world() -> dict[bytes, Any]:
    from pyevm_jit.testing.account import Account

    return {**WORLD, WRITER: Account(code=asm(77, 5, "SSTORE", "STOP"))}


@pytest.mark.parametrize("fork", ["istanbul", "berlin", "cancun"])
@pytest.mark.parametrize(
    ("kind", "to", "misses"),
    [
        ("CALL", WRITER, 1),  # writes its own slot 5: the caller's cache stays
        ("STATICCALL", WRITER, 1),  # fails at its write: nothing written
        ("CALLCODE", WRITER, 2),  # writes the caller's slot 5: read again
        ("DELEGATECALL", WRITER, 2),
        ("CALL", d.RICH, 1),  # no code
        ("CALL", (4).to_bytes(20, "big"), 1),  # the identity precompile
    ],
)
def test_the_callers_storage_cache_across_a_call(
    fork: str, kind: str, to: bytes, misses: int, sload_misses: list[int]
) -> None:
    """SLOAD, the call, SLOAD and SSTORE of the same slot: the second read misses only when
    the call wrote the caller's storage."""
    if not _supports(fork, kind):
        pytest.skip(f"no {kind} in {fork}")
    args: list[Any] = [0, 0, 0, 0]
    if kind in ("CALL", "CALLCODE"):
        args.append(0)
    code = asm(5, "SLOAD", *args, d.addr(to), "GAS", kind,
               5, "SLOAD", "DUP1", 1, "ADD", 5, "SSTORE", 1, "SSTORE", 2, "SSTORE")  # fmt: skip
    scenario = Scenario(code=code, fork=fork, accounts=_cache_world(), storage={5: 3})
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    before = sload_misses[0]
    d.run_jit(scenario)
    assert sload_misses[0] - before == misses


@pytest.mark.parametrize("fork", ["berlin", "cancun"])
def test_the_callers_cache_after_a_reentrant_write(fork: str, sload_misses: list[int]) -> None:
    """The callee calls back into the caller, which writes its slot (then maybe reverts)."""
    for end in (["STOP"], [0, 0, "REVERT"]):
        inner = [88, 5, "SSTORE", *end]
        outer = [
            5, "SLOAD", "POP", 0, 0, 32, 0, 0, "ADDRESS", "GAS", "CALL",
            5, "SLOAD", 1, "SSTORE", 2, "SSTORE",
        ]  # fmt: skip
        code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, "STOP", Label("inner"), *inner)
        scenario = Scenario(code=code, fork=fork, accounts=WORLD, storage={5: 3})
        stock, jit = d.run_both(scenario)
        assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
        assert stock.accounts[d.CONTRACT].storage[1] == (88 if end == ["STOP"] else 3)


READER = bytes.fromhex("00000000000000000000000000000000000c0de6")  # returns its slot 0


@pytest.mark.parametrize(("fork", "misses"), [("istanbul", 3), ("berlin", 1), ("cancun", 1)])
def test_a_callee_starts_with_the_slots_read_before(
    fork: str, misses: int, sload_misses: list[int]
) -> None:
    """The same callee called three times: from Berlin on its slot is warm after the first
    call and its frame starts with it (hostops.seed_storage); before Berlin it is read again."""
    from pyevm_jit.testing.account import Account

    world = {**WORLD, READER: Account(code=asm(0, "SLOAD", 0, "MSTORE", 32, 0, "RETURN"),
                                      storage={0: 41})}  # fmt: skip
    call = [32, 0, 0, 0, 0, d.addr(READER), "GAS", "CALL", 0, "MLOAD", "ADD", "ADD"]
    code = asm(0, *call, *call, *call, 0, "SSTORE")
    scenario = Scenario(code=code, fork=fork, accounts=world)
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert stock.accounts[d.CONTRACT].storage[0] == 3 * 41 + 3
    before = sload_misses[0]
    d.run_jit(scenario)
    assert sload_misses[0] - before == misses
