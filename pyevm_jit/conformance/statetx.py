"""The transaction a state-test post entry selects, built and signed with the fork's
transaction builder, and the fixtures' notations (numbers, byte strings, addresses, BLOCKHASH,
the logs hash) that every reader of state-test fixtures shares."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

#: the chain id of the ethereum/tests fixtures (their typed transactions are signed with it) and
#: of every chain the package builds for tests, fuzzing and benchmarks
CHAIN_ID = 1


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if ":bigint" in text:
        # The fillers' `:bigint 0x...` notation for values beyond 256 bits survives in some
        # filled fixtures (e.g. `0x:bigint 0x1000...01`): the number is what follows.
        text = text.split(":bigint", 1)[1].strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text or "0")


def _bytes(value: Any) -> bytes:
    text = str(value)
    if text.startswith(("0x", "0X")):
        text = text[2:]
    if len(text) % 2:
        raise ValueError(f"odd-length hex string {value!r}")
    return bytes.fromhex(text)


def _address(value: Any) -> bytes:
    raw = _bytes(value)
    if len(raw) != 20:
        raise ValueError(f"bad address {value!r}")
    return raw


#: the fixtures' notations of numbers, byte strings and addresses, for other readers of them
fixture_int, fixture_bytes, fixture_address = _int, _bytes, _address


def state_test_block_hash(number: int) -> bytes:
    """BLOCKHASH in state tests: keccak256 of the block number in decimal (as geth defines)."""
    from eth_hash.auto import keccak

    return bytes(keccak(str(number).encode()))


def _access_list(entries: Any) -> list[tuple[bytes, list[int]]]:
    return [
        (_address(entry["address"]), [_int(key) for key in entry.get("storageKeys", [])])
        for entry in entries or []
    ]


class TransactionRejected(Exception):
    """The transaction could not be built or is invalid for the fork."""


def legacy_chain_id(tx_bytes: bytes | None) -> int | None:
    """The EIP-155 chain id a fixture signed its legacy transaction with (None: unprotected,
    v = 27/28, as in the older fixtures; the EEST-generated ones use chain id 1)."""
    import rlp

    if not tx_bytes or tx_bytes[0] < 0xC0:
        return None
    try:
        fields = rlp.decode(tx_bytes)
        v = int.from_bytes(fields[6], "big")
    except Exception:
        return None
    return (v - 35) // 2 if v >= 35 else None


def build_transaction(
    vm_class: type[Any],
    tx: dict[str, Any],
    indexes: dict[str, Any],
    chain_id_for_legacy: int | None = None,
) -> Any:
    """The signed transaction a post entry selects, built with the fork's transaction builder.

    Legacy transactions are signed with `chain_id_for_legacy` (None: unprotected); typed ones
    carry chain id 1. Raises TransactionRejected when the fork cannot express it or a value is
    out of range.
    """
    from eth_keys import keys

    d, g, v = _int(indexes["data"]), _int(indexes["gas"]), _int(indexes["value"])
    data = _bytes(tx["data"][d])
    gas = _int(tx["gasLimit"][g])
    value = _int(tx["value"][v])
    nonce = _int(tx["nonce"])
    to = b"" if not tx.get("to") else _address(tx["to"])
    access_lists = tx.get("accessLists")
    access_list_entries = access_lists[d] if access_lists and d < len(access_lists) else None
    builder = vm_class.get_transaction_builder()
    private_key = keys.PrivateKey(_bytes(tx["secretKey"]).rjust(32, b"\x00"))

    def typed(method: str, fields: dict[str, Any]) -> Any:
        make = getattr(builder, method, None)
        if make is None:
            raise TransactionRejected(f"transaction type ({method}) not supported by this fork")
        return make(**fields)

    def common(fee_market: bool) -> dict[str, Any]:
        """The fields every typed transaction has (EIP-1559 fees or a gas price)."""
        fields: dict[str, Any] = {"chain_id": CHAIN_ID, "nonce": nonce}
        if fee_market:
            fields["max_priority_fee_per_gas"] = _int(tx["maxPriorityFeePerGas"])
            fields["max_fee_per_gas"] = _int(tx["maxFeePerGas"])
        else:
            fields["gas_price"] = _int(tx["gasPrice"])
        fields.update(gas=gas, to=to, value=value, data=data)
        fields["access_list"] = _access_list(access_list_entries)
        return fields

    try:
        if "authorizationList" in tx:
            fields = common(fee_market=True)
            fields["authorization_list"] = [
                {
                    "chain_id": _int(auth["chainId"]),
                    "address": _address(auth["address"]),
                    "nonce": _int(auth["nonce"]),
                    "y_parity": _int(auth.get("yParity", auth.get("v", 0))),
                    "r": _int(auth["r"]),
                    "s": _int(auth["s"]),
                }
                for auth in tx["authorizationList"]
            ]
            unsigned = typed("new_unsigned_set_code_transaction", fields)
        elif "blobVersionedHashes" in tx:
            fields = common(fee_market=True)
            fields["max_fee_per_blob_gas"] = _int(tx["maxFeePerBlobGas"])
            fields["blob_versioned_hashes"] = [_bytes(h) for h in tx["blobVersionedHashes"]]
            unsigned = typed("new_unsigned_blob_transaction", fields)
        elif "maxFeePerGas" in tx:
            unsigned = typed("new_unsigned_dynamic_fee_transaction", common(fee_market=True))
        elif access_list_entries is not None:
            unsigned = typed("new_unsigned_access_list_transaction", common(fee_market=False))
        else:
            unsigned = vm_class.create_unsigned_transaction(
                nonce=nonce, gas_price=_int(tx["gasPrice"]), gas=gas, to=to, value=value, data=data
            )
            return unsigned.as_signed_transaction(private_key, chain_id=chain_id_for_legacy)
        return unsigned.as_signed_transaction(private_key)
    except TransactionRejected:
        raise
    except Exception as exc:  # out-of-range values fail in rlp or in validation
        raise TransactionRejected(f"{type(exc).__name__}: {exc}") from exc


def validate_block_blob_gas(vm_class: type[Any], transaction: Any) -> None:
    """The block rule a state test's one-transaction block must satisfy (EIP-4844): its blob gas
    is at most the fork's MAX_BLOB_GAS_PER_BLOCK. py-evm checks this only when validating a
    whole block, so it is applied here with py-evm's own constants (geth's state-test runner
    does the same)."""
    import importlib

    from eth_utils import ValidationError

    try:
        count = len(transaction.blob_versioned_hashes)
    except (AttributeError, NotImplementedError, TypeError):
        count = 0
    if not count:
        return
    for klass in vm_class.__mro__:
        module_name = getattr(klass, "__module__", "")
        if not module_name.startswith("eth.vm.forks.") or module_name.count(".") != 3:
            continue
        try:
            constants = importlib.import_module(module_name + ".constants")
        except ImportError:
            continue
        limit: int | None = getattr(constants, "MAX_BLOB_GAS_PER_BLOCK", None)
        if limit is None:
            continue
        from eth.vm.forks.cancun.constants import GAS_PER_BLOB

        per_blob: int = getattr(constants, "GAS_PER_BLOB", GAS_PER_BLOB)
        if count * per_blob > limit:
            raise ValidationError(f"blob gas {count * per_blob} exceeds the block limit {limit}")
        return


def encode_transaction(transaction: Any) -> bytes:
    import rlp

    encode = getattr(transaction, "encode", None)
    return bytes(encode()) if callable(encode) else bytes(rlp.encode(transaction))


def logs_hash(log_entries: Iterable[tuple[bytes, Sequence[int], bytes]]) -> bytes:
    """keccak256(rlp([[address, [topic...], data]...])) with 32-byte topics."""
    import rlp
    from eth_hash.auto import keccak

    payload = [
        [address, [topic.to_bytes(32, "big") for topic in topics], data]
        for address, topics, data in log_entries
    ]
    return bytes(keccak(rlp.encode(payload)))


EMPTY_LOGS_HASH = bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
