"""The lean message paths (pyevm_jit.lean) against py-evm: calls from native code,
environment words, transaction messages.

Each program runs through the JIT VM and the stock interpreter in the same process; the whole
outcome (status, gas, refund, output, logs, accounts, state root) must match, and the lean call
path must actually have run (counted by wrapping `lean.calls.call`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support import count_calls, record_charges

from pyevm_jit import forks
from pyevm_jit.lean import calls, guard, txmessage
from pyevm_jit.lean.env import environment_getters
from pyevm_jit.lean.exact import exact_entries, stock_table
from pyevm_jit.opcodes import BY_NAME
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import (
    BURNER,
    CALLEE,
    DESTRUCTOR,
    REVERTER,
    RICH,
    STORER,
    Scenario,
    standard_accounts,
)

FORKS = (
    "frontier",
    "homestead",
    "tangerine-whistle",
    "byzantium",
    "istanbul",
    "berlin",
    "cancun",
    "prague",
)
NOBODY = bytes.fromhex("00000000000000000000000000000000000dead1")
IDENTITY = (4).to_bytes(20, "big")


@pytest.fixture
def lean_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    yield count_calls(monkeypatch, calls, "call")


def check(scenario: Scenario, lean_count: list[int], *, lean: bool = True) -> d.Outcome:
    before = lean_count[0]
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == [], d.describe(scenario, d.compare(stock, jit))
    assert jit.native_messages
    if lean:
        assert lean_count[0] > before, "the lean call path did not run"
    return jit


def _supports(fork: str, op: str) -> bool:
    return BY_NAME[op] in forks.valid_opcodes(fork)


def call_items(
    op: str,
    to: bytes | str,
    *,
    value: int = 0,
    gas: int | str = "GAS",
    args: tuple[int, int] = (0, 32),
    out: tuple[int, int] = (0, 32),
) -> list[Any]:
    """Push the operands of `op` and run it (the success flag stays on the stack)."""
    items: list[Any] = [out[1], out[0], args[1], args[0]]
    if op in ("CALL", "CALLCODE"):
        items.append(value)
    items.append(int.from_bytes(to, "big") if isinstance(to, bytes) else to)
    items.append(gas)
    items.append(op)
    return items


def program(*calls: list[Any]) -> bytes:
    """Store 7 at memory 0 (call data), run the calls, return their flags, RETURNDATASIZE and
    the first two memory words."""
    items: list[Any] = [7, 0, "MSTORE"]
    for c in calls:
        items += c
    n = len(calls)
    items += ["RETURNDATASIZE", 32, "MLOAD", 0, "MLOAD"]
    return asm(*items, *return_stack(n + 3))


WORLD = standard_accounts()


@pytest.mark.parametrize("fork", FORKS)
@pytest.mark.parametrize("op", ["CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"])
@pytest.mark.parametrize("target", [CALLEE, REVERTER, BURNER, STORER, RICH, NOBODY, IDENTITY])
def test_call_shapes(fork: str, op: str, target: bytes, lean_count: list[int]) -> None:
    if not _supports(fork, op):
        pytest.skip(f"no {op} in {fork}")
    code = program(call_items(op, target, gas=100_000), call_items(op, target))
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=10), lean_count)


@pytest.mark.parametrize("fork", FORKS)
@pytest.mark.parametrize("target", [CALLEE, RICH, NOBODY, IDENTITY, DESTRUCTOR])
@pytest.mark.parametrize("value", [1, 10, 11])  # the contract holds 10 wei
def test_value_transfers(fork: str, target: bytes, value: int, lean_count: list[int]) -> None:
    code = program(call_items("CALL", target, value=value), call_items("CALLCODE", target, value=1))
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=10), lean_count)


@pytest.mark.parametrize("fork", FORKS)
@pytest.mark.parametrize("out", [(0, 0), (0, 16), (40, 64), (0, 4096)])
def test_return_data_into_memory(fork: str, out: tuple[int, int], lean_count: list[int]) -> None:
    code = program(call_items("CALL", CALLEE, out=out), call_items("CALL", REVERTER, out=out))
    check(Scenario(code=code, fork=fork, accounts=WORLD), lean_count)


@pytest.mark.parametrize("fork", ["frontier", "tangerine-whistle", "berlin", "cancun"])
@pytest.mark.parametrize("gas", [0, 1, 2300, 50_000, 2**64, 2**255])
def test_requested_gas_and_the_63_64_rule(fork: str, gas: int, lean_count: list[int]) -> None:
    code = program(call_items("CALL", BURNER, gas=gas), call_items("CALL", CALLEE, gas=gas))
    for total in (120_000, 400_000):
        check(Scenario(code=code, fork=fork, gas=total, accounts=WORLD), lean_count)


@pytest.mark.parametrize("fork", ["berlin", "cancun"])
def test_gas_runs_out_in_the_call_itself(fork: str, lean_count: list[int]) -> None:
    """Too little gas for the cold account access or the memory: the exact error of py-evm."""
    code = program(call_items("CALL", CALLEE, out=(0, 2**20)))
    for gas in range(21_000 + 2_600, 21_000 + 2_600 + 400, 37):
        check(Scenario(code=code, fork=fork, gas=gas, accounts=WORLD), lean_count, lean=False)
    check(Scenario(code=code, fork=fork, gas=2_000_000, accounts=WORLD), lean_count)


@pytest.mark.parametrize("fork", ["byzantium", "cancun", "prague"])
def test_value_in_a_static_context_is_write_protection(fork: str, lean_count: list[int]) -> None:
    """The contract STATICCALLs itself; the inner frame CALLs with value (and without)."""
    inner = asm(*call_items("CALL", RICH, value=1), *call_items("CALL", RICH), "STOP")
    outer = program(call_items("STATICCALL", "ADDRESS", args=(0, 1)))
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", outer, Label("inner"), inner)
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=5), lean_count)


@pytest.mark.parametrize("fork", ["frontier", "homestead"])
def test_depth_limit(fork: str, lean_count: list[int]) -> None:
    """Without the 63/64 rule a contract that calls itself reaches the 1024 depth limit."""
    code = asm(
        0,
        "SLOAD",
        1,
        "ADD",
        "DUP1",
        0,
        "SSTORE",  # count the frames
        *call_items("CALL", "ADDRESS", gas="GAS", args=(0, 0), out=(0, 0))[:-2],
        200,
        "GAS",
        "SUB",
        "CALL",
        0,
        "MSTORE",
        32,
        0,
        "RETURN",
    )
    check(Scenario(code=code, fork=fork, gas=10_000_000, accounts=WORLD), lean_count)


@pytest.mark.parametrize("fork", ["berlin", "cancun"])
def test_warm_and_cold_targets(fork: str, lean_count: list[int]) -> None:
    code = program(*[call_items(op, CALLEE) for op in ("CALL", "STATICCALL", "DELEGATECALL")])
    check(Scenario(code=code, fork=fork, accounts=WORLD), lean_count)


@pytest.mark.parametrize("fork", ["cancun", "prague"])
def test_calls_inside_a_reverted_frame(fork: str, lean_count: list[int]) -> None:
    """The inner frame calls CALLEE (which writes and logs) and then reverts."""
    inner = asm(*call_items("CALL", CALLEE, value=1), 0, 0, "REVERT")
    outer = program(call_items("CALL", "ADDRESS", args=(0, 1)), call_items("CALL", CALLEE))
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", outer, Label("inner"), inner)
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=3), lean_count)


def test_delegation_designations(lean_count: list[int]) -> None:
    """Prague: an account whose code designates CALLEE (EIP-7702) is called through it."""
    delegated = bytes.fromhex("00000000000000000000000000000000000de1e9")
    world = dict(WORLD)
    world[delegated] = Account(code=b"\xef\x01\x00" + CALLEE)
    code = program(*[call_items(op, delegated) for op in ("CALL", "STATICCALL", "DELEGATECALL")])
    check(Scenario(code=code, fork="prague", accounts=world), lean_count)


def test_a_replaced_call_opcode_is_not_lean() -> None:
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.logic.call import CallEIP161

    class OwnCall(CallEIP161):
        def get_call_params(self, computation: Any) -> Any:
            return super().get_call_params(computation)

    opcodes = dict(CancunComputation.opcodes)
    opcodes[0xF1] = OwnCall.configure(__name__="opcode:CALL", mnemonic="CALL", gas_cost=0)()
    custom = CancunComputation.configure(__name__="Custom", opcodes=opcodes)
    exact_ops = exact_entries(custom.opcodes, stock_table("cancun"))
    assert 0xF1 not in calls.lean_calls(custom, custom.opcodes, exact_ops)
    assert 0xFA in calls.lean_calls(custom, custom.opcodes, exact_ops)

    class OwnChildren(CancunComputation):
        def apply_child_computation(self, child_msg: Any) -> Any:
            return super().apply_child_computation(child_msg)

    assert calls.lean_calls(OwnChildren, OwnChildren.opcodes, exact_ops) == {}


@pytest.mark.parametrize("op", ["CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"])
def test_too_few_stack_items(op: str, lean_count: list[int]) -> None:
    """py-evm's opcode raises InsufficientStack (found by the fuzzer)."""
    for depth in range(7):
        code = asm(*([1] * depth), op, "STOP")
        check(Scenario(code=code, fork="cancun", accounts=WORLD), lean_count, lean=False)


