"""The lean `build_evm_message`: a transaction's message without the eagerly formatted debug line.

py-evm's `build_evm_message` formats a debug line (the transaction's repr, a keccak of its
data, the contract's code in hex) before asking the logger whether debug output is on; that
formatting is most of the method's time. `_build_evm_message` below does what py-evm's three
versions of the method do (Frontier, London and Cancun: they differ only in the debug line and,
from Cancun on, the blob data fee, the message refund and EIP-7702 code lookup), in the same
order, with the same debug line written only when the logger shows it.

Each lean method replaces py-evm's only when py-evm's method is the one it was written against
(`guard.BUILD_EVM_MESSAGE`, fingerprints in `guard.PINNED`); any other version of the method --
a py-evm upgrade that changes it -- is used as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from eth._utils.address import generate_contract_address
from eth.abc import MessageAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.vm.forks.cancun import state as cancun_state
from eth.vm.message import Message
from eth_typing import Address
from eth_utils import encode_hex, keccak

from pyevm_jit.lean import guard

log = logging.getLogger(__name__)

LeanMethod = Callable[[Any, SignedTransactionAPI], MessageAPI]


def _build_evm_message(self: Any, transaction: Any, family: str) -> MessageAPI:
    """py-evm's `build_evm_message` of `family`: "frontier", "london" (only the debug line
    differs) or "cancun" (also the blob data fee, the message refund and delegations)."""
    cancun = family == "cancun"
    state = self.vm_state
    gas_fee = transaction.gas * state.get_gas_price(transaction)
    if cancun and transaction.type_id == cancun_state.BLOB_TX_TYPE:
        gas_fee += self.calc_data_fee(transaction)
    state.delta_balance(transaction.sender, -1 * gas_fee)
    state.increment_nonce(transaction.sender)
    refund = self.calc_message_refund(transaction) if cancun else 0
    message_gas = transaction.gas - transaction.intrinsic_gas
    contract_address, data, code, is_delegation = message_target(
        self, state, transaction.sender, transaction.to, transaction.data, cancun
    )
    logger = state.logger
    if logger.show_debug2:
        logger.debug2(_debug_line(transaction, code, family))
    return Message(
        gas=message_gas,
        to=transaction.to,
        sender=transaction.sender,
        value=transaction.value,
        data=data,
        code=code,
        create_address=contract_address,  # type: ignore[arg-type]
        refund=refund,
        is_delegation=is_delegation,
    )


def message_target(
    executor: Any, state: Any, sender: Any, to: Any, tx_data: bytes, cancun: bool
) -> tuple[Address | None, bytes, bytes, bool]:
    """The part of py-evm's `build_evm_message` that finds what the message runs: (the address a
    creation makes or None, the message's data, the code it runs, whether that code is an
    EIP-7702 delegation's), with py-evm's calls on the state in py-evm's order. Shared by
    `_build_evm_message` and the lean executor's inlined copy (`lean.transaction`)."""
    if to == CREATE_CONTRACT_ADDRESS:
        return generate_contract_address(sender, state.get_nonce(sender) - 1), b"", tx_data, False
    if cancun:
        code, delegation_address = executor.get_code_at_address(to)
        return None, tx_data, code, delegation_address is not None
    return None, tx_data, state.get_code(to), False


def _debug_line(transaction: Any, code: bytes, family: str) -> str:
    """The line py-evm's `build_evm_message` of `family` logs at level DEBUG2."""
    sender = encode_hex(transaction.sender)
    to = encode_hex(transaction.to)
    data_hash = encode_hex(keccak(transaction.data))
    if family == "frontier":
        return (
            f"TRANSACTION: sender: {sender} | to: {to} | value: {transaction.value} | "
            f"gas: {transaction.gas} | gas-price: {transaction.gas_price} | "
            f"s: {transaction.s} | r: {transaction.r} | y_parity: {transaction.y_parity} | "
            f"data-hash: {data_hash}"
        )
    line = f"TRANSACTION: {repr(transaction)}; sender: {sender} | to: {to} | data-hash: {data_hash}"
    if family == "cancun":
        line += f" | gas: {transaction.gas} | code: {encode_hex(code)} | "
    return line


def _lean_method(family: str) -> LeanMethod:
    """The lean `build_evm_message` of `family`, to stand in an executor class."""

    def build_evm_message(self: Any, transaction: SignedTransactionAPI) -> MessageAPI:
        return _build_evm_message(self, transaction, family)

    build_evm_message.__qualname__ = f"lean_{family}_build_evm_message"
    return build_evm_message


#: family -> the lean copy of py-evm's build_evm_message of that family
LEAN: dict[str, LeanMethod] = {
    family: _lean_method(family) for _name, family in guard.BUILD_EVM_MESSAGE
}


def lean_methods() -> dict[Any, LeanMethod]:
    """py-evm's build_evm_message -> its lean copy, for each method of the installed py-evm that
    is the one its copy was written against."""
    return {method: LEAN[family] for method, family in guard.pinned_build_evm_messages().items()}


_BUILD_EVM_MESSAGE = lean_methods()


def lean_executor(executor_class: type) -> type | None:
    """`executor_class` with the lean `build_evm_message`, or None when its method is not one
    of py-evm's that a lean copy was written against."""
    method: Any = getattr(executor_class, "build_evm_message", None)
    lean = _BUILD_EVM_MESSAGE.get(method)
    if lean is None:
        return None
    return type(
        f"Lean{executor_class.__name__}",
        (executor_class,),
        {"build_evm_message": lean, "__module__": __name__},
    )
