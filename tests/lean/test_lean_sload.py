"""A SLOAD miss through the lean path (`pyevm_jit.lean.sload`): py-evm's steps on the native word.

Every program runs through the JIT and py-evm's stock interpreter in the same process; outcomes
(status, error class and message, gas, refund, output, logs, state root, accounts) must match,
and the tests check that the lean path actually ran where it should, and not where it must not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.opcode import _FastOpcode, as_opcode
from support import record_charges, run_custom

from pyevm_jit.evm import run as jit_run
from pyevm_jit.forks import fork_vm
from pyevm_jit.lean import sload as lean_sload
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import Scenario

FAMILIES = ("frontier", "byzantium", "constantinople", "petersburg", "istanbul", "berlin",
            "london", "cancun", "prague")  # fmt: skip
NET_METERED = ("constantinople", "istanbul", "berlin", "london", "cancun", "prague")


@pytest.fixture
def lean_sloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Slots read through the lean path, in order (also those whose read raised)."""
    seen: list[int] = []
    original = lean_sload.sload

    def counting(computation: Any, slot: int, journal: Any = None) -> int | None:
        seen.append(slot)
        value = original(computation, slot, journal)
        if value is None:
            seen.pop()
        return value

    monkeypatch.setattr(lean_sload, "sload", counting)
    yield seen


def check(scenario: Scenario, backend: JitBackend | None = None) -> d.Outcome:
    stock, jit = d.run_both(scenario, backend)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert (jit.detail, jit.gas_used) == (stock.detail, stock.gas_used)
    assert jit.native_messages
    return jit


@pytest.mark.parametrize("fork", FAMILIES)
def test_miss_with_gas_around_its_cost(fork: str, lean_sloads: list[int]) -> None:
    """Gas left at a SLOAD miss from below to above its cost (cold from Berlin on): the out of
    gas error, its message and the gas are py-evm's. The sweep ends 30 gas past the SLOAD's
    cost in this fork (py-evm's gas for PUSH1, SLOAD, STOP with ample gas), not past the
    largest cost of all forks."""
    code = asm(5, "SLOAD", 0, "SSTORE", "STOP")
    reached = d.run_stock(
        Scenario(code=asm(5, "SLOAD", "STOP"), fork=fork, gas=100_000, storage={5: 9})
    ).gas_used
    assert reached > 21_000 + 3
    for gas in range(21_000 + 3, reached + 30, 7):
        jit = check(Scenario(code=code, fork=fork, gas=gas, storage={5: 9}))
        if jit.status == "success":
            assert lean_sloads[-1:] == [5]
    assert lean_sloads


@pytest.mark.parametrize("fork", ("berlin", "cancun"))
def test_out_of_gas_exactly_at_the_cold_cost(fork: str, lean_sloads: list[int]) -> None:
    """From Berlin SLOAD's static gas is 0, so native code reaches the miss with any gas and
    py-evm's cold charge inside the lean path is what fails."""
    code = asm(5, "SLOAD", "STOP")
    base = 21_000 + 3
    for extra in (2_099, 2_100):
        jit = check(Scenario(code=code, fork=fork, gas=base + extra, storage={5: 9}))
        assert jit.status == ("success" if extra == 2_100 else "error")
    assert lean_sloads == [5, 5]


@pytest.mark.parametrize("fork", ("istanbul", "berlin", "cancun"))
def test_warm_and_cold_misses(fork: str, lean_sloads: list[int]) -> None:
    """A child frame reads slot 0 (py-evm marks it warm); the parent then misses on slot 0
    (warm in py-evm) and slot 1 (cold): each costs what py-evm charges."""
    inner = [0, "SLOAD", "POP", "STOP"]
    outer = [
        0, 0, 1, 0, 0, "ADDRESS", 100_000, "CALL", "POP",
        "GAS", 0, "SLOAD", "GAS", 1, "SLOAD", "GAS", *return_stack(5),
    ]  # fmt: skip
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)
    check(Scenario(code=code, fork=fork, storage={0: 3, 1: 4}))
    assert lean_sloads == [0, 0, 1]


@pytest.mark.parametrize("fork", NET_METERED)
def test_original_value_after_a_write_in_a_child(fork: str, lean_sloads: list[int]) -> None:
    """A child call writes slot 0 (original 1 -> 5); the parent misses on slot 0 (lean), then
    writes it natively back to 1 and to 7: net metering needs the original value, which the
    cache must hold as py-evm's `net_sstore` reads it."""
    inner = [5, 0, "SSTORE", "STOP"]
    outer = [
        0, 0, 1, 0, 0, "ADDRESS", 100_000, "CALL", "POP",
        0, "SLOAD", 1, 0, "SSTORE", 7, 0, "SSTORE", 0, "SLOAD", "GAS", *return_stack(3),
    ]  # fmt: skip
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)
    jit = check(Scenario(code=code, fork=fork, storage={0: 1}))
    assert int.from_bytes(jit.output[64:], "big") == 5
    assert lean_sloads == [0]