ENV_OPS = ("ADDRESS", "ORIGIN", "CALLER", "CALLVALUE", "GASPRICE", "COINBASE", "TIMESTAMP",
           "NUMBER", "PREVRANDAO", "GASLIMIT", "CHAINID", "BASEFEE", "BLOBBASEFEE")  # fmt: skip


@pytest.mark.parametrize("fork", ["frontier", "istanbul", "london", "paris", "cancun", "prague"])
def test_environment_words(fork: str, lean_count: list[int]) -> None:
    """Every environment opcode of the fork, read by the native program and by a callee."""
    ops = [op for op in ENV_OPS if _supports(fork, op)]
    inner = asm(*ops, *return_stack(len(ops)))
    outer = asm(*call_items("CALL", "ADDRESS", value=1, args=(0, 1), out=(0, 32 * len(ops))),
                *ops, *return_stack(len(ops) + 1))  # fmt: skip
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", outer, Label("inner"), inner)
    check(Scenario(code=code, fork=fork, accounts=WORLD, balance=3, value=5), lean_count)


def test_environment_getters_only_for_py_evms_logic() -> None:
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.opcode import as_opcode

    from pyevm_jit.opcodes import ENV_SLOT

    stock = stock_table("cancun")
    found = environment_getters(
        CancunComputation.opcodes, ENV_SLOT, exact_entries(CancunComputation.opcodes, stock)
    )
    assert set(found) == set(ENV_SLOT)
    opcodes = dict(CancunComputation.opcodes)
    # another object, even with py-evm's own logic, is not py-evm's opcode
    opcodes[0x33] = as_opcode(opcodes[0x33].logic_fn, "CALLER", 2)
    custom = CancunComputation.configure(__name__="Custom", opcodes=opcodes)
    exact_ops = exact_entries(custom.opcodes, stock)
    assert 0x33 not in environment_getters(custom.opcodes, ENV_SLOT, exact_ops)
    assert 0x32 in environment_getters(custom.opcodes, ENV_SLOT, exact_ops)


