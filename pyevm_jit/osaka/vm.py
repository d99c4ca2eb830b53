"""OsakaVM: py-evm's Prague VM with Osaka's execution-layer changes, built the way py-evm builds
a fork (a state with its computation, opcodes and precompiles; header and block rules here),
and the blob-parameter-only forks after it (EIP-7892)."""

from __future__ import annotations

from typing import Any, ClassVar

import rlp
from eth._utils.db import get_block_header_by_hash
from eth.abc import BlockAPI, BlockHeaderAPI
from eth.vm.forks.cancun.state import get_total_blob_gas
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth_utils import ValidationError

from pyevm_jit.osaka.blobs import (
    BPO1_BLOB_SCHEDULE,
    BPO2_BLOB_SCHEDULE,
    OSAKA_BLOB_SCHEDULE,
    BlobSchedule,
)
from pyevm_jit.osaka.constants import MAX_RLP_BLOCK_SIZE
from pyevm_jit.osaka.state import OsakaState


def block_size(block: BlockAPI) -> int:
    """The length of the block's RLP encoding (what EIP-7934 bounds)."""
    return len(rlp.encode(block))


class OsakaVM(PragueVM):
    # fork name
    fork = "osaka"
    blob_schedule: ClassVar[BlobSchedule] = OSAKA_BLOB_SCHEDULE

    # classes
    _state_class = OsakaState

    @classmethod
    def create_header_from_parent(  # type: ignore[override]
        cls, parent_header: BlockHeaderAPI, **header_params: Any
    ) -> BlockHeaderAPI:
        header = create_prague_header_from_parent(parent_header, **header_params)
        if parent_header is None:
            return header
        excess = cls.blob_schedule.excess_blob_gas(parent_header)
        return header.copy(excess_blob_gas=excess)

    def validate_block(self, block: BlockAPI) -> None:
        size = block_size(block)
        if size > MAX_RLP_BLOCK_SIZE:
            raise ValidationError(
                f"Block RLP size {size} exceeds {MAX_RLP_BLOCK_SIZE} bytes (EIP-7934)"
            )
        super().validate_block(block)

    def validate_block_blobs(self, block: BlockAPI) -> None:
        parent_header = get_block_header_by_hash(block.header.parent_hash, self.chaindb)
        if block.header.excess_blob_gas != self.blob_schedule.excess_blob_gas(parent_header):
            raise ValidationError("Block excess blob gas was not updated correctly.")
        blob_gas_used = sum(get_total_blob_gas(tx) for tx in block.transactions)
        if blob_gas_used > self.blob_schedule.max_blob_gas:
            raise ValidationError("Block exceeded maximum blob gas limit.")
        if block.header.blob_gas_used != blob_gas_used:
            raise ValidationError(
                f"Block blob gas used ({block.header.blob_gas_used}) does not match "
                f"total blob gas used ({blob_gas_used})."
            )


def bpo_fork(fork: str, schedule: BlobSchedule) -> tuple[type[OsakaState], type[OsakaVM]]:
    """The state and VM classes of a blob-parameter-only fork (EIP-7892): Osaka with the blob
    `schedule`, named `<FORK>State` and `<FORK>VM` in this module (assign them to those names:
    pickle finds classes by name)."""
    name = fork.upper()
    shared = {"__module__": __name__, "blob_schedule": schedule}
    state = type(f"{name}State", (OsakaState,), shared)
    doc = f"Osaka with {name}'s blob schedule ({schedule.target} target, {schedule.max} max blobs)."
    vm = type(
        f"{name}VM", (OsakaVM,), {**shared, "__doc__": doc, "fork": fork, "_state_class": state}
    )
    return state, vm


BPO1State, BPO1VM = bpo_fork("bpo1", BPO1_BLOB_SCHEDULE)
BPO2State, BPO2VM = bpo_fork("bpo2", BPO2_BLOB_SCHEDULE)