def test_miss_inside_a_static_call_and_after_a_revert(lean_sloads: list[int]) -> None:
    inner = [0, "SLOAD", 1, "SLOAD", "ADD", 0, "MSTORE", 32, 0, "REVERT"]
    outer = [
        0, 0, 1, 0, "ADDRESS", 100_000, "STATICCALL", "RETURNDATASIZE",
        0, "SLOAD", 1, "SLOAD", *return_stack(4),
    ]  # fmt: skip
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)
    check(Scenario(code=code, storage={0: 3, 1: 4}))
    assert sorted(lean_sloads) == [0, 0, 1, 1]


SLOAD_CODE = asm(0, "SLOAD", 1, "SLOAD", 0, "SLOAD", *return_stack(3))


def test_replaced_sload_logic_keeps_running(lean_sloads: list[int]) -> None:
    calls: list[int] = []

    def sload_plus_one(computation: Any) -> None:
        slot = computation.stack_pop1_int()
        calls.append(slot)
        value = computation.state.get_storage(computation.msg.storage_address, slot)
        computation.stack_push_int(value + 1)

    opcode_fn = as_opcode(logic_fn=sload_plus_one, mnemonic="SLOAD", gas_cost=0)
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        stock, jit = run_custom(backend, {0x54: opcode_fn}, SLOAD_CODE, storage={0: 3, 1: 4})
        assert backend.stats().lookup_hits >= 1
    assert stock.output == b"".join(v.to_bytes(32, "big") for v in (4, 5, 4))
    assert d.compare(stock, jit) == []
    assert calls == [0, 1, 0] * 2  # the stock run's three, then the JIT run's three
    assert lean_sloads == []


