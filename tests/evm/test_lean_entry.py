"""The lean `apply_message` of JIT computation classes (`evm.entry`, issue 24): the same outcome
as the stock interpreter in the same process, and py-evm's own `apply_message` (or the state's
own snapshot methods) wherever a class or a state customises them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks.frontier.computation import FrontierComputation
from eth.vm.state import BaseState

from pyevm_jit import JitBackend, RuntimeConfig, jit_vm
from pyevm_jit.evm import computation as jit_computation
from pyevm_jit.evm import entry
from pyevm_jit.forks import fork_vm
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm, return_stack
from pyevm_jit.testing.differential import CALLEE, REVERTER, Scenario


@pytest.fixture
def backend() -> Iterator[JitBackend]:
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as b:
        yield b


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Depths of the messages that took the lean entry."""
    seen: list[int] = []
    lean = entry.apply_message

    def counting(cls: Any, apply: Any, verdict: Any, state: Any, message: Any, *rest: Any) -> Any:
        seen.append(message.depth)
        return lean(cls, apply, verdict, state, message, *rest)

    monkeypatch.setattr(entry, "apply_message", counting)
    return seen


def _call(target: bytes, value: int = 0) -> list[Any]:
    """CALL `target` with `value`, 32 bytes of calldata (7) and the output kept at 0."""
    return [7, 0, "MSTORE", 32, 0, 32, 0, value, int.from_bytes(target, "big"), "GAS", "CALL"]


# a TSTORE, a child that stores, logs and returns, a child that reverts, a value transfer
# to a child, storage written and the child's outputs returned
CODE = asm(
    5, 9, "TSTORE",
    *_call(CALLEE), *_call(REVERTER), *_call(CALLEE, 3),
    9, "TLOAD", "ADD", "ADD", "ADD", 1, "SSTORE", 0, "MLOAD", *return_stack(1),
)  # fmt: skip
PRE_CANCUN = asm(
    *_call(CALLEE), *_call(REVERTER), *_call(CALLEE, 3), "ADD", "ADD", 1, "SSTORE",
    0, "MLOAD", *return_stack(1),
)  # fmt: skip
SCENARIOS = {
    "calls": lambda fork: Scenario(
        code=CODE if fork in ("cancun", "prague") else PRE_CANCUN, fork=fork, value=10,
        balance=100, accounts=d.standard_accounts(),
    ),
    "revert": lambda fork: Scenario(code=asm(1, 0, "SSTORE", 0, 0, "REVERT"), fork=fork),
    "out of gas": lambda fork: Scenario(code=asm(1, 0, "SSTORE", "INVALID"), fork=fork),
    "value": lambda fork: Scenario(code=asm("CALLVALUE", *return_stack(1)), fork=fork, value=5),
}  # fmt: skip


def _same_calls(scenario: Any, backend: JitBackend, calls: list[Any]) -> None:
    """`scenario` on stock and JIT VMs: the same outcome, native messages, and the same
    non-empty list of recorded `calls`."""
    stock = d.run_stock(scenario)
    stock_calls = list(calls)
    calls.clear()
    jit = d.run_jit(scenario, backend)
    assert d.compare(stock, jit) == [] and jit.native_messages
    assert calls == stock_calls and calls


