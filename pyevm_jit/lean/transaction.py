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
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from eth._utils.address import generate_contract_address
from eth.constants import CREATE_CONTRACT_ADDRESS, SECPK1_N
from eth.exceptions import ContractCreationCollision
from eth.vm.forks.cancun import state as cancun_state
from eth.vm.forks.homestead import validation as homestead_validation
from eth.vm.forks.london import state as london_state
from eth.vm.forks.london import validation as london_validation
from eth.vm.forks.london.constants import EIP3529_MAX_REFUND_QUOTIENT
from eth.vm.forks.prague import state as prague_state
from eth.vm.forks.spurious_dragon import state as spurious_dragon_state
from eth_hash.auto import keccak
from eth_utils import ExtendedDebugLogger, ValidationError, encode_hex, get_extended_debug_logger

from pyevm_jit.lean.guard import fingerprint as method_fingerprint

log = logging.getLogger(__name__)

BLOB_TX_TYPE = cancun_state.BLOB_TX_TYPE
SET_CODE_TX_TYPE = 4
_HALF_N = SECPK1_N // 2

#: executor and state methods whose py-evm objects the lean path copies or relies on
EXECUTOR_NAMES = (
    "__call__",
    "validate_transaction",
    "build_evm_message",
    "build_computation",
    "finalize_computation",
    "calculate_gas_refund",
    "calc_data_floor_gas",
    "calc_data_fee",
    "calc_message_refund",
    "get_code_at_address",
)
STATE_NAMES = ("validate_transaction", "get_gas_price", "get_tip", "get_transaction_context",
               "logger")  # fmt: skip
#: module functions py-evm's validation calls by their global names (checked per call)
_GLOBALS = (
    (london_state, "validate_london_normalized_transaction"),
    (london_validation, "validate_homestead_transaction"),
    (homestead_validation, "validate_frontier_transaction"),
)


def _chain(cls: type, name: str) -> tuple[tuple[type, Any], ...]:
    """(class, raw attribute) for every class of `cls`'s MRO that defines `name`."""
    return tuple((k, k.__dict__[name]) for k in cls.__mro__ if name in k.__dict__)


def _function_of(raw: Any) -> Any:
    """The function (or property getter) behind a raw class attribute."""
    if isinstance(raw, (staticmethod, classmethod)):
        return raw.__func__
    if isinstance(raw, property):
        return raw.fget
    return raw


@dataclass(frozen=True)
class Family:
    """The py-evm classes one copy was written against."""

    name: str  # "london" (London to Shanghai), "cancun" or "prague"
    executor: type
    state: type
    #: name -> chain of (py-evm class, raw method) for the executor and the state
    executor_chains: dict[str, tuple[tuple[type, Any], ...]]
    state_chains: dict[str, tuple[tuple[type, Any], ...]]

    @property
    def cancun(self) -> bool:
        return self.name != "london"

    def fixed_checks(self) -> tuple[tuple[type, str, Any], ...]:
        """(py-evm class, name, raw method) of every link of every chain."""
        checks: list[tuple[type, str, Any]] = []
        for chains in (self.executor_chains, self.state_chains):
            for name, chain in chains.items():
                checks.extend((owner, name, raw) for owner, raw in chain)
        return tuple(checks)


def _family(name: str, executor: type, state: type) -> Family:
    return Family(
        name,
        executor,
        state,
        {n: _chain(executor, n) for n in EXECUTOR_NAMES},
        {n: _chain(state, n) for n in STATE_NAMES},
    )