def _forget_debug2(logger: Any) -> None:
    logger.__dict__.pop("show_debug2", None)
    logger.__dict__.pop("debug2", None)


@pytest.mark.parametrize("fork", ["frontier", "berlin", "london", "cancun", "prague"])
def test_build_evm_message_logs_what_py_evm_logs(
    fork: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With debug output on, the lean executor writes py-evm's line; the message and the
    sender's account are the same (a call and a create, every fork family of the method)."""
    from eth_utils.logging import DEBUG2_LEVEL_NUM

    vm = forks.fork_vm(fork)
    stock_state = d.build_state(Scenario(code=b"\x00", fork=fork), vm)
    lean_cls = txmessage.lean_executor(stock_state.transaction_executor_class)
    assert lean_cls is not None
    for to in (d.CONTRACT, b""):
        tx = d._signed_tx(vm, to, 1, 100_000, b"\x12\x34")
        messages_built = []
        lines = []
        for executor_cls in (stock_state.transaction_executor_class, lean_cls):
            state = d.build_state(Scenario(code=b"\x00", fork=fork), vm)
            caplog.clear()
            logger = state.logger
            with caplog.at_level(DEBUG2_LEVEL_NUM, logger=logger.name):
                _forget_debug2(logger)  # py-evm caches whether debug output is on
                try:
                    message = executor_cls(state).build_evm_message(tx)
                finally:
                    _forget_debug2(logger)
            lines.append(
                [r.getMessage() for r in caplog.records if "TRANSACTION" in r.getMessage()]
            )
            messages_built.append(
                (
                    message.gas,
                    message.to,
                    message.sender,
                    message.value,
                    message.data,
                    message.code,
                    message.is_create,
                    message.storage_address,
                    message.code_address,
                    message.depth,
                    message.should_transfer_value,
                    message.is_static,
                    message.refund,
                    message.is_delegation,
                    state.get_balance(d.SENDER),
                    state.get_nonce(d.SENDER),
                )  # fmt: skip
            )
        assert messages_built[0] == messages_built[1]
        assert lines[0] == lines[1] and len(lines[0]) == 1


def test_lean_executor_only_for_py_evms_method() -> None:
    from eth.vm.forks.cancun.state import CancunTransactionExecutor

    class Own(CancunTransactionExecutor):
        def build_evm_message(self, transaction: Any) -> Any:
            return super().build_evm_message(transaction)

    assert txmessage.lean_executor(Own) is None
    assert txmessage.lean_executor(CancunTransactionExecutor) is not None


def test_lean_copies_written_against_the_installed_py_evm() -> None:
    """Every lean build_evm_message is in use with the installed py-evm (when py-evm changes
    one of its methods this fails: check the copy against the new method, record its
    fingerprint)."""
    assert set(txmessage.lean_methods().values()) == set(txmessage.LEAN.values())


def _changed_build_evm_message(self: Any, transaction: Any) -> Any:
    """Stands for a later py-evm's method: the same name and class, another body."""
    return txmessage._build_evm_message(self, transaction, "frontier")


def test_changed_py_evm_method_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A py-evm whose build_evm_message is not the one a lean copy was written against keeps
    its own method, in the executor class and in its subclasses, and the JIT VM uses it."""
    from eth.vm.forks.frontier.state import FrontierTransactionExecutor
    from eth.vm.forks.london.state import LondonTransactionExecutor

    from pyevm_jit.evm.vm import jit_vm

    monkeypatch.setattr(
        FrontierTransactionExecutor, "build_evm_message", _changed_build_evm_message
    )
    leans = {
        FrontierTransactionExecutor: txmessage.LEAN["frontier"],
        LondonTransactionExecutor: txmessage.LEAN["london"],
    }
    table = txmessage.lean_methods()  # what the import of pyevm_jit finds with that py-evm
    assert _changed_build_evm_message not in table
    assert leans[FrontierTransactionExecutor] not in table.values()
    assert table[LondonTransactionExecutor.build_evm_message] is leans[LondonTransactionExecutor]
    monkeypatch.setattr(txmessage, "_BUILD_EVM_MESSAGE", table)
    assert txmessage.lean_executor(FrontierTransactionExecutor) is None
    assert txmessage.lean_executor(LondonTransactionExecutor) is not None

    # berlin's executor inherits Frontier's method; london's is its own (still the lean one)
    for fork, expected in (
        ("frontier", _changed_build_evm_message),
        ("berlin", _changed_build_evm_message),
        ("london", leans[LondonTransactionExecutor]),
    ):
        jit = jit_vm(forks.fork_vm(fork), d.get_backend())
        executor_class = jit._state_class.transaction_executor_class  # type: ignore[attr-defined]
        assert executor_class.build_evm_message is expected, fork


def test_a_call_opcode_patched_after_jit_vm_runs_its_own_logic(lean_count: list[int]) -> None:
    """The lean paths follow the table a message runs with: a CALL patched into the class's
    table after `jit_vm` is what runs (the JIT VM shares the table, never copies it)."""
    from eth.vm.forks import CancunVM
    from eth.vm.forks.cancun.computation import CancunComputation

    from pyevm_jit.evm.vm import jit_vm

    table = dict(CancunComputation.opcodes)
    computation = CancunComputation.configure(__name__="OwnTable", opcodes=table)
    state = CancunVM.get_state_class().configure(computation_class=computation)
    vm = jit_vm(CancunVM.configure(_state_class=state), d.get_backend())
    code = program(call_items("CALL", CALLEE))
    scenario = Scenario(code=code, fork="cancun", accounts=WORLD)
    before = lean_count[0]
    lean_outcome = d.execute(scenario, vm)
    assert lean_count[0] > before
    seen: list[int] = []
    real = table[0xF1]

    class Watched(type(real)):  # type: ignore[misc]
        def __call__(self, computation: Any) -> None:
            seen.append(1)
            super().__call__(computation)

    table[0xF1] = Watched()
    try:
        before = lean_count[0]
        patched_outcome = d.execute(scenario, vm)
    finally:
        table[0xF1] = real
    assert seen and lean_count[0] == before
    assert d.compare(lean_outcome, patched_outcome) == []


def test_messages_without_code() -> None:
    """A call to an account without code returns at once -- unless the table's STOP is not
    py-evm's."""
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.opcode import as_opcode

    assert guard.runs_nothing(CancunComputation.opcodes)
    table = dict(CancunComputation.opcodes)
    table[0x00] = as_opcode(lambda c: None, "STOP", 0)
    assert not guard.runs_nothing(table)


def test_buffer_addresses_are_the_ones_ctypes_gives() -> None:
    import ctypes

    from pyevm_jit.evm import frame as jit_frame

    frame = jit_frame.NativeFrame()
    for data in (b"\x00", b"abc", bytes(range(256)) * 40, (7).to_bytes(32, "big")):
        expected = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value
        assert jit_frame.address_of(data, frame) == expected
        assert ctypes.string_at(jit_frame.address_of(data, frame), len(data)) == data
    assert jit_frame.address_of(b"", frame) == 0


def test_switched_off(lean_count: list[int]) -> None:
    """RuntimeTuning(lean_messages=False, read_cache=False): py-evm's opcodes, account database
    and executor, and the same outcome."""
    from eth.db.account import AccountDB

    from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning

    tuning = RuntimeTuning(lean_messages=False, read_cache=False)
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, tuning=tuning))
    try:
        vm = d.jit_vm_class("cancun", backend)
        state_class = vm.get_state_class()
        assert state_class.account_db_class is AccountDB
        assert "Lean" not in state_class.transaction_executor_class.__name__
        scenario = Scenario(code=program(call_items("CALL", CALLEE)), accounts=WORLD)
        stock, jit = d.run_both(scenario, backend)
        assert d.compare(stock, jit) == [] and jit.native_messages
        assert lean_count[0] == 0
    finally:
        backend.close()


@pytest.mark.parametrize("fork", ["frontier", "berlin", "cancun"])
def test_gas_meter_sees_the_calls_py_evm_makes(
    fork: str, lean_count: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meter that records each charge (consume_gas patched on py-evm's GasMeter) sees the
    call opcodes' charges as py-evm makes them, the static gas included when it is 0 (from
    Berlin on), and every other charge: native code, which counts gas past the meter, does not
    run such a message, nor does the lean call path (`guard.gas_meter_bypassed`)."""
    seen = record_charges(monkeypatch)
    ops = [op for op in ("CALL", "CALLCODE", "DELEGATECALL", "STATICCALL") if _supports(fork, op)]
    scenario = Scenario(
        code=program(*(call_items(op, CALLEE) for op in ops)), fork=fork, accounts=WORLD
    )
    d.run_stock(scenario)
    stock, seen[:] = list(seen), []
    before = lean_count[0]
    jit = d.run_jit(scenario)
    assert lean_count[0] == before and not jit.native_messages
    assert seen == stock
    static = [amount for amount, reason in stock if reason == "CALL"][0]
    assert static == (0 if forks.fork_at_least(fork, "berlin") else 40)
