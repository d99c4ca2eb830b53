"""The native state path: SLOAD, SSTORE, TLOAD, TSTORE and LOG answered by native code.

Every program runs through the JIT and through py-evm's stock interpreter in the same process;
outcomes (status, error class, gas, refund, output, logs, state root and accounts) must match.
The tests also check that the native path is taken (host operations suspended to py-evm are
counted) where it should be, and not where it must not be.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from support import run_custom

from pyevm_jit import abi
from pyevm_jit.evm import computation as jit_computation
from pyevm_jit.evm import run as jit_run
from pyevm_jit.forks import FORK_VMS, fork_vm
from pyevm_jit.fuzz import RandomSource
from pyevm_jit.fuzz.state_patterns import GENERATORS
from pyevm_jit.gas_rules import sstore_rule
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.config import env_value
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import Label, Ref, asm, disasm, return_stack
from pyevm_jit.testing.differential import Scenario

FAMILIES = ("frontier", "byzantium", "constantinople", "petersburg", "istanbul", "berlin",
            "london", "cancun", "prague")  # fmt: skip


@pytest.fixture
def suspensions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Opcodes of the host operations native code suspended for, in order (run by py-evm's
    opcode, or a SLOAD miss by the lean path)."""
    seen: list[int] = []
    original = jit_run.run_host_op
    original_sload = jit_run.run_lean_sload

    def counting(computation: Any, frame: Any, plan: Any) -> None:
        seen.append(frame.ctx.exit_op)
        original(computation, frame, plan)

    def counting_sload(computation: Any, frame: Any, plan: Any) -> bool:
        op = frame.ctx.exit_op
        done = original_sload(computation, frame, plan)
        if done:
            seen.append(op)
        return done

    monkeypatch.setattr(jit_run, "run_host_op", counting)
    monkeypatch.setattr(jit_run, "run_lean_sload", counting_sload)
    yield seen


def check(scenario: Scenario, backend: Any = None) -> d.Outcome:
    stock = d.run_stock(scenario)
    jit = d.run_jit(scenario, backend)
    assert d.compare(stock, jit) == []
    assert jit.native_messages
    return jit


# --- the patterns of the fuzz generators, as unit tests ---------------------------------------
@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("fork", FAMILIES)
def test_pattern(name: str, fork: str) -> None:
    for seed in range(4):
        src = RandomSource(random.Random(f"{name}-{fork}-{seed}"))
        scenario = GENERATORS[name](src, fork)
        stock, jit = d.run_both(scenario)
        assert d.compare(stock, jit) == [], (seed, disasm(scenario.code))
        assert jit.native_messages, (seed, "no message ran native code")


# --- SSTORE gas and refunds per fork -------------------------------------------------------------
ORIGINALS = (0, 1, 2)
NEW_VALUES = (0, 1, 2, 3)


@pytest.mark.parametrize("fork", FAMILIES)
def test_every_transition_of_a_slot(fork: str, suspensions: list[int]) -> None:
    """original -> current -> new for all small combinations: gas and refunds as py-evm's."""
    for original in ORIGINALS:
        items: list[int | str] = [0, "SLOAD", "POP"]
        for first in NEW_VALUES:
            for second in NEW_VALUES:
                items += [first, 0, "SSTORE", second, 0, "SSTORE", "GAS", "POP"]
        items += [0, "SLOAD", "GAS", *return_stack(2)]
        del suspensions[:]
        check(Scenario(code=asm(*items), fork=fork, storage={0: original} if original else {}))
        assert suspensions == [0x54]  # one miss; every SSTORE ran natively


def test_each_fork_has_a_rule_from_pyevm() -> None:
    for fork in FORK_VMS:
        assert sstore_rule(fork_vm(fork)._state_class.computation_class.opcodes) is not None