@pytest.mark.parametrize("op", [0x54, 0x55, 0x5C, 0x5D, 0xA0, 0xA1])
def test_opcode_class_with_its_own_call_keeps_running(op: int, lean_sloads: list[int]) -> None:
    """py-evm's logic in an opcode class whose __call__ differs (here: it records each call)
    for SLOAD, SSTORE, TLOAD, TSTORE or a LOG: neither the lean SLOAD nor a native state path
    may skip it."""
    calls: list[int] = []

    class Recording(_FastOpcode):
        def __call__(self, computation: Any) -> None:
            calls.append(computation.code.program_counter)
            super().__call__(computation)

    stock_fn = CancunComputation.opcodes[op]
    opcode_fn = Recording(stock_fn.logic_fn, stock_fn.mnemonic, stock_fn.gas_cost)
    code = asm(
        0, "SLOAD", 1, "SLOAD", 0, "SLOAD", 5, 0, "SSTORE", 6, 0, "SSTORE", 0, "SLOAD",
        2, 1, "TSTORE", 1, "TLOAD", 3, 1, "TSTORE", 1, "TLOAD",
        0, 0, "LOG0", 1, 0, 0, "LOG1", 0, 0, "LOG0", *return_stack(5),
    )  # fmt: skip
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        stock, jit = run_custom(backend, {op: opcode_fn}, code, storage={0: 3, 1: 4})
        assert backend.stats().lookup_hits >= 1
    assert d.compare(stock, jit) == []
    assert calls and len(calls) % 2 == 0 and calls[: len(calls) // 2] == calls[len(calls) // 2 :]
    if op == 0x54:
        assert lean_sloads == []


def test_opcode_patched_in_place_is_seen(lean_sloads: list[int]) -> None:
    """The table's SLOAD object gets another logic function after the JIT class ran a message
    (its plan for the table is cached then): the next message of the same class runs it."""
    from eth.vm.forks import CancunVM
    from eth.vm.forks.cancun.state import CancunState

    from pyevm_jit.evm.vm import jit_vm

    stock_sload = CancunComputation.opcodes[0x54]
    opcode_fn = _FastOpcode(stock_sload.logic_fn, stock_sload.mnemonic, stock_sload.gas_cost)
    opcodes = {**CancunComputation.opcodes, 0x54: opcode_fn}
    computation = CancunComputation.configure(__name__="OwnSload", opcodes=opcodes)
    state = CancunState.configure(__name__="OwnSloadState", computation_class=computation)
    vm = CancunVM.configure(__name__="OwnSloadVM", _state_class=state)
    scenario = Scenario(code=SLOAD_CODE, storage={0: 3, 1: 4})

    def sload_zero(computation: Any) -> None:
        computation.stack_pop1_int()
        computation.stack_push_int(0)

    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        jit_class = jit_vm(vm, backend)
        assert d.compare(d.execute(scenario, vm), d.execute(scenario, jit_class)) == []
        hits = backend.stats().lookup_hits
        opcode_fn.logic_fn = sload_zero
        stock, jit = d.execute(scenario, vm), d.execute(scenario, jit_class)
        assert backend.stats().lookup_hits == hits + 1
    assert stock.output == bytes(96)
    assert d.compare(stock, jit) == []
    assert lean_sloads == []


def test_computation_with_its_own_stack_methods_is_not_lean() -> None:
    assert lean_sload.lean_sload(CancunComputation)

    class OwnStack(CancunComputation):
        @property
        def stack_push_int(self) -> Any:
            return self._stack.push_int

    assert not lean_sload.lean_sload(OwnStack)


def test_state_value_out_of_range_raises_pyevms_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state returning a value py-evm's stack refuses: the same exception as the opcode's."""
    from eth_utils import ValidationError

    scenario = Scenario(code=asm(0, "SLOAD", "STOP"), storage={0: 1})
    errors = []
    for vm_class in (fork_vm("cancun"), d.jit_vm_class("cancun")):
        state = d.build_state(scenario, vm_class)
        monkeypatch.setattr(type(state), "get_storage", lambda *a, **k: 1 << 256)
        with pytest.raises(ValidationError) as info:
            apply_message(state, scenario.code)
        errors.append(str(info.value))
        monkeypatch.undo()
    assert errors[0] == errors[1]


def apply_message(state: Any, code: bytes, gas: int = 100_000) -> Any:
    from eth.vm.message import Message

    message = Message(gas=gas, to=d.CONTRACT, sender=d.SENDER, value=0, data=b"", code=code)
    context = state.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
    return state.computation_class.apply_message(state, message, context)


def test_lean_path_used_by_default_and_not_when_lean_is_off(
    lean_sloads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    code = asm(0, "SLOAD", *return_stack(1))
    check(Scenario(code=code, storage={0: 8}))
    assert lean_sloads == [0]
    del lean_sloads[:]
    seen = []
    original = jit_run.run_host_op

    def counting(computation: Any, frame: Any, plan: Any) -> None:
        seen.append(frame.ctx.exit_op)
        original(computation, frame, plan)

    monkeypatch.setattr(jit_run, "run_host_op", counting)
    tuning = RuntimeTuning(lean_messages=False)
    config = RuntimeConfig(enabled=True, blocking=True, store=None, tuning=tuning)
    with JitBackend.new(config) as backend:
        check(Scenario(code=code, storage={0: 8}), backend)
    assert lean_sloads == [] and seen == [0x54]


def test_patched_mark_storage_warm_is_called(
    lean_sloads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """py-evm's helper that the lean path inlines, replaced (by a tracer, say): it is called
    for each SLOAD miss as py-evm's own SLOAD calls it."""
    from eth.vm.forks.berlin import logic as berlin_logic

    calls: list[int] = []
    original = berlin_logic._mark_storage_warm

    def recording(computation: Any, slot: int) -> bool:
        calls.append(slot)
        return original(computation, slot)  # type: ignore[no-any-return]

    monkeypatch.setattr(berlin_logic, "_mark_storage_warm", recording)
    code = asm(4, "SLOAD", 9, "SLOAD", 4, "SLOAD", 4, "SLOAD", 9, "SLOAD", *return_stack(5))
    check(Scenario(code=code, storage={4: 1}))
    stock_calls = calls[:5]
    assert stock_calls == [4, 9, 4, 4, 9]
    assert calls == stock_calls * 2
    assert lean_sloads == stock_calls  # every read asked py-evm: none answered from a cache


def _interpreted(scenario: Scenario) -> None:
    """`scenario` on py-evm's interpreter and on the JIT: the same outcome, and the JIT's
    message interpreted (a gas meter native code would bypass: `guard.gas_meter_bypassed`)."""
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert (jit.detail, jit.gas_used) == (stock.detail, stock.gas_used)
    assert not jit.native_messages


def test_patched_gas_meter_sees_each_charge_of_a_miss(
    lean_sloads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consume_gas patched on py-evm's GasMeter (a tracer) sees every charge the interpreter
    makes, SLOAD's two among them: native code, which counts gas past the meter, does not run
    the message, nor does the lean SLOAD (whose quiet charges also ask for py-evm's own
    consume_gas: `guard.quiet_gas_meter`)."""
    charges = record_charges(monkeypatch)
    code = asm(4, "SLOAD", 9, "SLOAD", *return_stack(2))
    _interpreted(Scenario(code=code, storage={4: 1}))
    half = len(charges) // 2
    assert charges[:half] == charges[half:]
    assert [c for c in charges[:half] if c[1] == "SLOAD"] == [(0, "SLOAD"), (2100, "SLOAD")] * 2
    assert lean_sloads == []


def test_gas_meter_debug2_lines_of_a_miss_are_pyevms(
    lean_sloads: list[int], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With the GasMeter's debug2 output on, py-evm logs every charge: the JIT's message is
    interpreted and logs the same lines, each SLOAD's two charges among them."""
    from eth.vm.gas_meter import GasMeter
    from eth_utils.logging import DEBUG2_LEVEL_NUM

    logger = GasMeter.logger
    monkeypatch.setitem(logger.__dict__, "show_debug2", True)  # a cached_property
    monkeypatch.delitem(logger.__dict__, "debug2", raising=False)  # its no-op, once off
    caplog.set_level(DEBUG2_LEVEL_NUM, logger=logger.name)
    code = asm(4, "SLOAD", 9, "SLOAD", 4, "SLOAD", *return_stack(3))
    _interpreted(Scenario(code=code, storage={4: 1}))
    lines = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len([line for line in lines if line.endswith("(SLOAD)")]) == 2 * 6
    assert lines[: len(lines) // 2] == lines[len(lines) // 2 :]
    assert lean_sloads == []