@pytest.mark.parametrize("fork", ["berlin", "london", "shanghai", "cancun", "prague"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_lean_entry_matches_the_interpreter(
    backend: JitBackend, lean_calls: list[int], fork: str, name: str
) -> None:
    scenario = SCENARIOS[name](fork)
    stock, jit = d.run_stock(scenario), d.run_jit(scenario, backend)
    assert d.compare(stock, jit) == []
    assert jit.native_messages
    assert 0 in lean_calls  # the transaction's message took the lean entry
    if name == "calls":
        assert 1 in lean_calls  # and its children
    jit_class = jit_vm(fork_vm(fork), backend)
    state_class: Any = jit_class._state_class  # type: ignore[attr-defined]
    assert jit_computation._class_verdicts.get(state_class.computation_class)[5]
    kind = entry.CANCUN if fork in ("cancun", "prague") else entry.BASE
    assert entry.state_kinds.get(state_class) == kind


def test_pinned_objects_are_pyevms() -> None:
    # py-evm 0.12.1b1: every object the lean entry reproduces is the version it was written
    # against (else every message takes py-evm's path: still correct, not lean)
    assert entry.APPLY_MESSAGE is FrontierComputation.__dict__["apply_message"]
    assert entry._BASE[0] is BaseState.snapshot and entry._BASE[3] is BaseState.state_root


def _counting(calls: list[str], name: str, method: Any) -> Any:
    def counted(self: Any, *args: Any) -> Any:
        calls.append(name)
        return method(self, *args)

    return counted


def test_state_class_with_own_snapshot_methods_runs_them(
    backend: JitBackend, lean_calls: list[int]
) -> None:
    scenario = SCENARIOS["calls"]("cancun")
    counts: dict[str, list[str]] = {}
    outcomes = []
    for side in ("stock", "jit"):
        calls = counts.setdefault(side, [])
        vm = fork_vm("cancun")
        own = {
            name: _counting(calls, name, getattr(vm._state_class, name))  # type: ignore[attr-defined]
            for name in ("snapshot", "commit", "revert", "touch_account")
        }
        state = vm._state_class.configure(__name__="OwnState", **own)  # type: ignore[attr-defined]
        vm = vm.configure(__name__="OwnVM", _state_class=state)
        if side == "jit":
            vm = jit_vm(vm, backend)
        outcomes.append(d.execute(scenario, vm))
    assert d.compare(*outcomes) == []
    assert counts["jit"] == counts["stock"] and "touch_account" in counts["stock"]
    assert lean_calls  # the lean entry ran, with the state's own methods


def test_state_method_patched_after_messages_is_called(
    backend: JitBackend, lean_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = SCENARIOS["calls"]("cancun")
    assert d.compare(d.run_stock(scenario), d.run_jit(scenario, backend)) == []
    calls: list[str] = []
    monkeypatch.setattr(
        BaseState, "touch_account", _counting(calls, "touch", BaseState.touch_account)
    )
    _same_calls(scenario, backend, calls)


def test_state_method_set_on_the_instance_is_called(backend: JitBackend) -> None:
    jit_class = jit_vm(fork_vm("cancun"), backend)
    scenario = Scenario(code=asm(1, 0, "SSTORE", "STOP"))
    state = d.build_state(scenario, jit_class)
    calls: list[str] = []
    state.commit = _counting(calls, "commit", type(state).commit).__get__(state)
    computation = _apply_message(state, scenario)
    assert computation.is_success and calls == ["commit"]


def _apply_message(state: Any, scenario: Scenario) -> Any:
    from eth.vm.message import Message
    from eth_typing import Address

    context = state.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
    message = Message(
        gas=100_000, to=Address(d.CONTRACT), sender=Address(d.SENDER), value=0, data=b"",
        code=state.get_code(d.CONTRACT),
    )  # fmt: skip
    return state.computation_class.apply_message(state, message, context)


def test_computation_with_own_apply_message_runs_it(
    backend: JitBackend, lean_calls: list[int]
) -> None:
    calls: list[int] = []
    vm = fork_vm("cancun")
    base: Any = vm._state_class.computation_class  # type: ignore[attr-defined]

    class Own(base):
        @classmethod
        def apply_message(cls, state: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(message.depth)
            return super().apply_message(state, message, *args, **kwargs)

    state = vm._state_class.configure(__name__="OwnState", computation_class=Own)  # type: ignore[attr-defined]
    vm = vm.configure(__name__="OwnVM", _state_class=state)
    scenario = SCENARIOS["calls"]("cancun")
    stock = d.execute(scenario, vm)
    stock_calls = list(calls)
    calls.clear()
    jit = d.execute(scenario, jit_vm(vm, backend))
    assert d.compare(stock, jit) == []
    assert calls == stock_calls and 1 in calls
    assert not lean_calls  # py-evm's apply_message, below the class's own


def test_jit_subclass_with_own_apply_computation_runs_it(
    backend: JitBackend, lean_calls: list[int]
) -> None:
    calls: list[int] = []
    jit_class = jit_vm(fork_vm("cancun"), backend)
    state_class: Any = jit_class._state_class  # type: ignore[attr-defined]

    class Own(state_class.computation_class):
        @classmethod
        def apply_computation(cls, state: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(message.depth)
            return super().apply_computation(state, message, *args, **kwargs)

    state = state_class.configure(__name__="OwnState", computation_class=Own)
    vm = jit_class.configure(__name__="OwnVM", _state_class=state)  # type: ignore[attr-defined]
    scenario = SCENARIOS["calls"]("cancun")
    assert d.compare(d.run_stock(scenario), d.execute(scenario, vm)) == []
    assert 0 in calls and 1 in calls
    assert not lean_calls


def test_pyevm_apply_message_patched_after_messages_is_called(
    backend: JitBackend, lean_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = SCENARIOS["calls"]("cancun")
    assert d.compare(d.run_stock(scenario), d.run_jit(scenario, backend)) == []
    assert lean_calls
    original = FrontierComputation.__dict__["apply_message"].__func__
    calls: list[int] = []

    def patched(cls: Any, state: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(message.depth)
        return original(cls, state, message, *args, **kwargs)

    monkeypatch.setattr(FrontierComputation, "apply_message", classmethod(patched))
    lean_calls.clear()
    _same_calls(scenario, backend, calls)
    assert not lean_calls


def test_kept_entry_of_a_code_object_sees_an_opcode_patched_in_place(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up request and guard kept for a code object (`TablePlan.entries`): messages of
    the very same code object after an entry it holds was patched in place run the patch, as
    the interpreter does, and run native code again once it is undone."""
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.message import Message
    from eth_typing import Address

    add = 0x01
    scenario = Scenario(code=asm(7, 2, "ADD", *return_stack(1)))
    states = {
        side: d.build_state(scenario, vm)
        for side, vm in (("stock", fork_vm("cancun")), ("jit", jit_vm(fork_vm("cancun"), backend)))
    }
    code = scenario.code

    def outputs() -> tuple[bytes, bytes, int]:
        found = []
        hits = backend.stats().lookup_hits
        for side in ("stock", "jit"):
            state = states[side]
            context = state.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
            message = Message(
                gas=100_000, to=Address(d.CONTRACT), sender=Address(d.SENDER), value=0,
                data=b"", code=code,
            )  # fmt: skip
            computation = state.computation_class.apply_message(state, message, context)
            found.append((computation.output, computation.get_gas_remaining()))
        assert found[0] == found[1]
        return found[0][0], found[1][0], backend.stats().lookup_hits - hits

    first = outputs()
    assert outputs() == first and first[2] == 1  # the kept entry: native code again
    monkeypatch.setattr(CancunComputation.opcodes[add], "logic_fn", _subtract)
    patched = outputs()
    assert patched[0] != first[0] and patched[2] == 0  # interpreted, with the patch
    monkeypatch.undo()
    assert outputs() == first


def _subtract(computation: Any) -> None:
    left, right = computation.stack_pop_ints(2)
    computation.stack_push_int((left - right) % 2**256)
