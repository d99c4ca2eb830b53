"""The lean transaction path (pyevm_jit/lean/transaction.py) against py-evm's executor.

Every scenario applies the same signed transactions to a chain of stock VMs and to a chain of
JIT VMs in the same process: receipts (status, gas, logs, bloom: their RLP encoding), the
computations' outcomes, the errors of invalid transactions (class and message), the state root
after every transaction and the mined blocks' roots, blooms and gas must be identical.
Customised executor and state classes must keep py-evm's path (one test each)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import rlp
from eth import constants
from eth.chains.base import MiningChain
from eth.consensus.noproof import NoProofConsensus
from eth.db.atomic import AtomicDB
from eth.vm.computation import BaseComputation
from eth.vm.forks import CancunVM, LondonVM, PragueVM, ShanghaiVM
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.frontier.state import FrontierTransactionExecutor
from eth.vm.forks.london.state import LondonState
from eth.vm.forks.prague.constants import MAGIC
from eth.vm.forks.prague.transactions import Authorization
from eth.vm.spoof import SpoofTransaction
from eth.vm.state import BaseState
from eth_hash.auto import keccak
from eth_keys import keys
from eth_typing import Address

from pyevm_jit import runtime
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.lean import transaction as lean_transaction
from pyevm_jit.lean import txguard

CHAIN_ID = 1337
KEY = keys.PrivateKey(b"\x07" * 32)
SENDER = Address(KEY.public_key.to_canonical_address())
POOR_KEY = keys.PrivateKey(b"\x09" * 32)
POOR = Address(POOR_KEY.public_key.to_canonical_address())
AUTHORITY_KEY = keys.PrivateKey(b"\x0b" * 32)
COINBASE = Address(b"\xc0" * 20)


def _address(n: int) -> Address:
    return Address(n.to_bytes(20, "big"))


COUNTER, REVERTER, LOOPER, KILLER, REFUNDER, INVALID, CALLER = (
    _address(0xC000 + i) for i in range(7)
)
FRESH = _address(0xF00D)
# slot 0 += 1, LOG1 with the new value as topic
COUNTER_CODE = bytes.fromhex("6000546001018060005560006000a100")
# slot 0 = 1, then REVERT
REVERTER_CODE = bytes.fromhex("600160005560006000fd")
LOOPER_CODE = bytes.fromhex("5b600056")  # runs out of gas
KILLER_CODE = bytes.fromhex("33ff")  # SELFDESTRUCT to the caller
REFUNDER_CODE = bytes.fromhex("600060015500")  # slot 1 = 0 (was 5): a refund
INVALID_CODE = bytes.fromhex("fe")
# CALL(gas, COUNTER, value 1, no data), then store the result in slot 0
CALLER_CODE = bytes.fromhex("6000600060006000600161c0005af160005500")
# initcode: returns COUNTER_CODE as the contract's code; a failing one: REVERT
INITCODE = bytes([0x60, len(COUNTER_CODE), 0x60, 12, 0x60, 0, 0x39, 0x60, len(COUNTER_CODE),
                  0x60, 0, 0xF3]) + COUNTER_CODE  # fmt: skip
FAILING_INITCODE = bytes.fromhex("60006000fd")


def _genesis_state() -> dict[Any, Any]:
    def contract(code: bytes, storage: dict[int, int] | None = None, balance: int = 0) -> Any:
        return {"balance": balance, "nonce": 1, "code": code, "storage": storage or {}}

    return {
        SENDER: {"balance": 10**24, "nonce": 0, "code": b"", "storage": {}},
        POOR: {"balance": 10**15, "nonce": 0, "code": b"", "storage": {}},
        COUNTER: contract(COUNTER_CODE, {0: 7}),
        REVERTER: contract(REVERTER_CODE),
        LOOPER: contract(LOOPER_CODE),
        KILLER: contract(KILLER_CODE, balance=10**6),
        REFUNDER: contract(REFUNDER_CODE, {1: 5}),
        INVALID: contract(INVALID_CODE),
        CALLER: contract(CALLER_CODE, balance=10**6),
    }


def _chain(vm_class: type) -> Any:
    chain_class = MiningChain.configure(
        __name__="LeanTxChain", vm_configuration=((0, vm_class),), chain_id=CHAIN_ID
    )
    genesis: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": COINBASE,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": constants.ZERO_HASH32,
    }
    return chain_class.from_genesis(AtomicDB(), genesis, _genesis_state())


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    backend = runtime.JitBackend.new(runtime.RuntimeConfig(enabled=True, blocking=True))
    try:
        yield backend
    finally:
        backend.close()


# --- transactions ------------------------------------------------------------------------------
TxMaker = Callable[[Any], Any]  # vm -> a signed transaction


def legacy(to: bytes, data: bytes = b"", value: int = 0, gas: int = 200_000, key: Any = KEY,
           nonce_delta: int = 0, gas_price: int = 10**10) -> TxMaker:  # fmt: skip
    def make(vm: Any) -> Any:
        sender = Address(key.public_key.to_canonical_address())
        return vm.create_unsigned_transaction(
            nonce=vm.state.get_nonce(sender) + nonce_delta,
            gas_price=gas_price,
            gas=gas,
            to=to,
            value=value,
            data=data,
        ).as_signed_transaction(key, chain_id=CHAIN_ID)

    return make


def dynamic(to: bytes, data: bytes = b"", value: int = 0, gas: int = 200_000,
            access_list: Any = (), max_fee: int = 10**10, tip: int = 10**9) -> TxMaker:  # fmt: skip
    def make(vm: Any) -> Any:
        builder = vm.get_transaction_builder()
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            CHAIN_ID, vm.state.get_nonce(SENDER), tip, max_fee, gas, to, value, data, access_list
        )
        return unsigned.as_signed_transaction(KEY)

    return make


def set_code(to: bytes, delegate: bytes) -> TxMaker:
    def make(vm: Any) -> Any:
        authority = Address(AUTHORITY_KEY.public_key.to_canonical_address())
        nonce = vm.state.get_nonce(authority)
        message = MAGIC + rlp.encode([CHAIN_ID, delegate, nonce])
        signature = AUTHORITY_KEY.sign_msg_hash(keccak(message))
        auth = Authorization(CHAIN_ID, delegate, nonce, signature.v, signature.r, signature.s)
        builder = vm.get_transaction_builder()
        unsigned = builder.new_unsigned_set_code_transaction(
            CHAIN_ID, vm.state.get_nonce(SENDER), 10**9, 10**10, 300_000, to, 0, b"", [], [auth]
        )
        return unsigned.as_signed_transaction(KEY)

    return make


def blob(to: bytes, version: bytes = b"\x01", max_fee_per_blob_gas: int = 10**9) -> TxMaker:
    def make(vm: Any) -> Any:
        builder = vm.get_transaction_builder()
        unsigned = builder.new_unsigned_blob_transaction(
            CHAIN_ID, vm.state.get_nonce(SENDER), 10**9, 10**10, 200_000, to, 0, b"", [],
            max_fee_per_blob_gas, [version + bytes(31)],
        )  # fmt: skip
        return unsigned.as_signed_transaction(KEY)

    return make


def scenario(fork_vm: type) -> list[TxMaker]:
    txs = [
        legacy(COUNTER),
        legacy(COUNTER, value=5),
        legacy(REVERTER),
        legacy(LOOPER, gas=60_000),
        legacy(INVALID),
        legacy(REFUNDER),
        legacy(KILLER),
        legacy(CALLER),
        legacy(FRESH, value=0),  # a touched empty account (EIP-161)
        legacy(FRESH, value=10**9, data=b"\x01\x00\x02"),
        legacy(constants.CREATE_CONTRACT_ADDRESS, data=INITCODE, gas=300_000),
        legacy(constants.CREATE_CONTRACT_ADDRESS, data=FAILING_INITCODE, gas=300_000),
        legacy(COUNTER, gas=21_000),  # below intrinsic gas: invalid
        legacy(COUNTER, nonce_delta=1),  # wrong nonce: invalid
        legacy(COUNTER, key=POOR_KEY, gas=200_000, gas_price=10**11),  # cannot afford: invalid
        legacy(COUNTER, key=POOR_KEY, value=10**15, gas=21_100, gas_price=1),  # value: invalid
        dynamic(COUNTER, access_list=((COUNTER, (0, 1)), (REVERTER, ()))),
        dynamic(COUNTER, max_fee=1, tip=1),  # below the base fee: invalid
        dynamic(CALLER, value=3, tip=0),
        legacy(COUNTER, gas_price=0),  # free: the coinbase is touched with a zero fee
    ]
    if fork_vm in (CancunVM, PragueVM):
        # (only invalid ones: this chain helper mines without the header's blob gas)
        txs.append(blob(COUNTER, version=b"\x02"))  # not a KZG versioned hash: invalid
        txs.append(blob(COUNTER, max_fee_per_blob_gas=0))  # below the blob base fee: invalid
    if fork_vm is PragueVM:
        txs.append(set_code(COUNTER, bytes(KILLER)))
        txs.append(legacy(Address(AUTHORITY_KEY.public_key.to_canonical_address())))
    return txs


def run(vm_class: type, makers: list[TxMaker]) -> list[Any]:
    """What an observer sees of every transaction, and of the blocks mined."""
    chain = _chain(vm_class)
    seen: list[Any] = []
    for index, make in enumerate(makers):
        tx = make(chain.get_vm())
        try:
            _mined, receipt, computation = chain.apply_transaction(tx)
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            seen.append(("error", index, type(exc).__name__, str(exc)))
            continue
        error = computation.error if computation.is_error else None
        seen.append((
            "applied", index, rlp.encode(receipt), computation.is_success,
            type(error).__name__, str(error), computation.output, computation.get_gas_used(),
            computation.get_gas_refund(), bytes(chain.get_vm().state.make_state_root()),
        ))  # fmt: skip
        if index % 7 == 6:
            seen.append(_block(chain.mine_block()))
    seen.append(_block(chain.mine_block()))
    return seen


def _block(block: Any) -> tuple[Any, ...]:
    """A mined block's header fields that the transactions decide (not its timestamp)."""
    header = block.header
    return ("block", header.state_root, header.receipt_root, header.transaction_root,
            header.bloom, header.gas_used)  # fmt: skip