@pytest.mark.parametrize("fork", ("istanbul", "berlin", "cancun"))
def test_sstore_at_the_stipend_sentry(fork: str, suspensions: list[int]) -> None:
    """Gas left at a native SSTORE from well below to well above 2300 + its cost: the sentry
    and out-of-gas cases go to py-evm and fail exactly as it does."""
    code = asm(0, "SLOAD", "POP", 5, 0, "SSTORE", 6, 0, "SSTORE", "STOP")
    # intrinsic + 2 pushes + SLOAD (cold from Berlin) + POP + 2 pushes, then the SSTOREs
    sload = {"istanbul": 800}.get(fork, 2100)
    base = 21_000 + 3 + sload + 2 + 6
    for extra in range(2_000, 2_000 + 5_000 + 3_000, 97):
        check(Scenario(code=code, fork=fork, storage={0: 1}, gas=base + extra))


@pytest.mark.parametrize("fork", ("istanbul", "berlin", "london", "cancun"))
def test_refunds_at_the_cap(fork: str) -> None:
    storage = {slot: 1 for slot in range(20)}
    items: list[int | str] = []
    for slot in range(20):
        items += [slot, "SLOAD", "POP", 0, slot, "SSTORE"]
    for gas in (60_000, 100_000, 400_000):
        jit = check(Scenario(code=asm(*items, "STOP"), fork=fork, storage=storage, gas=gas))
        assert jit.status != "success" or jit.gas_refund > 0


def test_static_call_cannot_write_natively(suspensions: list[int]) -> None:
    """A STATICCALL into code that loads a slot and writes it: py-evm raises WriteProtection."""
    inner = [0, "SLOAD", "POP", 1, 0, "SSTORE", 2, 0, 0, "LOG1", "STOP"]
    outer = [0, 0, 0, 0, "ADDRESS", "GAS", "STATICCALL", *return_stack(1)]
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)
    scenario = Scenario(code=code, fork="cancun", calldata=b"", storage={0: 4})
    check(scenario.with_(code=asm(*outer[: -len(return_stack(1))], *return_stack(1))))
    check(scenario)


def test_many_slots_and_collisions(suspensions: list[int]) -> None:
    """More dirty slots than cache entries: colliding keys suspend and flush, none is lost."""
    items: list[int | str] = []
    count = abi.STORAGE_CACHE.entries + 100
    for slot in range(count):
        items += [slot + 1, slot, "SSTORE"]
    for slot in range(0, count, 37):
        items += [slot, "SLOAD", "POP"]
    check(Scenario(code=asm(*items, 5, "SLOAD", *return_stack(1)), gas=30_000_000 - 1))


def test_logs_run_natively_and_keep_their_order(suspensions: list[int]) -> None:
    code = asm(
        0xAA, 0, "MSTORE", 1, 32, 0, "LOG1", 2, 3, 0, 0, "LOG2",
        0, 0, 0, 0, 0, int.from_bytes(d.CALLEE, "big"), "GAS", "CALL", "POP",
        4, 5, 6, 7, 64, 16, "LOG4", 40, 0, "LOG0", "STOP",
    )  # fmt: skip
    jit = check(Scenario(code=code, accounts=d.standard_accounts()))
    assert len(jit.logs) == 5
    assert [op for op in suspensions if 0xA0 <= op <= 0xA4] == []


def test_a_log_larger_than_the_buffer_goes_to_pyevm(suspensions: list[int]) -> None:
    size = abi.LOG_MAX_DATA + 1
    code = asm(1, 1, "LOG0", size, 0, "LOG0", 2, 0, "LOG0", "STOP")
    check(Scenario(code=code, gas=5_000_000))
    assert suspensions == [0xA0]


@pytest.mark.parametrize("fork", ("cancun", "prague"))
def test_transient_storage_natively(fork: str, suspensions: list[int]) -> None:
    code = asm(
        7, 1, "TSTORE", 1, "TLOAD", 8, 1, "TSTORE", 1, "TLOAD", 2, "TLOAD", 2, "TLOAD",
        *return_stack(4),
    )  # fmt: skip
    check(Scenario(code=code, fork=fork))
    assert suspensions == [0x5C]  # the first TLOAD of slot 2 only


