"""The lean call's own steps (lean/calls.py with lean/callguard.py) against py-evm, in one
process: quiet gas charges and returns, zero-size memory steps, the account-load charge and code
lookup, the 63/64 rule, the child's results read directly, and the program counter of a parent
whose code stream is not made yet.

Beyond the transaction's outcome (`testing.differential.compare`), the whole computation tree
is compared field by field: every child's message, error, output, return data, gas, logs,
refunds and deletions, and its own children, as tracers and `get_log_entries`,
`get_gas_refund` and `get_accounts_for_deletion` read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.forks.prague import logic as prague_logic
from eth.vm.logic import call as call_logic
from support import count_calls

from pyevm_jit import forks
from pyevm_jit.lean import callguard, calls
from pyevm_jit.opcodes import BY_NAME
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import asm, return_stack
from pyevm_jit.testing.differential import CALLEE, REVERTER, RICH, Scenario, standard_accounts

NOBODY = bytes.fromhex("00000000000000000000000000000000000dead2")
IDENTITY = (4).to_bytes(20, "big")
SHA256 = (2).to_bytes(20, "big")
#: returns 40 bytes (two words: 0x2a, then 0x2b in the first byte of the next) and stops
TALKER = bytes.fromhex("00000000000000000000000000000000000a1c3e")
WORLD = {
    **standard_accounts(),
    TALKER: Account(code=asm(42, 0, "MSTORE", 0x2B << 248, 32, "MSTORE", 40, 0, "RETURN")),
}
OPS = ("CALL", "CALLCODE", "DELEGATECALL", "STATICCALL")
TARGETS = (NOBODY, RICH, IDENTITY, SHA256, CALLEE, REVERTER, TALKER)

_MESSAGE_FIELDS = (
    "gas", "to", "sender", "value", "data", "code", "depth", "code_address", "storage_address",
    "should_transfer_value", "is_static", "is_delegation", "is_create",
)  # fmt: skip


def tree(computation: Any) -> dict[str, Any]:
    """What anything reading a computation sees of it and of its children."""
    msg = computation.msg
    error = computation._error
    return {
        "msg": {name: getattr(msg, name) for name in _MESSAGE_FIELDS},
        "error": (type(error).__name__, str(error)) if error is not None else None,
        "is_error": computation.is_error,
        "output": computation.output,
        "return_data": computation.return_data,
        "gas_remaining": computation.get_gas_remaining(),
        "gas_used": computation.get_gas_used(),
        "gas_refund": computation.get_gas_refund(),
        "logs": computation.get_log_entries(),
        "raw_logs": computation._log_entries,
        "deletions": computation.get_accounts_for_deletion(),
        "beneficiaries": list(computation.beneficiaries),
        "contracts_created": list(computation.contracts_created),
        "children": [tree(child) for child in computation.children],
    }


def run_tree(scenario: Scenario, vm_class: type) -> dict[str, Any]:
    state = d.build_state(scenario, vm_class)
    computation = state.apply_transaction(d.signed_transaction(scenario))
    return {"tree": tree(computation), "root": state.make_state_root()}


@pytest.fixture
def lean_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    yield count_calls(monkeypatch, calls, "call")


def check(scenario: Scenario, lean_count: list[int] | None = None) -> None:
    """The outcome, and the computation tree field by field, as py-evm's; the lean call ran."""
    before = lean_count[0] if lean_count is not None else 0
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert jit.native_messages
    if lean_count is not None:
        assert lean_count[0] > before, "the lean call path did not run"
    expected = run_tree(scenario, forks.fork_vm(scenario.fork))
    assert run_tree(scenario, d.jit_vm_class(scenario.fork)) == expected


def call_items(
    op: str, to: bytes, *, value: int = 0, gas: Any = "GAS", args: Any = (0, 0), out: Any = (0, 0)
) -> list[Any]:
    items: list[Any] = [out[1], out[0], args[1], args[0]]
    if op in ("CALL", "CALLCODE"):
        items.append(value)
    return [*items, int.from_bytes(to, "big"), gas, op]


def program(*calls_: list[Any]) -> bytes:
    """Memory word 0 holds 7; the calls run; their flags, RETURNDATASIZE and the first two
    memory words are returned."""
    items: list[Any] = [7, 0, "MSTORE"]
    for c in calls_:
        items += c
    items += ["RETURNDATASIZE", 32, "MLOAD", 0, "MLOAD"]
    return asm(*items, *return_stack(len(calls_) + 3))


def _supports(fork: str, op: str) -> bool:
    return BY_NAME[op] in forks.valid_opcodes(fork)


