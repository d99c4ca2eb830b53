"""Blob gas under Osaka: the blob schedule (EIP-7892), the per-transaction blob limit
(EIP-7594) and the excess blob gas rule that bounds the blob base fee by the execution base
fee (EIP-7918)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth.vm.forks.cancun.constants import GAS_PER_BLOB, MIN_BLOB_BASE_FEE
from eth.vm.forks.cancun.state import fake_exponential

from pyevm_jit.osaka.constants import BLOB_BASE_COST


@dataclass(frozen=True)
class BlobSchedule:
    """One fork's blob parameters (EIP-7892): blobs per block aimed at and allowed, and the
    base fee's update fraction."""

    target: int
    max: int
    update_fraction: int

    @property
    def target_blob_gas(self) -> int:
        return self.target * GAS_PER_BLOB

    @property
    def max_blob_gas(self) -> int:
        return self.max * GAS_PER_BLOB

    def blob_base_fee(self, excess_blob_gas: int) -> int:
        return int(fake_exponential(MIN_BLOB_BASE_FEE, excess_blob_gas, self.update_fraction))

    def excess_blob_gas(self, parent_header: Any) -> int:
        """The excess blob gas of the block after `parent_header` (EIP-4844 with EIP-7918)."""
        excess = getattr(parent_header, "excess_blob_gas", None)
        used = getattr(parent_header, "blob_gas_used", None)
        if excess is None or used is None:
            return 0  # a parent before Cancun
        if excess + used < self.target_blob_gas:
            return 0
        base_fee = int(getattr(parent_header, "base_fee_per_gas", 0) or 0)
        if BLOB_BASE_COST * base_fee > GAS_PER_BLOB * self.blob_base_fee(excess):
            # EIP-7918: execution costs dominate; the excess grows as if the target were lower
            return int(excess + used * (self.max - self.target) // self.max)
        return int(excess + used - self.target_blob_gas)


#: Osaka keeps Prague's blob parameters (EIP-7691); the BPO forks only change these
OSAKA_BLOB_SCHEDULE = BlobSchedule(target=6, max=9, update_fraction=5_007_716)
#: the first two blob-parameter-only forks (EIP-7892), as the execution specification has them
BPO1_BLOB_SCHEDULE = BlobSchedule(target=10, max=15, update_fraction=8_346_193)
BPO2_BLOB_SCHEDULE = BlobSchedule(target=14, max=21, update_fraction=11_684_671)
