"""A customised VM is never silently bypassed (issue 25): every override, hook and patch either
runs as stock py-evm runs it, or the native path is off for what it customises.

Each test runs one transaction through a customised Cancun VM with py-evm's interpreter and
through `jit_vm` of the same VM (a blocking backend: every contract is compiled before it
runs), in the same process, and asserts equal outcomes (status, error, gas, refund, output,
logs, state root, accounts), equal call counts of the customisation, and whether native code
ran (the backend's statistics: the decision the rule asks for).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth.db.account import AccountDB
from eth.exceptions import OutOfGas, WriteProtection
from eth.vm.forks import CancunVM
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode, as_opcode

from pyevm_jit import JitBackend, RuntimeConfig, jit_vm
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import Scenario

SLOAD, SSTORE, TLOAD, TSTORE = 0x54, 0x55, 0x5C, 0x5D
ADD, TIMESTAMP, NUMBER, BLOCKHASH = 0x01, 0x42, 0x43, 0x40


@dataclass
class Run:
    stock: d.Outcome
    jit: d.Outcome
    native: int  # messages that ran native code (backend lookup hits)
    ineligible: int  # messages interpreted because the VM is customised


def custom_vm(
    computation: type = CancunComputation,
    state: type = CancunState,
    opcodes: dict[int, Any] | None = None,
) -> type:
    """A Cancun VM with these computation and state classes (and opcode replacements)."""
    if opcodes:
        computation = computation.configure(  # type: ignore[attr-defined]
            __name__="Custom" + computation.__name__, opcodes={**computation.opcodes, **opcodes}
        )
    state = state.configure(__name__="CustomState", computation_class=computation)  # type: ignore[attr-defined]
    return CancunVM.configure(__name__="CustomVM", _state_class=state)  # type: ignore[no-any-return]


@pytest.fixture
def backend() -> Iterator[JitBackend]:
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as b:
        yield b


def run(backend: JitBackend, vm: type, scenario: Scenario, *, jit_class: type | None = None) -> Run:
    """`scenario` on `vm` (stock) and on `jit_class` (default `jit_vm(vm, backend)`)."""
    stock = d.execute(scenario, vm)
    jit_class = jit_class if jit_class is not None else jit_vm(vm, backend)
    before = backend.stats()
    jit = d.execute(scenario, jit_class)
    after = backend.stats()
    reason = "Ineligible"
    return Run(
        stock,
        jit,
        after.lookup_hits - before.lookup_hits,
        after.misses_by_reason.get(reason, 0) - before.misses_by_reason.get(reason, 0),
    )


def same(result: Run) -> None:
    diffs = d.compare(result.stock, result.jit)
    assert diffs == [], diffs
    assert result.stock.status != "crash", result.stock.detail


def words(*values: int) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


# --- 1. computation and state methods that native code replaces ---------------------------------
def test_overridden_apply_computation_is_called(backend: JitBackend) -> None:
    """A policy hook around each message (here it counts them): it runs for every message, so
    the class's messages are interpreted (its own apply_computation calls py-evm's loop)."""
    calls: list[int] = []

    class Hooked(CancunComputation):
        @classmethod
        def apply_computation(
            cls, state: Any, message: Any, context: Any, parent_computation: Any = None
        ) -> Any:
            calls.append(message.depth)
            return super().apply_computation(state, message, context, parent_computation)

    code = asm(
        "CALLDATASIZE", Ref("child"), "JUMPI",
        0, 0, 1, 0, 0, "ADDRESS", 50_000, "CALL", 1, 2, "ADD", *return_stack(2),
        Label("child"), "STOP",
    )  # fmt: skip
    result = run(backend, custom_vm(Hooked), Scenario(code=code))
    same(result)
    assert calls[: len(calls) // 2] == calls[len(calls) // 2 :] == [0, 1]
    assert result.native == 0 and result.ineligible == 2


def test_apply_computation_of_a_subclass_of_the_jit_class_runs_around_native_code(
    backend: JitBackend,
) -> None:
    """A hook in a subclass of the JIT class runs first and calls the JIT's apply_computation
    (py-evm's behaviour, run natively), as its super()."""
    calls: list[int] = []
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    jit_computation = jit._state_class.computation_class  # type: ignore[attr-defined]

    class Hooked(jit_computation):  # type: ignore[misc,valid-type]
        @classmethod
        def apply_computation(
            cls, state: Any, message: Any, context: Any, parent_computation: Any = None
        ) -> Any:
            calls.append(message.depth)
            return super().apply_computation(state, message, context, parent_computation)

    state = jit._state_class.configure(computation_class=Hooked)  # type: ignore[attr-defined]
    hooked = jit.configure(__name__="HookedVM", _state_class=state)  # type: ignore[attr-defined]
    result = run(backend, vm, Scenario(code=asm(1, 2, "ADD", *return_stack(1))), jit_class=hooked)
    same(result)
    assert calls == [0] and result.native == 1


def test_overridden_consume_gas_reprices(backend: JitBackend) -> None:
    """A repricing consume_gas (one more gas for every charge): gas is the VM's, interpreted."""
    charges: list[str] = []

    class Repriced(CancunComputation):
        def consume_gas(self, amount: int, reason: str) -> None:
            charges.append(reason)
            super().consume_gas(amount + 1, reason)

    code = asm(1, 2, "ADD", 0, "MSTORE", 0, "SLOAD", *return_stack(1))
    result = run(backend, custom_vm(Repriced), Scenario(code=code, storage={0: 4}))
    same(result)
    assert charges[: len(charges) // 2] == charges[len(charges) // 2 :] and charges
    assert result.native == 0 and result.ineligible == 1


@pytest.mark.parametrize("capped", ["extend_memory", "memory class"])
def test_capped_memory(backend: JitBackend, capped: str) -> None:
    """Memory capped at 64 bytes, by an overridden extend_memory or a Memory subclass: stock
    fails past the cap, and so must the JIT; the computation keeps the VM's memory object."""

    class CappedMemory(Memory):
        def extend(self, start_position: int, size: int) -> None:
            if size and start_position + size > 64:
                raise OutOfGas("memory cap")
            super().extend(start_position, size)

    if capped == "extend_memory":

        class Capped(CancunComputation):
            def extend_memory(self, start_position: int, size: int) -> None:
                if size and start_position + size > 64:
                    raise OutOfGas("memory cap")
                super().extend_memory(start_position, size)

    else:

        class Capped(CancunComputation):  # type: ignore[no-redef]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._memory = CappedMemory()

    code = asm(7, 0, "MSTORE", 8, 100, "MSTORE", *return_stack(0))
    result = run(backend, custom_vm(Capped), Scenario(code=code))
    same(result)
    assert result.stock.error == "OutOfGas" and "memory cap" in result.stock.detail
    assert result.jit.detail == result.stock.detail
    assert result.native == 0 and result.ineligible == 1


def test_memory_class_kept_after_the_message(backend: JitBackend) -> None:
    """The computation holds the memory object its class made, also after a JIT run."""
    seen: list[type] = []

    class MyMemory(Memory):
        pass

    class Mine(CancunComputation):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._memory = MyMemory()

        @classmethod
        def apply_message(cls, *args: Any, **kwargs: Any) -> Any:
            computation = super().apply_message(*args, **kwargs)
            seen.append(type(computation._memory))
            return computation

    result = run(backend, custom_vm(Mine), Scenario(code=asm(5, 0, "MSTORE", *return_stack(0))))
    same(result)
    assert seen == [MyMemory, MyMemory]


def test_state_whose_storage_is_always_cold(backend: JitBackend) -> None:
    """is_storage_warm always answers cold: every SLOAD and SSTORE pays the cold price, also
    for slots native code has cached."""
    asked: list[int] = []

    class AlwaysCold(CancunState):
        def is_storage_warm(self, address: bytes, slot: int) -> bool:
            asked.append(slot)
            return False

    code = asm(0, "SLOAD", 0, "SLOAD", 5, 0, "SSTORE", 0, "SLOAD", "GAS", *return_stack(4))
    result = run(backend, custom_vm(state=AlwaysCold), Scenario(code=code, storage={0: 3}))
    same(result)
    assert asked[: len(asked) // 2] == asked[len(asked) // 2 :] and len(asked) >= 8
    assert result.native == 1


def test_state_that_pins_a_slot(backend: JitBackend) -> None:
    """get_storage answers 7 for slot 0 whatever was written: a read after a native SSTORE
    must ask the state."""

    class Pinned(CancunState):
        def get_storage(self, address: bytes, slot: int, from_journal: bool = True) -> int:
            if slot == 0:
                return 7
            return super().get_storage(address, slot, from_journal)

    code = asm(5, 0, "SSTORE", 0, "SLOAD", 6, 1, "SSTORE", 1, "SLOAD", *return_stack(2))
    result = run(backend, custom_vm(state=Pinned), Scenario(code=code))
    same(result)
    assert result.stock.output == words(6, 7)  # top of the stack first
    assert result.native == 1


@pytest.mark.parametrize("where", ["state", "account_db", "account_db_base"])
def test_storage_method_patched_after_messages_is_asked(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """get_storage patched on the JIT state class, on its account database class or on py-evm's
    AccountDB below it, after messages ran natively (the pair of classes found exact and kept):
    the next message's storage goes through py-evm's opcodes, which ask the patched method."""
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    code = asm(0, "SLOAD", 5, 1, "SSTORE", 1, "SLOAD", "GAS", *return_stack(3))
    scenario = Scenario(code=code, storage={0: 3})
    same(run(backend, vm, scenario, jit_class=jit))
    same(run(backend, vm, scenario, jit_class=jit))  # the exact pair is kept by now
    state_class = jit._state_class  # type: ignore[attr-defined]
    owner = {
        "state": state_class,
        "account_db": state_class.account_db_class,
        "account_db_base": AccountDB,  # py-evm's, below the JIT's database mixins
    }[where]
    asked: list[tuple[int, bool]] = []
    original = owner.get_storage

    def get_storage(self: Any, address: bytes, slot: int, from_journal: bool = True) -> int:
        asked.append((slot, from_journal))
        return original(self, address, slot, from_journal)  # type: ignore[no-any-return]

    monkeypatch.setattr(owner, "get_storage", get_storage)
    result = run(backend, vm, scenario, jit_class=jit)
    same(result)
    assert result.native == 1
    # py-evm's opcodes, in order: SLOAD 0; SSTORE 1 (current value, then the original for net
    # metering); SLOAD 1 (none answered natively)
    assert asked[:4] == [(0, True), (1, True), (1, False), (1, True)], asked


def test_patched_mark_storage_warm_runs_for_every_access(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """py-evm's _mark_storage_warm replaced (a tracer): the same slot read four times calls it
    four times, as py-evm's SLOAD does."""
    calls: list[int] = []
    original = berlin_logic._mark_storage_warm

    def recording(computation: Any, slot: int) -> bool:
        calls.append(slot)
        return original(computation, slot)  # type: ignore[no-any-return]

    monkeypatch.setattr(berlin_logic, "_mark_storage_warm", recording)
    code = asm(3, "SLOAD", 3, "SLOAD", 3, "SLOAD", 3, "SLOAD", *return_stack(4))
    result = run(backend, custom_vm(), Scenario(code=code, storage={3: 1}))
    same(result)
    assert calls == [3] * 8
    assert result.native == 1


# --- 2. an opcode object patched in place after the JIT class's first message ------------------
@pytest.mark.parametrize("attribute", ["logic_fn", "gas_cost"])
def test_own_opcode_object_patched_in_place(backend: JitBackend, attribute: str) -> None:
    """The VM's table holds its own SLOAD object (py-evm's logic and gas); after the first
    message its logic or gas is replaced in place: the next message runs the new one."""
    stock_sload = CancunComputation.opcodes[SLOAD]
    mine = _FastOpcode(stock_sload.logic_fn, stock_sload.mnemonic, stock_sload.gas_cost)
    vm = custom_vm(opcodes={SLOAD: mine})
    jit = jit_vm(vm, backend)
    code = asm(0, "SLOAD", 0, "SLOAD", 1, "SLOAD", "GAS", *return_stack(4))
    scenario = Scenario(code=code, storage={0: 3, 1: 4})
    same(run(backend, vm, scenario, jit_class=jit))  # the plan for the table is cached now

    def sload_plus_one(computation: Any) -> None:
        slot = computation.stack_pop1_int()
        value = computation.state.get_storage(computation.msg.storage_address, slot)
        computation.stack_push_int(value + 1)

    if attribute == "logic_fn":
        mine.logic_fn = sload_plus_one
    else:
        mine.gas_cost = 5
    result = run(backend, vm, scenario, jit_class=jit)
    same(result)
    assert result.stock.output != run(backend, custom_vm(), scenario).stock.output
    assert result.native == 1


@pytest.mark.parametrize("attribute", ["logic_fn", "gas_cost"])
def test_pyevms_own_opcode_patched_in_place(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch, attribute: str
) -> None:
    """py-evm's own ADD object of the Cancun table patched in place (a patch of py-evm for
    every VM of the process): a JIT class judging its table afterwards interprets ADD's
    messages. (A patch made after a class's plan was made is not seen: lean/exact.py.)"""
    vm = custom_vm()
    scenario = Scenario(code=asm(7, 2, "ADD", "GAS", *return_stack(2)))
    same(run(backend, vm, scenario))
    add = CancunComputation.opcodes[ADD]

    def sub(computation: Any) -> None:
        left, right = computation.stack_pop_ints(2)
        computation.stack_push_int((left - right) % 2**256)

    monkeypatch.setattr(add, attribute, sub if attribute == "logic_fn" else 4)
    result = run(backend, custom_vm(), scenario)
    same(result)
    assert result.native == 0 and result.ineligible == 1


def _subtract(computation: Any) -> None:
    left, right = computation.stack_pop_ints(2)
    computation.stack_push_int((left - right) % 2**256)


@pytest.mark.parametrize("attribute", ["logic_fn", "gas_cost"])
def test_pyevms_own_arithmetic_opcode_patched_in_place_after_the_plan(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch, attribute: str
) -> None:
    """py-evm's own ADD object patched in place after a JIT class ran its first message (its
    plan for the table is cached): the class's next message sees the patch (interpreted: ADD
    is native code), and once the patch is undone, runs native code again."""
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    scenario = Scenario(code=asm(7, 2, "ADD", "GAS", *return_stack(2)))
    first = run(backend, vm, scenario, jit_class=jit)
    same(first)
    assert first.native == 1
    add = CancunComputation.opcodes[ADD]
    monkeypatch.setattr(add, attribute, _subtract if attribute == "logic_fn" else 4)
    patched = run(backend, vm, scenario, jit_class=jit)
    same(patched)
    assert patched.stock.output != first.stock.output
    assert patched.native == 0 and patched.ineligible == 1
    monkeypatch.undo()
    again = run(backend, vm, scenario, jit_class=jit)
    same(again)
    assert again.stock.output == first.stock.output and again.native == 1


def test_pyevms_opcode_class_call_patched_after_the_plan(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """py-evm's opcode class gets another __call__ (one more gas for every instruction) after
    a JIT class's first message: its next message is interpreted."""
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    scenario = Scenario(code=asm(7, 2, "ADD", "GAS", *return_stack(2)))
    first = run(backend, vm, scenario, jit_class=jit)
    same(first)
    assert first.native == 1
    stock_call = _FastOpcode.__call__

    def dearer(self: Any, computation: Any) -> Any:
        computation.consume_gas(1, "surcharge")
        return stock_call(self, computation)

    monkeypatch.setattr(_FastOpcode, "__call__", dearer)
    patched = run(backend, vm, scenario, jit_class=jit)
    same(patched)
    assert patched.stock.gas_used != first.stock.gas_used
    assert patched.native == 0 and patched.ineligible == 1


def test_pyevms_opcode_class_traced_sees_the_stop_of_a_call_without_code(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracer on py-evm's opcode class sees every instruction py-evm runs, also the STOP
    py-evm's loop runs for a call to an account without code."""
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    code = asm(0, 0, 0, 0, 0, 0xDEAD, 50_000, "CALL", *return_stack(1))
    scenario = Scenario(code=code)
    same(run(backend, vm, scenario, jit_class=jit))
    traced: list[str] = []
    stock_call = _FastOpcode.__call__

    def tracer(self: Any, computation: Any) -> Any:
        traced.append(self.mnemonic)
        return stock_call(self, computation)

    monkeypatch.setattr(_FastOpcode, "__call__", tracer)
    result = run(backend, vm, scenario, jit_class=jit)
    same(result)
    half = len(traced) // 2
    assert traced[:half] == traced[half:] and traced[:half].count("STOP") == 1


@pytest.mark.parametrize("op", [SLOAD, SSTORE])
def test_pyevms_own_state_opcode_patched_in_place_after_the_plan(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch, op: int
) -> None:
    """py-evm's own SLOAD or SSTORE object gets a hook in place after a JIT class's first
    message: the hook runs for every such instruction of the next message (a host operation;
    the rest of the program stays native)."""
    vm = custom_vm()
    jit = jit_vm(vm, backend)
    code = asm(0, "SLOAD", 0, "SLOAD", 5, 0, "SSTORE", 0, "SLOAD", "GAS", *return_stack(4))
    scenario = Scenario(code=code, storage={0: 3})
    first = run(backend, vm, scenario, jit_class=jit)
    same(first)
    assert first.native == 1
    entry = CancunComputation.opcodes[op]
    logic = entry.logic_fn
    seen: list[int] = []

    def hooked(computation: Any) -> Any:
        seen.append(computation.code.program_counter)
        if op == SLOAD:
            logic(computation)
            computation.stack_push_int(computation.stack_pop1_int() + 1)
            return None
        return logic(computation)

    monkeypatch.setattr(entry, "logic_fn", hooked)
    patched = run(backend, vm, scenario, jit_class=jit)
    same(patched)
    assert seen and seen[: len(seen) // 2] == seen[len(seen) // 2 :]
    assert len(seen) == 2 * (3 if op == SLOAD else 1)
    assert patched.native == 1


# --- 3. logic wrapped with functools.wraps around py-evm's ------------------------------------
def wrapped_opcode(op: int, before: Callable[[Any], None]) -> Any:
    """py-evm's opcode `op` with its logic wrapped (functools.wraps) by a hook."""
    stock = CancunComputation.opcodes[op]
    logic = stock.logic_fn

    @functools.wraps(logic)
    def hooked(computation: Any) -> Any:
        before(computation)
        return logic(computation)

    return as_opcode(logic_fn=hooked, mnemonic=stock.mnemonic, gas_cost=stock.gas_cost)


@pytest.mark.parametrize("op", [SLOAD, SSTORE, TLOAD])
def test_wrapped_logic_is_a_hook_that_runs(backend: JitBackend, op: int) -> None:
    seen: list[int] = []
    hooked = wrapped_opcode(op, lambda computation: seen.append(computation.code.program_counter))
    code = asm(
        0, "SLOAD", 0, "SLOAD", 5, 0, "SSTORE", 6, 0, "SSTORE", 0, "SLOAD",
        2, 1, "TSTORE", 1, "TLOAD", 1, "TLOAD", *return_stack(5),
    )  # fmt: skip
    result = run(backend, custom_vm(opcodes={op: hooked}), Scenario(code=code, storage={0: 3}))
    same(result)
    assert seen and seen[: len(seen) // 2] == seen[len(seen) // 2 :]
    assert result.native == 1


def test_wrapped_sstore_that_refuses_a_write(backend: JitBackend) -> None:
    """A policy hook around SSTORE that refuses writes to slot 1: stock fails there."""

    def refuse(computation: Any) -> None:
        slot = computation._stack.values[-1]  # an int or bytes, as py-evm keeps its words
        if (slot if isinstance(slot, int) else int.from_bytes(slot, "big")) == 1:
            raise WriteProtection("slot 1 is read-only")

    hooked = wrapped_opcode(SSTORE, refuse)
    code = asm(5, 0, "SSTORE", 6, 1, "SSTORE", *return_stack(0))
    result = run(backend, custom_vm(opcodes={SSTORE: hooked}), Scenario(code=code))
    same(result)
    assert result.stock.error == "WriteProtection"
    assert result.native == 1


# --- 4. environment opcodes ---------------------------------------------------------------------
def test_environment_opcode_with_its_own_call(backend: JitBackend) -> None:
    """A replaced TIMESTAMP that is an object with its own __call__ (no logic_fn)."""

    class FixedTime:
        mnemonic = "TIMESTAMP"
        gas_cost = 2

        def __call__(self, computation: Any) -> None:
            computation.consume_gas(self.gas_cost, self.mnemonic)
            computation.stack_push_int(1234)

    code = asm("TIMESTAMP", "NUMBER", *return_stack(2))
    result = run(backend, custom_vm(opcodes={TIMESTAMP: FixedTime()}), Scenario(code=code))
    same(result)
    assert result.stock.output[32:] == words(1234)  # top of the stack first


def test_stateful_environment_getter_runs_once_per_execution(backend: JitBackend) -> None:
    """NUMBER's logic counts its calls per transaction (per state) and pushes the count: three
    NUMBERs give 1, 2, 3."""
    calls: dict[int, list[Any]] = {}

    def number(computation: Any) -> None:
        seen = calls.setdefault(id(computation.state), [computation.state])
        seen.append(1)
        computation.stack_push_int(len(seen) - 1)

    opcode = as_opcode(logic_fn=number, mnemonic="NUMBER", gas_cost=2)
    code = asm("NUMBER", "NUMBER", "NUMBER", *return_stack(3))
    result = run(backend, custom_vm(opcodes={NUMBER: opcode}), Scenario(code=code))
    same(result)
    assert result.stock.output == words(3, 2, 1)  # top of the stack first
    assert result.native == 1


def test_cheat_code_moves_the_timestamp_mid_message(backend: JitBackend) -> None:
    """A cheat code (BLOCKHASH replaced, same gas) moves the block's timestamp: a TIMESTAMP
    after it reads the new value, with py-evm's own TIMESTAMP opcode."""
    stock_blockhash = CancunComputation.opcodes[BLOCKHASH]

    def warp(computation: Any) -> None:
        computation.stack_pop1_int()
        context = computation.state.execution_context
        context._timestamp += 1000
        computation.stack_push_int(0)

    opcode = as_opcode(logic_fn=warp, mnemonic="BLOCKHASH", gas_cost=stock_blockhash.gas_cost)
    code = asm("TIMESTAMP", 0, "BLOCKHASH", "POP", "TIMESTAMP", *return_stack(2))
    result = run(backend, custom_vm(opcodes={BLOCKHASH: opcode}), Scenario(code=code))
    same(result)
    second, first = result.stock.output[:32], result.stock.output[32:]
    assert int.from_bytes(second, "big") == int.from_bytes(first, "big") + 1000
    assert result.native == 1