def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each run of the lean copy (by family)."""
    calls: list[str] = []
    original = lean_transaction.transact

    def counting(executor: Any, transaction: Any, family: Any) -> Any:
        calls.append(family.name)
        return original(executor, transaction, family)

    monkeypatch.setattr(lean_transaction, "transact", counting)
    return calls


NoProofLondonVM = LondonVM.configure(__name__="LondonVM", consensus_class=NoProofConsensus)


@pytest.mark.parametrize("vm_class", [NoProofLondonVM, ShanghaiVM, CancunVM, PragueVM])
def test_same_receipts_roots_and_errors(
    vm_class: type, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    makers = scenario(vm_class)
    stock = run(vm_class, makers)
    calls = lean_calls(monkeypatch)
    jit = run(jit_vm(vm_class, backend), makers)
    assert jit == stock
    errors = [entry for entry in stock if entry[0] == "error"]
    assert len(errors) >= 5  # the invalid transactions failed as invalid on both sides
    assert calls and len(calls) == len(makers)  # every transaction took the lean path


def test_unsigned_spoofed_transactions(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """eth_call and estimate_gas apply SpoofTransactions (no signature, a given sender)."""

    def outcomes(vm_class: type) -> list[Any]:
        chain = _chain(vm_class)
        seen = []
        for to, data in ((COUNTER, b""), (REVERTER, b""), (CALLER, b"\x01")):
            vm = chain.get_vm()
            unsigned = vm.create_unsigned_transaction(
                nonce=vm.state.get_nonce(SENDER), gas_price=10**10, gas=100_000, to=to,
                value=0, data=data,
            )  # fmt: skip
            spoofed = SpoofTransaction(unsigned, from_=SENDER)
            computation = vm.state.apply_transaction(spoofed)
            seen.append((computation.is_success, computation.get_gas_used(), computation.output,
                         bytes(vm.state.make_state_root())))  # fmt: skip
            try:
                seen.append(chain.estimate_gas(spoofed))
            except Exception as exc:  # noqa: BLE001 - a reverting call: the error is compared
                seen.append((type(exc).__name__, str(exc)))
        return seen

    stock = outcomes(CancunVM)
    calls = lean_calls(monkeypatch)
    assert outcomes(jit_vm(CancunVM, backend)) == stock
    assert calls


# --- customised classes keep py-evm's executor -------------------------------------------------
class RefundingExecutor(CancunTransactionExecutor):
    finalized = 0

    def finalize_computation(self, transaction: Any, computation: Any) -> Any:
        RefundingExecutor.finalized += 1
        return super().finalize_computation(transaction, computation)


class CheckingState(CancunState):
    validated = 0

    def validate_transaction(self, transaction: Any) -> None:
        CheckingState.validated += 1
        super().validate_transaction(transaction)


def _custom_vm(name: str, **state_changes: Any) -> type:
    state = CancunState.configure(__name__=f"{name}State", **state_changes)
    return CancunVM.configure(__name__=name, _state_class=state)


def _same_with_fallback(vm_class: type, backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    makers = scenario(CancunVM)
    stock = run(vm_class, makers)
    calls = lean_calls(monkeypatch)
    assert run(jit_vm(vm_class, backend), makers) == stock
    assert calls == []


def test_overridden_executor_method_falls_back(backend: Any, monkeypatch: Any) -> None:
    vm_class = _custom_vm("RefundingVM", transaction_executor_class=RefundingExecutor)
    jit_state = jit_vm(vm_class, backend)._state_class
    assert not hasattr(jit_state.transaction_executor_class, "jit_lean_family")
    RefundingExecutor.finalized = 0
    _same_with_fallback(vm_class, backend, monkeypatch)
    assert RefundingExecutor.finalized > 0


def test_overridden_state_method_falls_back(backend: Any, monkeypatch: Any) -> None:
    class CheckingStateVM(CancunVM):
        _state_class = CheckingState

    CheckingState.validated = 0
    _same_with_fallback(CheckingStateVM, backend, monkeypatch)
    assert CheckingState.validated > 0


@pytest.mark.parametrize(
    "owner, name",
    [
        (CancunTransactionExecutor, "build_computation"),  # on the executor class itself
        (FrontierTransactionExecutor, "finalize_computation"),  # reached through super()
        (LondonState, "get_tip"),  # a state method the copy inlines
    ],
)
def test_method_patched_after_jit_vm_falls_back(
    owner: type, name: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jit_class = jit_vm(CancunVM, backend)
    assert jit_class._state_class.transaction_executor_class.jit_lean_family == "cancun"
    seen: list[Any] = []
    original = getattr(owner, name)

    def patched(self: Any, *args: Any) -> Any:
        seen.append(args)
        return original(self, *args)

    monkeypatch.setattr(owner, name, patched)
    makers = scenario(CancunVM)
    stock = run(CancunVM, makers)
    stock_seen = len(seen)
    calls = lean_calls(monkeypatch)
    assert run(jit_class, makers) == stock
    assert calls == [] and len(seen) == 2 * stock_seen > 0


@pytest.mark.parametrize(
    "owner, name",
    [
        (FrontierTransactionExecutor, "finalize_computation"),  # reached through super()
        (LondonState, "get_tip"),  # a state method the copy inlines
    ],
)
def test_patch_after_lean_transactions_is_seen_by_the_next_one(
    owner: type, name: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's class verdicts are kept under CPython's version tags: a py-evm class patched
    after the lean copy ran (verdicts kept) turns the next transaction to py-evm's path, and
    undoing the patch turns it back."""
    jit_class = jit_vm(CancunVM, backend)
    makers = scenario(CancunVM)[:3]
    calls = lean_calls(monkeypatch)
    chain = _chain(jit_class)
    for make in makers:
        chain.apply_transaction(make(chain.get_vm()))
    assert calls == ["cancun"] * 3
    seen: list[Any] = []
    original = owner.__dict__[name]

    def patched(self: Any, *args: Any) -> Any:
        seen.append(args)
        return original(self, *args)

    setattr(owner, name, patched)
    try:
        chain.apply_transaction(makers[0](chain.get_vm()))
    finally:
        setattr(owner, name, original)
    assert calls == ["cancun"] * 3 and len(seen) == 1
    chain.apply_transaction(makers[1](chain.get_vm()))
    assert calls == ["cancun"] * 4 and len(seen) == 1


