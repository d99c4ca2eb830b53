"""The block a test transaction runs in (a benchmark case's, a specification case's) and its
py-evm header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyevm_jit.forks import header_class


@dataclass(frozen=True)
class BlockEnv:
    """A post-merge block (`block_hashes`: its ancestors', newest first, the parent's first, at
    most 256)."""

    coinbase: bytes
    number: int
    timestamp: int
    gas_limit: int
    base_fee: int
    prev_randao: bytes
    excess_blob_gas: int = 0
    beacon_root: bytes = b"\x00" * 32
    block_hashes: Sequence[bytes] = ()

    def header(self, vm_class: type[Any], **fields: Any) -> Any:
        """The block header of `vm_class` for this block (difficulty 0, RANDAO as the mix hash),
        with the header `fields` given."""
        return header_class(vm_class)(
            block_number=self.number,
            timestamp=self.timestamp,
            gas_limit=self.gas_limit,
            coinbase=self.coinbase,
            difficulty=0,
            mix_hash=self.prev_randao.rjust(32, b"\x00"),
            base_fee_per_gas=self.base_fee,
            **fields,
        )
