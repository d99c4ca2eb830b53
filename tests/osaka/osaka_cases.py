"""Helpers of the Osaka tests (import as `from osaka_cases import ...`): building a case,
and the one result all sides agree on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyevm_jit.osaka import OsakaVM
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.block import BlockEnv
from pyevm_jit.testing.differential import SENDER, SENDER_KEY
from pyevm_jit.testing.osaka_spec import TxCase, TxResult

CONTRACT = bytes.fromhex("c0de" * 10)
ENV = BlockEnv(
    coinbase=bytes.fromhex("cb" * 20),
    number=300,
    timestamp=1_700_000_000,
    gas_limit=60_000_000,
    base_fee=7,
    prev_randao=b"\x5a" * 32,
    block_hashes=tuple(bytes([n % 256]) * 32 for n in range(299, 43, -1)),
)


Sides = Callable[[TxCase], dict[str, TxResult]]


def agreed(results: Mapping[str, TxResult]) -> TxResult:
    """The one result every side gave (AssertionError naming the first difference)."""
    reference = results.get("spec", results["interp"])
    for name, result in results.items():
        difference = reference.difference(result)
        assert difference is None, f"{name}: {difference}"
    return reference


def tx_case(
    code: bytes = b"",
    *,
    data: bytes = b"",
    gas: int = 1_000_000,
    to: bytes = CONTRACT,
    storage: Mapping[int, int] | None = None,
    probe: Sequence[int] = (),
    blob_hashes: Sequence[bytes] | None = None,
    balance: int = 10**24,
    name: str = "case",
    env: BlockEnv = ENV,
    max_fee_per_blob_gas: int = 10,
) -> TxCase:
    """A dynamic-fee (or, with `blob_hashes`, a blob) transaction from the test sender to
    `to`, with `code` installed at CONTRACT; `probe`: slots of CONTRACT to read afterwards."""
    builder = OsakaVM.get_transaction_builder()
    fields: dict[str, Any] = dict(
        chain_id=1,
        nonce=0,
        max_priority_fee_per_gas=1,
        max_fee_per_gas=10,
        gas=gas,
        to=to,
        value=0,
        data=data,
        access_list=[],
    )
    if blob_hashes is None:
        unsigned = builder.new_unsigned_dynamic_fee_transaction(**fields)
    else:
        unsigned = builder.new_unsigned_blob_transaction(
            **fields,
            max_fee_per_blob_gas=max_fee_per_blob_gas,
            blob_versioned_hashes=list(blob_hashes),
        )
    signed = unsigned.as_signed_transaction(SENDER_KEY)
    pre = {
        SENDER: Account(balance=balance),
        CONTRACT: Account(code=code, storage=dict(storage or {})),
    }
    return TxCase(name, pre, env, signed.encode(), tuple((CONTRACT, s) for s in probe))