# --- the cache is never stale --------------------------------------------------------------------
def apply_message(state: Any, code: bytes, gas: int = 100_000) -> Any:
    from eth.vm.message import Message

    message = Message(gas=gas, to=d.CONTRACT, sender=d.SENDER, value=0, data=b"", code=code)
    context = state.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
    return state.computation_class.apply_message(state, message, context)


def test_state_changed_between_messages_is_seen() -> None:
    """A user's own code writes storage between two messages of one state: the next message
    (same frame pool, same program) reads the new value."""
    scenario = Scenario(code=asm(0, "SLOAD", 0, "SLOAD", "ADD", *return_stack(1)), storage={0: 5})
    state = d.build_state(scenario, d.jit_vm_class(scenario.fork))
    outputs = []
    for value in (5, 9, 0, 3):
        state.set_storage(d.CONTRACT, 0, value)
        computation = apply_message(state, scenario.code)
        assert computation.is_success
        outputs.append(int.from_bytes(computation.output, "big"))
    assert outputs == [10, 18, 0, 6]


def test_writes_reach_pyevm_when_the_message_ends() -> None:
    code = asm(0, "SLOAD", "POP", 8, 0, "SSTORE", 9, 0, "SSTORE", 1, 2, 0, 0, "LOG2", "STOP")
    state = d.build_state(Scenario(code=code, storage={0: 1}), d.jit_vm_class("cancun"))
    computation = apply_message(state, code)
    assert computation.is_success
    assert state.get_storage(d.CONTRACT, 0) == 9
    assert computation.get_log_entries() == ((d.CONTRACT, (2, 1), b""),)


def test_replaced_host_opcode_that_writes_storage_clears_the_cache(suspensions: list[int]) -> None:
    """A VM whose BALANCE (same gas) writes slot 0: native code must not serve the old value."""
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.opcode import as_opcode

    from pyevm_jit.opcodes import _opcode_gas_cost

    def balance_writes(computation: Any) -> None:
        computation.stack_pop1_bytes()
        computation.state.set_storage(computation.msg.storage_address, 0, 77)
        computation.stack_push_int(0)

    stock_balance = CancunComputation.opcodes[0x31]
    custom = {0x31: as_opcode(logic_fn=balance_writes, mnemonic="BALANCE",
                              gas_cost=_opcode_gas_cost(stock_balance))}  # fmt: skip
    code = asm(0, "SLOAD", "POP", 0, "BALANCE", "POP", 0, "SLOAD", *return_stack(1))
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        stock, jit = run_custom(backend, custom, code, storage={0: 1})
    assert int.from_bytes(stock.output, "big") == 77
    assert d.compare(stock, jit) == []


# --- the switch ---------------------------------------------------------------------------------
def test_switch_off_runs_every_state_operation_in_pyevm(suspensions: list[int]) -> None:
    code = asm(0, "SLOAD", "POP", 1, 0, "SSTORE", 2, 0, "SSTORE", 0, 0, "LOG0", "STOP")
    tuning = RuntimeTuning(native_state=False)
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None,
                                      tuning=tuning)) as backend:  # fmt: skip
        check(Scenario(code=code), backend)
        assert suspensions == [0x54, 0x55, 0x55, 0xA0]
    del suspensions[:]
    check(Scenario(code=code))
    assert suspensions == [0x54]


def test_switch_environment_variable() -> None:
    assert env_value("native_state", True, {"PYEVM_JIT_NATIVE_STATE": "0"}) is False
    assert env_value("native_state", True, {}) is True


# --- opcode tables checked where they are used (issue 14, item 4) -------------------------------
def sub_instead_of_add(computation: Any) -> None:
    a, b = computation.stack_pop_ints(2)
    computation.stack_push_int((a - b) % 2**256)