#: name -> fingerprint (`method_fingerprint`) of py-evm 0.12.1b1's source of each method the
#: families' chains hold, keyed "Class.name"
RECORDED: dict[str, str] = {
    "BaseState.get_gas_price": "037e06b3a2b0463b",
    "BaseState.get_tip": "dd0b0bb1fb6f5126",
    "BaseState.get_transaction_context": "6321b5cae8081c9c",
    "BaseState.logger": "e7bf2e3091451e0b",
    "BaseTransactionExecutor.__call__": "a818f00f497ae4fe",
    "BerlinTransactionExecutor.build_computation": "c91577c4f6e528c3",
    "CancunState.get_transaction_context": "eafcd4a6b5052027",
    "CancunState.validate_transaction": "e029b14f5f4c9302",
    "CancunTransactionExecutor.__call__": "1c55593cc2713ed5",
    "CancunTransactionExecutor.build_evm_message": "0a3e38aac2aaffa9",
    "CancunTransactionExecutor.calc_data_fee": "ed6d763cf41b6bfd",
    "CancunTransactionExecutor.calc_message_refund": "3935af6898bdc19d",
    "CancunTransactionExecutor.get_code_at_address": "992a9a8986966806",
    "FrontierState.validate_transaction": "2a017d1da87f7ad3",
    "FrontierTransactionExecutor.build_computation": "407d56be59a7890a",
    "FrontierTransactionExecutor.build_evm_message": "191e8e3049d06771",
    "FrontierTransactionExecutor.calc_data_floor_gas": "a1e002a3b06a38f5",
    "FrontierTransactionExecutor.calculate_gas_refund": "897994f99fbf12a4",
    "FrontierTransactionExecutor.finalize_computation": "81efcaf5b933cd5c",
    "FrontierTransactionExecutor.validate_transaction": "30621cc7d20c152f",
    "HomesteadState.validate_transaction": "dd96f65a2a09ec95",
    "LondonState.get_gas_price": "038acb1fb4273b60",
    "LondonState.get_tip": "2c62dfd230c985d1",
    "LondonState.get_transaction_context": "3be3f5ccdbec3dad",
    "LondonState.validate_transaction": "281c970e9f08a7a9",
    "LondonTransactionExecutor.build_evm_message": "3ef800f286d2d2e1",
    "LondonTransactionExecutor.calculate_gas_refund": "acac33724ead1cd6",
    "PragueTransactionExecutor.calc_data_floor_gas": "e7978465d53faab3",
    "PragueTransactionExecutor.calc_message_refund": "03770371b5dec745",
    "PragueTransactionExecutor.get_code_at_address": "751155635e93f4da",
    "SpuriousDragonTransactionExecutor.finalize_computation": "65e8994548641ed8",
    "StateAPI.get_gas_price": "8279f3fe7ec0b0b8",
    "StateAPI.get_tip": "f8690bcc925b69ba",
    "StateAPI.get_transaction_context": "8ebff2624bcd26c4",
    "StateAPI.logger": "8530d0932b04f416",
    "StateAPI.validate_transaction": "163b0a1363d949d2",
    "TransactionExecutorAPI.__call__": "67a54802f8d2c96a",
    "TransactionExecutorAPI.build_computation": "fff3da2ceeb13722",
    "TransactionExecutorAPI.build_evm_message": "bfb74bb63a04a03e",
    "TransactionExecutorAPI.finalize_computation": "90c53bce026e8c6d",
    "TransactionExecutorAPI.validate_transaction": "c752dcde9bee16b5",
}


def _verified(family: Family) -> bool:
    """Whether the installed py-evm's methods of `family` are the ones this copy was written
    against (the recorded fingerprints)."""
    for owner, name, raw in family.fixed_checks():
        key = f"{owner.__name__}.{name}"
        found = method_fingerprint(_function_of(raw))
        if key not in RECORDED or found != RECORDED[key]:
            log.debug("pyevm-jit: %s is not py-evm 0.12.1b1's (%s): no lean transactions for "
                      "the %s family", key, found, family.name)  # fmt: skip
            return False
    return True


def _families() -> tuple[Family, ...]:
    return (
        _family("london", london_state.LondonTransactionExecutor, london_state.LondonState),
        _family("cancun", cancun_state.CancunTransactionExecutor, cancun_state.CancunState),
        _family("prague", prague_state.PragueTransactionExecutor, prague_state.PragueState),
    )


# --- the copy ------------------------------------------------------------------------------------
_LOGGER_NAMES: dict[type, str] = {}


def state_logger(state: Any) -> Any:
    """`BaseState.logger` of `state`: the same object eth-utils' `get_extended_debug_logger`
    returns, taken from the logging manager when it holds one of the right class."""
    cls = state.__class__
    name = _LOGGER_NAMES.get(cls)
    if name is None:
        name = _LOGGER_NAMES[cls] = f"eth.vm.state.{cls.__name__}"
    logger = logging.Logger.manager.loggerDict.get(name)
    if type(logger) is ExtendedDebugLogger:
        return logger
    return get_extended_debug_logger(name)


