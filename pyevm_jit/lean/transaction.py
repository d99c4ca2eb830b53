"""A lean copy of py-evm's transaction executor (London to Prague), for JIT VMs.

py-evm's `state.apply_transaction(tx)` runs the executor's `__call__`: `validate_transaction`
(the transaction's own `validate`, then the state's checks of fee, signature `s`, balance and
nonce), `build_evm_message` (gas purchase, nonce, the message), `build_computation` (EIP-2929
warm marks, the access list, the message run), `finalize_computation` (refund, fees to the
coinbase, self-destructs, EIP-161 clearing) and, from Cancun on, clearing transient storage.
Each step is a method found through a chain of `super()` calls over up to eight fork classes,
reads the transaction's fields again (through `__getattr__` for a `SpoofTransaction`), looks up
the state's logger by name three times and formats its debug lines before asking whether
DEBUG2 is on.

`transact` below does the same steps in the same order, with the same calls on the state (every
state method the executor calls is still called, as often and in the same order: a state
subclass sees what py-evm's executor would do), except for the pieces it copies from py-evm:
- the executor's own methods (inlined);
- the state's `validate_transaction` (London's checks, and Cancun's balance and blob checks),
  `get_gas_price` and `get_tip` (London's formulas) and the `logger` property (the same logger
  object, read from the logging manager; py-evm asks eth-utils for it by name each time);
- `get_transaction_context` is called once instead of twice (py-evm's builds the same context
  from the same transaction both times);
- debug lines are formatted only when the state's logger shows DEBUG2 (py-evm's logger caches
  that answer, so nothing else differs).

Guard: an executor class gets the lean `__call__` only when every method of the chain it
resolves (for each name: the class that defines it, and the py-evm classes its `super()` calls
reach) is py-evm's object for one family (`FAMILIES`), and py-evm's source of each of those
methods has the fingerprint recorded here (py-evm 0.12.1b1). Every call checks again that the
executor's and the state's methods are those objects (a method patched after `jit_vm`, a
method set on the state instance such as `override_transaction_context`'s, a replaced
validation function of py-evm's modules) and otherwise runs py-evm's own `__call__`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eth.constants import CREATE_CONTRACT_ADDRESS, SECPK1_N
from eth.exceptions import ContractCreationCollision
from eth.vm.forks.cancun import state as cancun_state
from eth.vm.forks.london.constants import EIP3529_MAX_REFUND_QUOTIENT
from eth.vm.forks.spurious_dragon import _utils as spurious_dragon_utils
from eth.vm.forks.spurious_dragon import state as spurious_dragon_state
from eth_hash.auto import keccak
from eth_utils import ValidationError, encode_hex

from pyevm_jit.lean import records, senders, txfinish, txguard
from pyevm_jit.lean.guard import fingerprint
from pyevm_jit.lean.txmessage import message_target

log = logging.getLogger(__name__)

BLOB_TX_TYPE = cancun_state.BLOB_TX_TYPE
VERSIONED_HASH_VERSION_KZG = cancun_state.VERSIONED_HASH_VERSION_KZG
SET_CODE_TX_TYPE = 4
_HALF_N = SECPK1_N // 2


# --- the copy ------------------------------------------------------------------------------------
def transact(executor: Any, transaction: Any, family: txguard.Family) -> Any:
    """py-evm's executor `__call__` of `family` (see the module's docstring)."""
    state = executor.vm_state
    cancun = family.cancun
    prague = family.name == "prague"
    field = records.transaction_reader(transaction)  # getattr(transaction, name)

    # -- validate_transaction: the transaction's checks, then the state's (London, Cancun)
    field("validate")()
    base_fee = state.execution_context.base_fee_per_gas
    max_fee = field("max_fee_per_gas")
    if max_fee < base_fee:
        raise ValidationError(
            f"Sender's max fee per gas ({max_fee}) is "
            f"lower than block's base fee per gas ({base_fee})"
        )
    s = field("s")
    if s > _HALF_N or s == 0:
        raise ValidationError("Invalid signature S value")
    gas = field("gas")
    priority_fee = field("max_priority_fee_per_gas")
    gas_price = min(max_fee, priority_fee + base_fee)
    max_gas_cost = gas * gas_price
    sender = field("sender")
    senders.note(transaction)
    sender_balance = state.get_balance(sender)
    if sender_balance < max_gas_cost:
        raise ValidationError(
            f"Sender {sender!r} cannot afford txn gas "
            f"{max_gas_cost} with account balance {sender_balance}"
        )
    value = field("value")
    total_cost = value + max_gas_cost
    if sender_balance < total_cost:
        raise ValidationError(
            f"Sender does not have enough balance to cover transaction value and gas "
            f" (has {sender_balance}, needs {total_cost})"
        )
    sender_nonce = state.get_nonce(sender)
    nonce = field("nonce")
    if sender_nonce != nonce:
        raise ValidationError(
            f"Invalid transaction nonce: Expected {sender_nonce}, but got {nonce}"
        )
    type_id = field("type_id") if cancun else None
    if cancun:
        max_total_fee = gas * max_fee
        if type_id == BLOB_TX_TYPE:
            max_total_fee += cancun_state.get_total_blob_gas(transaction) * field(
                "max_fee_per_blob_gas"
            )
        if state.get_balance(sender) < max_total_fee:
            raise ValidationError("Sender has insufficient funds for blob fee.")
        if type_id == BLOB_TX_TYPE:
            if len(field("blob_versioned_hashes")) == 0:
                raise ValidationError("Blob transaction must contain at least one blob.")
            for versioned_hash in field("blob_versioned_hashes"):
                if versioned_hash[:1] != VERSIONED_HASH_VERSION_KZG:
                    raise ValidationError(
                        "Blob versioned hash does not start with expected "
                        f"KZG version: {VERSIONED_HASH_VERSION_KZG!r}"
                    )
            if field("max_fee_per_blob_gas") < state.blob_base_fee:
                raise ValidationError(
                    "Blob transaction must pay at least the current blob base fee."
                )

    # -- build_evm_message
    gas_fee = gas * gas_price
    if type_id == BLOB_TX_TYPE:
        gas_fee += executor.calc_data_fee(transaction)
    accounts = txfinish.account_db(state)  # BaseState's one-line methods, called through
    if accounts is None:
        state.delta_balance(sender, -1 * gas_fee)
        state.increment_nonce(sender)
    else:
        accounts.set_balance(sender, accounts.get_balance(sender) + -1 * gas_fee)
        accounts.increment_nonce(sender)
    refund = 0
    if prague and type_id == SET_CODE_TX_TYPE:
        refund = executor.calc_message_refund(transaction)
    message_gas = gas - field("intrinsic_gas")
    to = field("to")
    if cancun and not prague and to != CREATE_CONTRACT_ADDRESS:
        # message_target with Cancun's get_code_at_address (the guard's chain): the code, no
        # delegation
        contract_address, data, code, is_delegation = None, field("data"), state.get_code(to), False
    else:
        contract_address, data, code, is_delegation = message_target(
            executor, state, sender, to, field("data"), cancun
        )
    logger = txguard.state_logger(state)
    debug = logger.show_debug2
    if debug:
        logger.debug2(_message_line(transaction, code, cancun))
    message = records.new_message(
        cancun_state.Message,
        gas=message_gas,
        to=to,
        sender=sender,
        value=value,
        data=data,
        code=code,
        create_address=contract_address,
        refund=refund,
        is_delegation=is_delegation,
    )

    # -- build_computation (Berlin's warm marks, then Frontier's)
    state.mark_address_warm(sender)
    state.mark_address_warm(message.storage_address)
    for address, slots in field("access_list"):
        state.mark_address_warm(address)
        for slot in slots:
            state.mark_storage_warm(address, slot)
    # the state's get_transaction_context (London's, then Cancun's), inlined: its gas price is
    # London's formula over the same fields, its origin the sender
    transaction_context = records.new_transaction_context(
        state.get_transaction_context_class(), gas_price, sender
    )
    if cancun and type_id == BLOB_TX_TYPE:
        transaction_context._blob_versioned_hashes = field("blob_versioned_hashes")
    computation_class = state.computation_class
    if message.is_create:
        if state.has_code_or_nonce(message.storage_address):
            computation = state.get_computation(message, transaction_context)
            computation.error = ContractCreationCollision(
                f"Address collision while creating contract: {encode_hex(message.storage_address)}"
            )
            if debug:
                logger.debug2(
                    "Address collision while creating contract: "
                    f"{encode_hex(message.storage_address)}"
                )
        else:
            computation = computation_class.apply_create_message(
                state, message, transaction_context
            )
    else:
        computation = computation_class.apply_message(state, message, transaction_context)

    # -- finalize_computation (Frontier's, then Spurious Dragon's EIP-161 clearing)
    reads = txfinish.finish_reads(computation)  # BaseComputation's methods, read through
    if reads is None:
        gas_remaining = computation.get_gas_remaining()
        computation_refund = computation.get_gas_refund()
    else:
        gas_remaining, computation_refund, deletions, beneficiaries = reads
    gas_used = gas - gas_remaining
    gas_refund = min(computation_refund, gas_used // EIP3529_MAX_REFUND_QUOTIENT)
    data_floor_gas = executor.calc_data_floor_gas(transaction, gas_used, gas_refund)
    computation.data_floor_gas = data_floor_gas
    gas_refund_amount = (
        gas_refund + gas_remaining - data_floor_gas
    ) * transaction_context.gas_price
    if gas_refund_amount:
        if debug:
            logger.debug2(
                f"TRANSACTION REFUND: {gas_refund_amount} -> {encode_hex(computation.msg.sender)}"
            )
        refunded = computation.msg.sender
        if accounts is None:
            state.delta_balance(refunded, gas_refund_amount)
        else:
            accounts.set_balance(refunded, accounts.get_balance(refunded) + gas_refund_amount)
    gas_used = gas - gas_remaining - gas_refund + data_floor_gas
    tip = min(max_fee - base_fee, priority_fee)
    transaction_fee = gas_used * tip
    coinbase = state.coinbase
    if debug:
        logger.debug2(f"TRANSACTION FEE: {transaction_fee} -> {encode_hex(coinbase)}")
    if accounts is None:
        state.delta_balance(coinbase, transaction_fee)
    else:
        accounts.set_balance(coinbase, accounts.get_balance(coinbase) + transaction_fee)
    delete = state.delete_account if accounts is None else accounts.delete_account
    if reads is None:
        deletions = computation.get_accounts_for_deletion()
    for account in deletions:
        if debug:
            logger.debug2(f"DELETING ACCOUNT: {encode_hex(account)}")
        delete(account)
    collect = spurious_dragon_state.collect_touched_accounts
    if collect is _PYEVM_COLLECT and spurious_dragon_utils.collect_touched_accounts is collect:
        if reads is None:
            touched = _touched_accounts(computation, False)
        else:
            touched = _touched_alone(computation, beneficiaries)
    else:
        touched = collect(computation)
    for account in touched:
        if state.account_exists(account) and state.account_is_empty(account):
            if debug:
                logger.debug2(f"CLEARING EMPTY ACCOUNT: {encode_hex(account)}")
            delete(account)

    if cancun:
        state.clear_transient_storage()
    return computation


def _touched_accounts(computation: Any, ancestor_had_error: bool) -> set[Any]:
    """py-evm's `collect_touched_accounts(computation, ancestor_had_error)` (EIP-161), without
    its generator and `to_set` wrapper: the same reads of the computation in the same order, the
    same set (elements added in the order py-evm's generator yields them; a child's accounts in
    the order of the child's own set, as py-evm's `yield from` of it)."""
    found: set[Any] = set()
    add = found.add
    three = spurious_dragon_utils.THREE
    add(computation.state.coinbase)
    for beneficiary in sorted(computation.get_self_destruct_beneficiaries()):
        if computation.is_error or ancestor_had_error:
            if beneficiary == three:
                add(beneficiary)
            continue
        add(beneficiary)
    if computation.msg.to != spurious_dragon_utils.constants.CREATE_CONTRACT_ADDRESS:
        if computation.is_error or ancestor_had_error:
            if computation.msg.to == three:
                add(computation.msg.to)
        else:
            add(computation.msg.to)
    for child in computation.children:
        for account in _touched_accounts(child, computation.is_error or ancestor_had_error):
            add(account)
    return found


def _touched_alone(computation: Any, beneficiaries: list[Any]) -> set[Any]:
    """`_touched_accounts(computation, False)` for a computation without children whose
    self-destruct beneficiaries (as `get_self_destruct_beneficiaries` returns them) are given
    (`txfinish.finish_reads`)."""
    found: set[Any] = {computation.state.coinbase}
    three = spurious_dragon_utils.THREE
    error = computation._error is not None
    for beneficiary in sorted(beneficiaries):
        if not error or beneficiary == three:
            found.add(beneficiary)
    to = computation.msg.to
    if to != spurious_dragon_utils.constants.CREATE_CONTRACT_ADDRESS:
        if not error or to == three:
            found.add(to)
    return found


def _pyevm_collect() -> Any:
    """py-evm's `collect_touched_accounts` when it is the version `_touched_accounts` copies
    (eth-utils' `to_set` around the recorded generator), else None."""
    collect = spurious_dragon_utils.collect_touched_accounts
    inner = getattr(collect, "__wrapped__", None)
    cells = {id(c.cell_contents) for c in getattr(collect, "__closure__", None) or ()}
    if fingerprint(inner) != COLLECT_TOUCHED_PIN or cells != {id(set), id(inner)}:
        return None
    return collect


#: fingerprint of py-evm 0.12.1b1's `collect_touched_accounts` generator
COLLECT_TOUCHED_PIN = "3ab7bcae537c3c48"
_PYEVM_COLLECT = _pyevm_collect()


def _message_line(transaction: Any, code: bytes, cancun: bool) -> str:
    """The line py-evm's London or Cancun `build_evm_message` logs at level DEBUG2."""
    sender = encode_hex(transaction.sender)
    to = encode_hex(transaction.to)
    data_hash = encode_hex(keccak(transaction.data))
    line = f"TRANSACTION: {repr(transaction)}; sender: {sender} | to: {to} | data-hash: {data_hash}"
    if cancun:
        line += f" | gas: {transaction.gas} | code: {encode_hex(code)} | "
    return line


def lean_transaction_executor(executor_class: type, state_class: type) -> type | None:
    """`executor_class` with the lean `__call__`, or None when it or `state_class` is not one
    of py-evm's families (then py-evm's executor runs as it is)."""
    family = txguard.family_of(executor_class, state_class)
    if family is None:
        return None
    check = txguard.TransactionGuard(family, executor_class)
    stock_call: Callable[[Any, Any], Any] = executor_class.__call__

    def lean_call(executor: Any, transaction: Any) -> Any:
        if check.holds(executor_class, executor.vm_state) and executor.__class__ is lean:
            return transact(executor, transaction, family)
        return stock_call(executor, transaction)

    lean_call.__name__ = "__call__"
    lean_call.__qualname__ = f"Lean{executor_class.__name__}.__call__"
    lean = type(
        f"Lean{executor_class.__name__}",
        (executor_class,),
        {"__call__": lean_call, "__module__": __name__, "jit_lean_family": family.name},
    )
    return lean