def test_replaced_sstore_runs_the_vms_own_logic(suspensions: list[int]) -> None:
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.opcode import as_opcode

    def sstore_doubles(computation: Any) -> None:
        slot, value = computation.stack_pop_ints(2)
        computation.state.set_storage(computation.msg.storage_address, slot, 2 * value)

    custom = {0x55: as_opcode(logic_fn=sstore_doubles, mnemonic="SSTORE", gas_cost=0)}
    code = asm(0, "SLOAD", "POP", 3, 0, "SSTORE", 0, "SLOAD", 4, 0, "SSTORE", 0, "SLOAD",
               *return_stack(2))  # fmt: skip
    assert CancunComputation.opcodes[0x55].gas_cost == 0
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        stock, jit = run_custom(backend, custom, code)
        assert backend.stats().lookup_hits >= 1
    assert stock.output == (8).to_bytes(32, "big") + (6).to_bytes(32, "big")
    assert d.compare(stock, jit) == []
    assert suspensions.count(0x55) == 2


ADD_CODE = asm(2, 7, "ADD", *return_stack(1))


def _jit_cancun(backend: JitBackend) -> type:
    from eth.vm.forks import CancunVM

    from pyevm_jit.evm.vm import jit_vm

    return jit_vm(CancunVM, backend)  # type: ignore[no-any-return]


def _ineligible(backend: JitBackend) -> int:
    return backend.stats().misses_by_reason.get("Ineligible", 0)


def _result(vm: type) -> int:
    return int.from_bytes(d.execute(Scenario(code=ADD_CODE, fork="cancun"), vm).output, "big")


@pytest.fixture
def blocking_backend() -> Iterator[JitBackend]:
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as b:
        yield b