def transact(executor: Any, transaction: Any, family: Family) -> Any:
    """py-evm's executor `__call__` of `family` (see the module's docstring)."""
    state = executor.vm_state
    cancun = family.cancun
    prague = family.name == "prague"

    # -- validate_transaction: the transaction's checks, then the state's (London, Cancun)
    transaction.validate()
    base_fee = state.execution_context.base_fee_per_gas
    max_fee = transaction.max_fee_per_gas
    if max_fee < base_fee:
        raise ValidationError(
            f"Sender's max fee per gas ({transaction.max_fee_per_gas}) is "
            f"lower than block's base fee per gas ({base_fee})"
        )
    s = transaction.s
    if s > _HALF_N or s == 0:
        raise ValidationError("Invalid signature S value")
    gas = transaction.gas
    gas_price = min(max_fee, transaction.max_priority_fee_per_gas + base_fee)
    max_gas_cost = gas * gas_price
    sender = transaction.sender
    sender_balance = state.get_balance(sender)
    if sender_balance < max_gas_cost:
        raise ValidationError(
            f"Sender {sender!r} cannot afford txn gas "
            f"{max_gas_cost} with account balance {sender_balance}"
        )
    value = transaction.value
    total_cost = value + max_gas_cost
    if sender_balance < total_cost:
        raise ValidationError(
            f"Sender does not have enough balance to cover transaction value and gas "
            f" (has {sender_balance}, needs {total_cost})"
        )
    sender_nonce = state.get_nonce(sender)
    if sender_nonce != transaction.nonce:
        raise ValidationError(
            f"Invalid transaction nonce: Expected {sender_nonce}, but got {transaction.nonce}"
        )
    type_id = transaction.type_id if cancun else None
    if cancun:
        max_total_fee = gas * max_fee
        if type_id == BLOB_TX_TYPE:
            max_total_fee += (
                cancun_state.get_total_blob_gas(transaction) * transaction.max_fee_per_blob_gas
            )
        if state.get_balance(sender) < max_total_fee:
            raise ValidationError("Sender has insufficient funds for blob fee.")
        if type_id == BLOB_TX_TYPE and len(transaction.blob_versioned_hashes) == 0:
            raise ValidationError("Blob transaction must contain at least one blob.")

    # -- build_evm_message
    gas_fee = gas * gas_price
    if type_id == BLOB_TX_TYPE:
        gas_fee += executor.calc_data_fee(transaction)
    state.delta_balance(sender, -1 * gas_fee)
    state.increment_nonce(sender)
    refund = 0
    if prague and type_id == SET_CODE_TX_TYPE:
        refund = executor.calc_message_refund(transaction)
    message_gas = gas - transaction.intrinsic_gas
    to = transaction.to
    is_delegation = False
    if to == CREATE_CONTRACT_ADDRESS:
        contract_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
        data = b""
        code = transaction.data
    else:
        contract_address = None
        data = transaction.data
        if cancun:
            code, delegation_address = executor.get_code_at_address(to)
            is_delegation = delegation_address is not None
        else:
            code = state.get_code(to)
    logger = state_logger(state)
    debug = logger.show_debug2
    if debug:
        logger.debug2(_message_line(transaction, code, cancun))
    message = cancun_state.Message(
        gas=message_gas,
        to=to,
        sender=sender,
        value=value,
        data=data,
        code=code,
        create_address=contract_address,  # type: ignore[arg-type]
        refund=refund,
        is_delegation=is_delegation,
    )

    # -- build_computation (Berlin's warm marks, then Frontier's)
    state.mark_address_warm(sender)
    state.mark_address_warm(message.storage_address)
    for address, slots in transaction.access_list:
        state.mark_address_warm(address)
        for slot in slots:
            state.mark_storage_warm(address, slot)
    transaction_context = state.get_transaction_context(transaction)
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
    gas_remaining = computation.get_gas_remaining()
    gas_used = gas - gas_remaining
    gas_refund = min(computation.get_gas_refund(), gas_used // EIP3529_MAX_REFUND_QUOTIENT)
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
        state.delta_balance(computation.msg.sender, gas_refund_amount)
    gas_used = gas - gas_remaining - gas_refund + data_floor_gas
    tip = min(max_fee - base_fee, transaction.max_priority_fee_per_gas)
    transaction_fee = gas_used * tip
    coinbase = state.coinbase
    if debug:
        logger.debug2(f"TRANSACTION FEE: {transaction_fee} -> {encode_hex(coinbase)}")
    state.delta_balance(coinbase, transaction_fee)
    for account in computation.get_accounts_for_deletion():
        if debug:
            logger.debug2(f"DELETING ACCOUNT: {encode_hex(account)}")
        state.delete_account(account)
    for account in spurious_dragon_state.collect_touched_accounts(computation):
        if state.account_exists(account) and state.account_is_empty(account):
            if debug:
                logger.debug2(f"CLEARING EMPTY ACCOUNT: {encode_hex(account)}")
            state.delete_account(account)

    if cancun:
        state.clear_transient_storage()
    return computation


def _message_line(transaction: Any, code: bytes, cancun: bool) -> str:
    """The line py-evm's London or Cancun `build_evm_message` logs at level DEBUG2."""
    sender = encode_hex(transaction.sender)
    to = encode_hex(transaction.to)
    data_hash = encode_hex(keccak(transaction.data))
    line = f"TRANSACTION: {repr(transaction)}; sender: {sender} | to: {to} | data-hash: {data_hash}"
    if cancun:
        line += f" | gas: {transaction.gas} | code: {encode_hex(code)} | "
    return line


# --- the guard -----------------------------------------------------------------------------------
class _Guard:
    """Checks, per call, that the executor's and the state's methods are still `family`'s.

    Each check is one C-level `attrgetter` call on a class and a tuple comparison: for every
    py-evm class of the chains (a method patched on it after import), the executor class (a
    method set on it after `jit_vm`) and the state's class (verified against the chains the
    first time it is seen)."""

    def __init__(self, family: Family, executor_class: type) -> None:
        self.family = family
        names_of: dict[type, list[str]] = {}
        for owner, name, _raw in family.fixed_checks():
            names_of.setdefault(owner, []).append(name)
        # "__class__" first: the getter always returns a tuple
        self.owners = tuple(
            (owner, getter, getter(owner))
            for owner, names in names_of.items()
            for getter in (attrgetter("__class__", *names),)
        )
        executor_names = [n for n, chain in family.executor_chains.items() if chain]
        self.executor_get = attrgetter("__class__", *executor_names)
        self.executor_expected = self.executor_get(executor_class)
        state_names = [n for n, chain in family.state_chains.items() if chain]
        self.state_get = attrgetter("__class__", *state_names)
        #: state class -> what state_get gives for it (None: not the family's)
        self.states: dict[type, tuple[Any, ...] | None] = {}
        self.globals = tuple((module, name, getattr(module, name)) for module, name in _GLOBALS)
        self.instance_names = frozenset(STATE_NAMES)

    def holds(self, executor_class: type, state: Any) -> bool:
        for owner, getter, expected in self.owners:
            if getter(owner) != expected:
                return False
        if self.executor_get(executor_class) != self.executor_expected:
            return False
        state_class = state.__class__
        expected_state = self.states.get(state_class, _UNSEEN)
        if expected_state is _UNSEEN:
            expected_state = None
            if _matches(state_class, self.family.state_chains):
                expected_state = self.state_get(state_class)
            if len(self.states) < 256:
                self.states[state_class] = expected_state
        if expected_state is None or self.state_get(state_class) != expected_state:
            return False
        instance = getattr(state, "__dict__", None)
        if instance and not self.instance_names.isdisjoint(instance):
            return False
        for module, name, function in self.globals:
            if module.__dict__.get(name) is not function:
                return False
        return True


_UNSEEN: Any = object()


def _matches(cls: type, chains: dict[str, tuple[tuple[type, Any], ...]]) -> bool:
    """Whether `cls` resolves every name of `chains` to exactly that chain of py-evm methods
    (classes of its own before them define none of the names)."""
    for name, chain in chains.items():
        if tuple(raw for _, raw in _chain(cls, name)) != tuple(raw for _, raw in chain):
            return False
    return True


_VERIFIED: tuple[Family, ...] | None = None


def verified_families() -> tuple[Family, ...]:
    global _VERIFIED
    if _VERIFIED is None:
        _VERIFIED = tuple(f for f in _families() if _verified(f))
    return _VERIFIED


def family_of(executor_class: type, state_class: type) -> Family | None:
    """The family whose py-evm methods `executor_class` and `state_class` resolve to (None:
    they have their own, or the installed py-evm is not the one the copy was written for)."""
    for family in verified_families():
        if _matches(executor_class, family.executor_chains) and _matches(
            state_class, family.state_chains
        ):
            return family
    return None


def lean_transaction_executor(executor_class: type, state_class: type) -> type | None:
    """`executor_class` with the lean `__call__`, or None when it or `state_class` is not one
    of py-evm's families (then py-evm's executor runs as it is)."""
    family = family_of(executor_class, state_class)
    if family is None:
        return None
    guard = _Guard(family, executor_class)
    stock_call: Callable[[Any, Any], Any] = executor_class.__call__

    def lean_call(executor: Any, transaction: Any) -> Any:
        if guard.holds(executor_class, executor.vm_state) and executor.__class__ is lean:
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
