"""Osaka's state: the transaction rules of EIP-7825 (gas cap) and EIP-7594 (blobs per
transaction), and the blob base fee of the fork's blob schedule (EIP-7892)."""

from __future__ import annotations

from typing import ClassVar, cast

from eth._utils.state import code_is_delegation_designation
from eth.abc import ComputationAPI, SignedTransactionAPI, StateAPI
from eth.constants import BLANK_ROOT_HASH, GAS_TX
from eth.exceptions import OutOfGas
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague.constants import (
    SET_CODE_TRANSACTION_TYPE,
    STANDARD_TOKEN_COST,
    TOTAL_COST_FLOOR_PER_TOKEN,
)
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.shanghai.constants import MAX_INITCODE_SIZE
from eth.vm.message import Message
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address
from eth_utils import ValidationError

from pyevm_jit.osaka.blobs import OSAKA_BLOB_SCHEDULE, BlobSchedule
from pyevm_jit.osaka.computation import OsakaComputation
from pyevm_jit.osaka.constants import BLOB_COUNT_LIMIT, TX_MAX_GAS_LIMIT

#: the transaction types with EIP-1559 fees (dynamic fee, blob, set code)
_FEE_MARKET_TYPES = (2, BLOB_TX_TYPE, SET_CODE_TRANSACTION_TYPE)
#: EIP-2681: a nonce is below 2^64 - 1
MAX_NONCE = 2**64 - 1


def calldata_floor_gas(transaction: SignedTransactionAPI) -> int:
    """EIP-7623's floor: the least gas a transaction must have for its calldata (py-evm's
    Prague charges it after execution but never checks a transaction can pay it)."""
    zeros = transaction.data.count(0)
    tokens = zeros + (len(transaction.data) - zeros) * STANDARD_TOKEN_COST
    return GAS_TX + TOTAL_COST_FLOOR_PER_TOKEN * tokens


def validate_osaka_transaction(state: StateAPI, transaction: SignedTransactionAPI) -> None:
    """Osaka's transaction rules that py-evm's Prague lacks (ValidationError when one is
    broken): Osaka's own (EIP-7825 gas cap, EIP-7594 blobs per transaction) and the older ones
    py-evm 0.12 does not check, which the specification does (see
    conformance/known_deviations.py)."""
    type_id = transaction.type_id
    if transaction.gas > TX_MAX_GAS_LIMIT:
        raise ValidationError(
            f"Transaction gas limit {transaction.gas} exceeds the cap {TX_MAX_GAS_LIMIT} (EIP-7825)"
        )
    if type_id in (BLOB_TX_TYPE, SET_CODE_TRANSACTION_TYPE) and not transaction.to:
        # EIP-4844, EIP-7702: these types always call an address (the specification cannot
        # even decode one with an empty `to`)
        raise ValidationError(f"Transaction of type {type_id} cannot create a contract")
    if type_id == BLOB_TX_TYPE:
        count = len(transaction.blob_versioned_hashes)
        if count > BLOB_COUNT_LIMIT:
            raise ValidationError(
                f"Transaction has {count} blobs; at most {BLOB_COUNT_LIMIT} allowed (EIP-7594)"
            )
    if transaction.gas < calldata_floor_gas(transaction):
        raise ValidationError(
            f"Transaction gas limit {transaction.gas} is below its calldata floor cost "
            f"{calldata_floor_gas(transaction)} (EIP-7623)"
        )
    if transaction.nonce >= MAX_NONCE:
        raise ValidationError(f"Transaction nonce {transaction.nonce} overflows (EIP-2681)")
    if not transaction.to and len(transaction.data) > MAX_INITCODE_SIZE:
        raise ValidationError(
            f"Init code of {len(transaction.data)} bytes exceeds {MAX_INITCODE_SIZE} (EIP-3860)"
        )
    if type_id in _FEE_MARKET_TYPES:
        if transaction.max_priority_fee_per_gas > transaction.max_fee_per_gas:
            raise ValidationError("Priority fee greater than max fee per gas (EIP-1559)")
        max_fee = transaction.gas * transaction.max_fee_per_gas
    else:
        max_fee = transaction.gas * transaction.gas_price
    if type_id == BLOB_TX_TYPE:
        max_fee += get_total_blob_gas(transaction) * transaction.max_fee_per_blob_gas
    if state.get_balance(transaction.sender) < max_fee + transaction.value:
        raise ValidationError("Sender cannot afford the gas, blob gas and value")
    if isinstance(transaction, SpoofTransaction):
        return  # a call or estimate may come from a contract (eth_call's `from`), as clients allow
    code = state.get_code(transaction.sender)
    if code and not code_is_delegation_designation(code):
        raise ValidationError("Sender has code: not an externally owned account (EIP-3607)")


class OsakaState(PragueState):
    computation_class = OsakaComputation
    blob_schedule: ClassVar[BlobSchedule] = OSAKA_BLOB_SCHEDULE

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        validate_osaka_transaction(self, transaction)
        super().validate_transaction(transaction)

    def apply_transaction(self, transaction: SignedTransactionAPI) -> ComputationAPI:
        """Apply a transaction. A call or gas estimate (py-evm's `SpoofTransaction`, never in a
        block) asking for more than the EIP-7825 cap runs with the cap: eth-tester and py-evm's
        gas estimator ask for the whole block's gas, which no Osaka transaction may have; one
        with less gas than its calldata floor (EIP-7623) runs out of gas, so that the estimator
        (which starts at the intrinsic gas) looks higher instead of failing."""
        if isinstance(transaction, SpoofTransaction):
            if transaction.gas > TX_MAX_GAS_LIMIT:
                transaction = cast(
                    SignedTransactionAPI, SpoofTransaction(transaction, gas=TX_MAX_GAS_LIMIT)
                )
            if transaction.gas < calldata_floor_gas(transaction):
                return self._out_of_gas(transaction, "below its calldata floor (EIP-7623)")
        return super().apply_transaction(transaction)

    def _out_of_gas(self, transaction: SignedTransactionAPI, why: str) -> ComputationAPI:
        """A computation of `transaction` that failed with OutOfGas before running."""
        message = Message(
            gas=0, to=transaction.to, sender=transaction.sender, value=0, data=b"", code=b""
        )
        computation = self.get_computation(message, self.get_transaction_context(transaction))
        computation.error = OutOfGas(f"gas {transaction.gas} {why}")
        return computation

    def has_code_or_nonce(self, address: Address) -> bool:
        """Whether creating a contract at `address` collides: also when its storage is not
        empty (EIP-7610, which py-evm 0.12 lacks)."""
        if super().has_code_or_nonce(address):
            return True
        # the account's storage root (py-evm's AccountDB has no public reader of it)
        return self._account_db._get_storage_root(address) != BLANK_ROOT_HASH  # type: ignore[attr-defined]

    @property
    def blob_base_fee(self) -> int:
        return self.blob_schedule.blob_base_fee(self.execution_context.excess_blob_gas or 0)