@pytest.mark.parametrize("fork", ["tangerine-whistle", "byzantium", "berlin", "cancun", "prague"])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("value", [0, 1])
def test_targets_and_values(fork: str, op: str, value: int, lean_count: list[int]) -> None:
    """Every call opcode to an account without code (existing or not: the new-account fee),
    precompiles, a resident program, a reverting one and one returning data, with and without
    value; memory sizes of 0 and not."""
    if not _supports(fork, op):
        pytest.skip(f"no {op} in {fork}")
    shapes = [((0, 0), (0, 0)), ((0, 32), (0, 32)), ((0, 32), (8, 40))]
    items = [
        call_items(op, target, value=value, args=args, out=out)
        for target in TARGETS
        for args, out in shapes
    ]
    check(Scenario(code=program(*items), fork=fork, accounts=WORLD, balance=100), lean_count)


@pytest.mark.parametrize("fork", ["berlin", "cancun"])
@pytest.mark.parametrize("op", ["CALL", "DELEGATECALL"])
@pytest.mark.parametrize("target", [NOBODY, RICH, IDENTITY, TALKER])
def test_out_of_gas_at_each_charge(fork: str, op: str, target: bytes) -> None:
    """The transaction's gas swept over the call's charges (static gas, cold account load,
    memory, value transfer, new account, the child's gas): the same error (or success) at every
    step as py-evm's, with the same tree."""
    code = program(call_items(op, target, value=1, args=(0, 64), out=(64, 32)))
    scenario = Scenario(code=code, fork=fork, accounts=WORLD, balance=100)
    used = d.run_stock(scenario).gas_used
    cuts = {21_000 + k for k in range(0, used - 21_000 + 1, max(1, (used - 21_000) // 40))}
    for gas in sorted(cuts | {used - 1, used, used + 1}):
        check(scenario.with_(gas=gas))


@pytest.mark.parametrize("fork", ["cancun"])
def test_insufficient_balance_and_requested_gas(fork: str, lean_count: list[int]) -> None:
    """Value beyond the caller's balance (the call fails, its gas comes back); requested gas of
    0, a stipend-sized amount and more than the 63/64 rule leaves."""
    items = [
        call_items("CALL", NOBODY, value=101),
        call_items("CALLCODE", RICH, value=101),
        call_items("CALL", TALKER, gas=0, out=(0, 64)),
        call_items("CALL", TALKER, value=1, gas=0, out=(0, 64)),
        call_items("CALL", CALLEE, gas=2**200),
    ]
    check(Scenario(code=program(*items), fork=fork, accounts=WORLD, balance=100), lean_count)


def test_delegated_accounts(lean_count: list[int]) -> None:
    """Prague: a call to an account holding a delegation designation runs the delegate's code,
    both account loads charged (the second cold, then warm)."""
    delegated = bytes.fromhex("00000000000000000000000000000000000de1e9")
    world = {**WORLD, delegated: Account(code=b"\xef\x01\x00" + TALKER)}
    items = [call_items(op, delegated, out=(0, 64)) for op in OPS] * 2
    check(Scenario(code=program(*items), fork="prague", accounts=world), lean_count)


# --- what the lean call relies on: anything else is called as it is -----------------------------
def _counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    real = getattr(owner, name)
    seen = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return seen


def _called_as_often(scenario: Scenario, seen: list[int], lean_count: list[int]) -> None:
    """The counted function is called at least once by py-evm's run of `scenario`, and as often
    by the JIT's (after `check` compared the two runs and counted lean calls)."""
    d.run_stock(scenario)
    stock, seen[0] = seen[0], 0
    assert stock
    check(scenario, lean_count)
    seen[0] = 0
    d.run_jit(scenario)
    assert seen[0] == stock


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (berlin_logic, "_mark_address_warm"),
        (berlin_logic, "_account_load_cost"),
        (call_logic, "compute_eip150_msg_gas"),
        (call_logic, "max_child_gas_eip150"),
    ],
)
def test_a_replaced_py_evm_function_is_called(
    owner: Any, name: str, monkeypatch: pytest.MonkeyPatch, lean_count: list[int]
) -> None:
    """py-evm's module functions the call's methods use, replaced: the lean call calls the
    opcode's own method, which calls the replacement, as often as py-evm's opcode does."""
    seen = _counted(monkeypatch, owner, name)
    code = program(*(call_items(op, target) for op in OPS for target in (NOBODY, TALKER)))
    scenario = Scenario(code=code, fork="cancun", accounts=WORLD)
    _called_as_often(scenario, seen, lean_count)


def test_a_replaced_delegation_check_is_called(
    monkeypatch: pytest.MonkeyPatch, lean_count: list[int]
) -> None:
    """Prague: the delegation check py-evm's code lookup uses, replaced: the opcode's own
    method runs it, as often as py-evm's opcode does."""
    seen = _counted(monkeypatch, prague_logic, "code_is_delegation_designation")
    delegated = bytes.fromhex("00000000000000000000000000000000000de1e9")
    world = {**WORLD, delegated: Account(code=b"\xef\x01\x00" + TALKER)}
    code = program(*(call_items(op, target) for op in OPS for target in (delegated, TALKER)))
    scenario = Scenario(code=code, fork="prague", accounts=world)
    _called_as_often(scenario, seen, lean_count)


def test_verdicts_on_py_evms_objects() -> None:
    """py-evm's own call opcodes take the inlined steps; a subclass with its own method does
    not; a computation class with its own `output` has its results read through it."""
    table = forks.fork_vm("cancun").get_state_class().computation_class.opcodes
    for op in OPS:
        fn = table[BY_NAME[op]]
        assert callguard.code_lookup_kind(fn) == callguard.CODE_EIP2929
        assert callguard.eip150_stipend(fn) is not None
    prague = forks.fork_vm("prague").get_state_class().computation_class.opcodes
    assert callguard.code_lookup_kind(prague[BY_NAME["CALL"]]) == callguard.CODE_EIP7702
    frontier = forks.fork_vm("frontier").get_state_class().computation_class.opcodes
    assert callguard.code_lookup_kind(frontier[BY_NAME["CALL"]]) == callguard.CODE_OTHER
    assert callguard.eip150_stipend(frontier[BY_NAME["CALL"]]) is None

    call = table[BY_NAME["CALL"]]
    own = type("OwnCall", (type(call),), {"get_code_at_address": lambda self, c, a: (b"", None)})
    assert callguard.code_lookup_kind(object.__new__(own)) == callguard.CODE_OTHER
    own = type("OwnGas", (type(call),), {"compute_msg_gas": lambda self, *a: (0, 0)})
    assert callguard.eip150_stipend(object.__new__(own)) is None

    computation = forks.fork_vm("cancun").get_state_class().computation_class
    assert callguard.plain_child_results(computation)
    mine = type("Mine", (computation,), {"output": property(lambda self: b"mine")})
    assert not callguard.plain_child_results(mine)


def test_a_class_with_its_own_output(lean_count: list[int]) -> None:
    """A computation class whose `output` is its own: the caller reads the child's output
    through it, as py-evm's CALL does."""
    from eth.vm.computation import BaseComputation

    from pyevm_jit.evm.vm import jit_vm

    reads = [0]

    def output(self: Any) -> bytes:
        reads[0] += 1
        return BaseComputation.output.fget(self)  # type: ignore[attr-defined,no-any-return]

    vm = forks.fork_vm("cancun")
    state_class = vm.get_state_class()
    computation = state_class.computation_class.configure(
        __name__="OutputComputation", output=property(output, BaseComputation.output.fset)
    )
    state = state_class.configure(__name__="OutputState", computation_class=computation)
    custom = vm.configure(__name__="OutputVM", _state_class=state)
    jit = jit_vm(custom, d.get_backend())
    scenario = Scenario(
        code=program(call_items("CALL", TALKER, out=(0, 64))), fork="cancun", accounts=WORLD
    )
    before = lean_count[0]
    stock = d.execute(scenario, custom)
    stock_reads, reads[0] = reads[0], 0
    outcome = d.execute(scenario, jit)
    assert d.compare(stock, outcome) == []
    assert lean_count[0] > before
    assert reads[0] >= 1 and stock_reads >= 1
    assert run_tree(scenario, jit) == run_tree(scenario, custom)


def test_the_parents_program_counter_during_the_call(
    monkeypatch: pytest.MonkeyPatch, lean_count: list[int]
) -> None:
    """A code stream of the caller made while its call runs (here by an apply_message that
    reads it) stands where py-evm's stands: after the CALL opcode."""
    from eth.vm.forks.frontier.computation import FrontierComputation

    seen: list[tuple[str, int]] = []
    real = FrontierComputation.apply_message.__func__  # type: ignore[attr-defined]

    def apply_message(cls: Any, state: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
        parent = kwargs.get("parent_computation")
        if parent is not None:
            seen.append((type(parent).__name__[:3], parent.code.program_counter))
        return real(cls, state, message, *args, **kwargs)

    monkeypatch.setattr(FrontierComputation, "apply_message", classmethod(apply_message))
    scenario = Scenario(
        code=program(call_items("CALL", TALKER), call_items("STATICCALL", NOBODY)),
        fork="cancun",
        accounts=WORLD,
    )
    d.run_stock(scenario)
    stock = [pc for _, pc in seen]
    seen.clear()
    check(scenario, lean_count)
    seen.clear()
    d.run_jit(scenario)
    assert [pc for _, pc in seen] == stock and len(stock) == 2