def test_table_patched_after_jit_vm(blocking_backend: JitBackend,
                                    caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    from eth.vm.forks import CancunVM
    from eth.vm.opcode import as_opcode

    vm = _jit_cancun(blocking_backend)
    assert _result(vm) == 9
    table = vm._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    # the JIT class shares the wrapped class's table (here py-evm's own): never a copy, so a
    # patch made through either class is what both VMs run
    assert table is CancunVM._state_class.computation_class.opcodes  # type: ignore[attr-defined]
    stock_add = table[0x01]
    table[0x01] = as_opcode(logic_fn=sub_instead_of_add, mnemonic="ADD", gas_cost=3)
    try:
        before = _ineligible(blocking_backend)
        assert _result(vm) == 5  # what the user's VM computes
        assert _result(vm) == 5
        assert _ineligible(blocking_backend) == before + 2
        assert len([r for r in caplog.records if "ADD replaced" in r.getMessage()]) == 1
    finally:
        table[0x01] = stock_add
    assert _result(vm) == 9
    assert _ineligible(blocking_backend) == before + 2


def test_table_replaced_on_a_subclass(blocking_backend: JitBackend) -> None:
    from eth.vm.opcode import as_opcode

    vm = _jit_cancun(blocking_backend)
    jit_class = vm._state_class.computation_class  # type: ignore[attr-defined]
    sub = as_opcode(logic_fn=sub_instead_of_add, mnemonic="ADD", gas_cost=3)
    subclass = jit_class.configure(__name__="Sub", opcodes={**jit_class.opcodes, 0x01: sub})
    state = vm._state_class.configure(computation_class=subclass)  # type: ignore[attr-defined]
    sub_vm = vm.configure(__name__="SubVM", _state_class=state)  # type: ignore[attr-defined]
    before = _ineligible(blocking_backend)
    assert _result(sub_vm) == 5
    assert _result(vm) == 9  # the JIT class itself is unaffected
    assert _ineligible(blocking_backend) == before + 1
    # patching the subclass's own table in place back to ADD is seen too
    subclass.opcodes[0x01] = jit_class.opcodes[0x01]
    assert _result(sub_vm) == 9
    assert _ineligible(blocking_backend) == before + 1


def test_table_held_elsewhere_and_patched_later(blocking_backend: JitBackend) -> None:
    """A subclass's table is used as given (not copied): a patch through another reference
    to the same dict reaches its next message."""
    from eth.vm.opcode import as_opcode

    vm = _jit_cancun(blocking_backend)
    jit_class = vm._state_class.computation_class  # type: ignore[attr-defined]
    mine = dict(jit_class.opcodes)
    subclass = jit_class.configure(__name__="Held", opcodes=mine)
    assert subclass.opcodes is mine
    state = vm._state_class.configure(computation_class=subclass)  # type: ignore[attr-defined]
    held_vm = vm.configure(__name__="HeldVM", _state_class=state)  # type: ignore[attr-defined]
    assert _result(held_vm) == 9
    mine[0x01] = as_opcode(logic_fn=sub_instead_of_add, mnemonic="ADD", gas_cost=3)
    assert _result(held_vm) == 5


def test_table_replaced_per_instance(blocking_backend: JitBackend) -> None:
    from eth.vm.opcode import as_opcode

    vm = _jit_cancun(blocking_backend)
    jit_class = vm._state_class.computation_class  # type: ignore[attr-defined]
    sub = as_opcode(logic_fn=sub_instead_of_add, mnemonic="ADD", gas_cost=3)

    class PerInstance(jit_class):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.opcodes = {**type(self).opcodes, 0x01: sub}

    state = vm._state_class.configure(computation_class=PerInstance)  # type: ignore[attr-defined]
    inst_vm = vm.configure(__name__="InstanceVM", _state_class=state)  # type: ignore[attr-defined]
    before = _ineligible(blocking_backend)
    assert _result(inst_vm) == 5
    assert _result(inst_vm) == 5
    assert _ineligible(blocking_backend) == before + 2


def test_unchanged_table_check_is_cached(blocking_backend: JitBackend,
                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    vm = _jit_cancun(blocking_backend)
    calls: list[int] = []
    original = jit_computation.table_plan

    def counting(cls: Any, opcodes: Any) -> Any:
        calls.append(1)
        return original(cls, opcodes)

    monkeypatch.setattr(jit_computation, "table_plan", counting)
    for _ in range(5):
        assert _result(vm) == 9
    assert len(calls) <= 1


def test_stock_cancun_sstore_rule_constants_come_from_pyevm() -> None:
    from eth.vm.forks.london.storage import GAS_SCHEDULE_EIP3529

    rule = sstore_rule(fork_vm("cancun")._state_class.computation_class.opcodes)
    assert rule is not None and rule.family == "net" and rule.sentry == 2300
    assert rule.clears_refund == GAS_SCHEDULE_EIP3529.sstore_clears_schedule == 4800
    assert (rule.sload_gas, rule.set_gas, rule.reset_gas) == (100, 20000, 2900)


def test_an_overridden_add_log_entry_is_called(suspensions: list[int]) -> None:
    """A VM whose computation records logs in its own add_log_entry sees every native LOG."""
    from eth.vm.forks import CancunVM

    from pyevm_jit.evm.vm import jit_vm

    seen: list[tuple[Any, ...]] = []
    vm = jit_vm(CancunVM, d.get_backend())
    jit_class = vm._state_class.computation_class  # type: ignore[attr-defined]

    class Recording(jit_class):  # type: ignore[misc,valid-type]
        def add_log_entry(self, account: bytes, topics: Any, data: bytes) -> None:
            seen.append((account, tuple(topics), data))
            super().add_log_entry(account, topics, data)

    state = vm._state_class.configure(computation_class=Recording)  # type: ignore[attr-defined]
    recording_vm = vm.configure(__name__="RecordingVM", _state_class=state)  # type: ignore[attr-defined]
    code = asm(0xAB, 0, "MSTORE8", 5, 1, 0, "LOG1", 6, 7, 0, 0, "LOG2", "STOP")
    outcome = d.execute(Scenario(code=code), recording_vm)
    assert outcome.status == "success"
    assert seen == [(d.CONTRACT, (5,), b"\xab"), (d.CONTRACT, (7, 6), b"")]
    assert [op for op in suspensions if 0xA0 <= op <= 0xA4] == []