def test_state_method_set_on_the_instance_falls_back(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`costless_execute_transaction` (eth_call without fees) sets `get_transaction_context` on
    the state instance: py-evm's executor runs."""

    def outcomes(vm_class: type) -> list[Any]:
        chain = _chain(vm_class)
        vm = chain.get_vm()
        unsigned = vm.create_unsigned_transaction(
            nonce=0, gas_price=10**10, gas=100_000, to=COUNTER, value=0, data=b""
        )
        seen: list[Any] = []
        for max_fee in (0, 10**10):  # free: below the base fee (invalid); then a valid one
            spoofed = SpoofTransaction(unsigned, from_=SENDER, max_fee_per_gas=max_fee,
                                       max_priority_fee_per_gas=0)  # fmt: skip
            try:
                computation = vm.state.costless_execute_transaction(spoofed)
            except Exception as exc:  # noqa: BLE001 - the error is compared
                seen.append((type(exc).__name__, str(exc)))
                continue
            seen.append((computation.is_success, computation.get_gas_used(),
                         bytes(vm.state.make_state_root()),
                         vm.state.get_balance(SENDER)))  # fmt: skip
        return seen

    stock = outcomes(CancunVM)
    calls = lean_calls(monkeypatch)
    assert outcomes(jit_vm(CancunVM, backend)) == stock
    assert calls == []


def test_validation_function_patched_falls_back(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eth.vm.forks.homestead import validation

    checked: list[Any] = []
    original = validation.validate_frontier_transaction

    def validate(state: Any, transaction: Any) -> None:
        checked.append(transaction)
        original(state, transaction)

    jit_class = jit_vm(CancunVM, backend)
    monkeypatch.setattr(validation, "validate_frontier_transaction", validate)
    makers = scenario(CancunVM)
    stock = run(CancunVM, makers)
    stock_checked = len(checked)
    calls = lean_calls(monkeypatch)
    assert run(jit_class, makers) == stock
    assert calls == [] and len(checked) == 2 * stock_checked > 0


def test_older_forks_keep_py_evm_executor(backend: Any) -> None:
    from eth.vm.forks import BerlinVM

    executor = jit_vm(BerlinVM, backend)._state_class.transaction_executor_class
    assert not hasattr(executor, "jit_lean_family")
    for vm_class, family in (
        (NoProofLondonVM, "london"),
        (CancunVM, "cancun"),
        (PragueVM, "prague"),
    ):
        executor = jit_vm(vm_class, backend)._state_class.transaction_executor_class
        assert executor.jit_lean_family == family


def test_every_recorded_method_is_the_installed_py_evms() -> None:
    """When py-evm changes a method of an executor family, this fails: compare the copy in
    lean/transaction.py with the new code, then record the new fingerprint in lean/txpins.py."""

    assert [family.name for family in txguard.verified_families()] == ["london", "cancun", "prague"]
    recorded = {
        f"{owner.__name__}.{name}"
        for family in txguard.verified_families()
        for owner, name, _raw in family.fixed_checks()
    }
    assert recorded == set(txguard.TX_PINNED)


def test_patched_spoof_attributes_are_read_as_patched(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SpoofTransaction whose `__getattr__` is patched answers the lean copy as it answers
    py-evm's executor (its fields are then read through it, not directly)."""
    from eth._utils.spoof import SpoofAttributes

    original = SpoofAttributes.__getattr__
    asked: list[str] = []

    def patched(self: Any, name: str) -> Any:
        asked.append(name)
        return 60_000 if name == "gas" else original(self, name)

    def outcome(vm_class: type) -> Any:
        chain = _chain(vm_class)
        vm = chain.get_vm()
        unsigned = vm.create_unsigned_transaction(
            nonce=vm.state.get_nonce(SENDER), gas_price=10**10, gas=100_000, to=COUNTER,
            value=0, data=b"",
        )  # fmt: skip
        computation = vm.state.apply_transaction(SpoofTransaction(unsigned, from_=SENDER))
        return computation.get_gas_remaining(), bytes(vm.state.make_state_root())

    monkeypatch.setattr(SpoofAttributes, "__getattr__", patched)
    stock = outcome(CancunVM)
    asked.clear()
    calls = lean_calls(monkeypatch)
    assert outcome(jit_vm(CancunVM, backend)) == stock
    assert calls and "gas" in asked


def test_touched_accounts_are_py_evms_set(backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy of py-evm's `collect_touched_accounts` (EIP-161) gives the same set, iterated in
    the same order, for every computation of the scenario (errors, SELFDESTRUCT, nested calls)."""
    from eth.vm.forks.spurious_dragon import _utils

    copy = lean_transaction._touched_accounts
    compared: list[int] = []

    def checked(computation: Any, ancestor_had_error: bool) -> set[Any]:
        found = copy(computation, ancestor_had_error)
        expected = _utils.collect_touched_accounts(computation, ancestor_had_error)
        assert found == expected and list(found) == list(expected)
        compared.append(len(computation.children))
        return found

    alone = lean_transaction._touched_alone
    compared_alone: list[bool] = []

    def checked_alone(computation: Any, beneficiaries: list[Any]) -> set[Any]:
        found = alone(computation, beneficiaries)
        expected = _utils.collect_touched_accounts(computation)
        assert found == expected and list(found) == list(expected)
        assert beneficiaries == computation.get_self_destruct_beneficiaries()
        compared_alone.append(computation.is_error)
        return found

    monkeypatch.setattr(lean_transaction, "_touched_accounts", checked)
    monkeypatch.setattr(lean_transaction, "_touched_alone", checked_alone)
    run(jit_vm(PragueVM, backend), scenario(PragueVM))
    assert len(compared) > 3 and max(compared) > 0  # some with nested computations
    # childless computations take the finish reads: some succeeded, some failed
    assert len(compared_alone) > 10 and any(compared_alone) and not all(compared_alone)


def test_patched_collect_touched_accounts_runs_as_patched(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eth.vm.forks.spurious_dragon import state as spurious_dragon_state

    original = spurious_dragon_state.collect_touched_accounts
    seen: list[Any] = []

    def patched(computation: Any) -> Any:
        seen.append(computation)
        return original(computation)

    jit_class = jit_vm(CancunVM, backend)
    monkeypatch.setattr(spurious_dragon_state, "collect_touched_accounts", patched)
    makers = scenario(CancunVM)
    stock = run(CancunVM, makers)
    stock_seen = len(seen)
    calls = lean_calls(monkeypatch)
    assert run(jit_class, makers) == stock
    assert len(calls) > 0 and len(seen) == 2 * stock_seen > 0


# --- txfinish: the account calls and the finish reads keep customised methods -------------------
class CountingState(CancunState):
    calls: list[str] = []

    def delta_balance(self, address: Any, delta: int) -> None:
        CountingState.calls.append("delta_balance")
        super().delta_balance(address, delta)

    def increment_nonce(self, address: Any) -> None:
        CountingState.calls.append("increment_nonce")
        super().increment_nonce(address)


class CountingComputation(CancunState.computation_class):  # type: ignore[name-defined,misc]
    calls: list[str] = []

    def get_gas_refund(self) -> int:
        CountingComputation.calls.append("get_gas_refund")
        return super().get_gas_refund()  # type: ignore[no-any-return]

    def get_accounts_for_deletion(self) -> Any:
        CountingComputation.calls.append("get_accounts_for_deletion")
        return super().get_accounts_for_deletion()


def _same_calls(
    counting: Any, vm_class: Any, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """The Cancun scenario on `vm_class` and on its JIT VM: the same outcome, the lean copy
    taken, and the same calls recorded in `counting.calls`; py-evm's calls returned."""
    makers = scenario(CancunVM)
    counting.calls = []
    stock = run(vm_class, makers)
    stock_calls: list[str] = counting.calls
    counting.calls = []
    calls = lean_calls(monkeypatch)
    assert run(jit_vm(vm_class, backend), makers) == stock
    assert calls and counting.calls == stock_calls
    return stock_calls


def test_overridden_account_methods_are_called_by_the_lean_copy(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state class with its own `delta_balance` and `increment_nonce` keeps the lean copy
    (they are not part of the executor's guard) and sees every call py-evm's executor makes."""

    class CountingStateVM(CancunVM):
        _state_class = CountingState

    stock_calls = _same_calls(CountingState, CountingStateVM, backend, monkeypatch)
    assert stock_calls.count("delta_balance") >= 3 * 10


def test_overridden_computation_reads_are_called_by_the_lean_copy(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A computation class with its own `get_gas_refund` and `get_accounts_for_deletion`: the
    lean copy asks them as py-evm's executor does (no finish reads from attributes)."""
    vm_class = _custom_vm("CountingComputationVM", computation_class=CountingComputation)
    stock_calls = _same_calls(CountingComputation, vm_class, backend, monkeypatch)
    assert "get_accounts_for_deletion" in stock_calls


@pytest.mark.parametrize(
    "owner, name",
    [
        (BaseState, "delta_balance"),
        (BaseState, "increment_nonce"),
        (BaseComputation, "get_gas_refund"),
        (BaseComputation, "get_accounts_for_deletion"),
    ],
)
def test_account_and_finish_methods_patched_later_are_called(
    owner: type, name: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The txfinish verdicts are kept under CPython's version tags: a py-evm method patched
    after lean transactions ran is called by the next one (the lean copy still runs)."""
    makers = scenario(CancunVM)[:2]
    seen: list[Any] = []
    original = owner.__dict__[name]

    def patched(self: Any, *args: Any) -> Any:
        seen.append(args)
        return original(self, *args)

    def second_transaction(vm_class: type) -> list[Any]:
        chain = _chain(vm_class)
        chain.apply_transaction(makers[0](chain.get_vm()))
        seen.clear()
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, patched)
            chain.apply_transaction(makers[1](chain.get_vm()))
        return list(seen)

    stock = second_transaction(CancunVM)
    calls = lean_calls(monkeypatch)
    assert second_transaction(jit_vm(CancunVM, backend)) == stock
    assert calls == ["cancun", "cancun"] and stock


def test_account_method_set_on_the_state_instance_is_called(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`delta_balance` set on the state instance (not on its class): the lean copy still runs
    and calls it, as py-evm's executor would."""
    makers = scenario(CancunVM)[:1]

    def deltas(vm_class: type) -> list[Any]:
        chain = _chain(vm_class)
        vm = chain.get_vm()
        state = vm.state
        seen: list[Any] = []
        original = state.delta_balance

        def counting(address: Any, delta: int) -> None:
            seen.append((address, delta))
            original(address, delta)

        state.delta_balance = counting
        state.apply_transaction(makers[0](vm))
        return seen

    stock = deltas(CancunVM)
    calls = lean_calls(monkeypatch)
    assert deltas(jit_vm(CancunVM, backend)) == stock and len(stock) >= 2
    assert calls == ["cancun"]
