"""Osaka's state: the transaction rules of EIP-7825 (gas cap) and EIP-7594 (blobs per
transaction), and the blob base fee of the fork's blob schedule (EIP-7892)."""

from __future__ import annotations

from typing import ClassVar

from eth.abc import SignedTransactionAPI
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.prague.state import PragueState
from eth_utils import ValidationError

from pyevm_jit.osaka.blobs import OSAKA_BLOB_SCHEDULE, BlobSchedule
from pyevm_jit.osaka.computation import OsakaComputation
from pyevm_jit.osaka.constants import BLOB_COUNT_LIMIT, TX_MAX_GAS_LIMIT


def validate_osaka_transaction(transaction: SignedTransactionAPI) -> None:
    """Osaka's own rules for one transaction (ValidationError when it breaks one)."""
    if transaction.gas > TX_MAX_GAS_LIMIT:
        raise ValidationError(
            f"Transaction gas limit {transaction.gas} exceeds the cap {TX_MAX_GAS_LIMIT} "
            "(EIP-7825)"
        )
    if transaction.type_id == BLOB_TX_TYPE:
        count = len(transaction.blob_versioned_hashes)
        if count > BLOB_COUNT_LIMIT:
            raise ValidationError(
                f"Transaction has {count} blobs; at most {BLOB_COUNT_LIMIT} allowed (EIP-7594)"
            )


class OsakaState(PragueState):
    computation_class = OsakaComputation
    blob_schedule: ClassVar[BlobSchedule] = OSAKA_BLOB_SCHEDULE

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        validate_osaka_transaction(transaction)
        super().validate_transaction(transaction)

    @property
    def blob_base_fee(self) -> int:
        return self.blob_schedule.blob_base_fee(self.execution_context.excess_blob_gas)
