"""Exact fast codecs for the four-field account record and storage values: py-evm's `rlp`
results for plain records, with `rlp` itself deciding anything unusual.

`new_account` builds py-evm's `Account` record without rlp's generic constructor.
`Account(nonce, balance, storage_root, code_hash)` runs rlp's `BaseSerializable.__init__` (an
argument count check, then `setattr(self, attr, make_immutable(value))` per field: about 3.4 us,
several times per transaction); for ints and bytes `make_immutable` returns the value itself,
so the record is a plain instance whose `__dict__` holds the four private field attributes.
`new_account` builds that same object directly (about 0.7 us), only while `guard` finds
py-evm's constructor as pinned (`plain_account_init`, checked per record) and only for int and
bytes values; anything else goes through `Account(...)`."""

from __future__ import annotations

from typing import Any

import rlp
from eth.rlp.accounts import Account
from lru import LRU

from pyevm_jit.lean import guard

_ACCOUNT_INIT = guard.plain_account_init()
_object_new = object.__new__


def new_account(nonce: int, balance: int, storage_root: bytes, code_hash: bytes) -> Account:
    """`Account(nonce, balance, storage_root, code_hash)`: the same object."""
    if (
        _ACCOUNT_INIT is not None
        and nonce.__class__ is int
        and balance.__class__ is int
        and storage_root.__class__ is bytes
        and code_hash.__class__ is bytes
        and guard.account_init_is(_ACCOUNT_INIT)
    ):
        account = _object_new(Account)
        fields: dict[str, Any] = account.__dict__
        fields["_nonce"] = nonce
        fields["_balance"] = balance
        fields["_storage_root"] = storage_root
        fields["_code_hash"] = code_hash
        return account
    return Account(nonce, balance, storage_root, code_hash)


def _encode_int(value: int) -> bytes:
    if value == 0:
        return b"\x80"
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if len(data) == 1 and data[0] < 0x80:
        return data
    return bytes((0x80 + len(data),)) + data


def encode_account(account: Any) -> bytes:
    """`rlp.encode(account, sedes=Account)`, exactly, for a plain Account."""
    if type(account) is Account:
        nonce, balance, storage_root, code_hash = account
        if (
            type(nonce) is int
            and type(balance) is int
            and 0 <= nonce
            and 0 <= balance < 1 << 256
            and type(storage_root) is bytes
            and type(code_hash) is bytes
            and len(storage_root) == 32
            and len(code_hash) == 32
        ):
            payload = b"".join(
                (
                    _encode_int(nonce),
                    _encode_int(balance),
                    b"\xa0",
                    storage_root,
                    b"\xa0",
                    code_hash,
                )
            )
            if len(payload) < 256:  # always, for nonces below 2**64 * 2**1500
                return b"\xf8" + bytes((len(payload),)) + payload
    return rlp.encode(account, sedes=Account)


def _decode_int(data: bytes, at: int) -> tuple[int, int] | None:
    first = data[at]
    if first < 0x80:
        return first, at + 1
    if first == 0x80:
        return 0, at + 1
    length = first - 0x80
    if length > 32 or (length == 1 and data[at + 1] < 0x80) or data[at + 1] == 0:
        return None  # non-canonical or unusual: py-evm's decoder decides
    end = at + 1 + length
    return int.from_bytes(data[at + 1 : end], "big"), end


def decode_account(data: bytes) -> Account:
    """`rlp.decode(data, sedes=Account)` for well-formed records, else py-evm's rlp decides."""
    if len(data) >= 70 and data[0] == 0xF8 and data[1] == len(data) - 2:
        nonce = _decode_int(data, 2)
        if nonce is not None:
            balance = _decode_int(data, nonce[1])
            if balance is not None:
                at = balance[1]
                if len(data) == at + 66 and data[at] == 0xA0 and data[at + 33] == 0xA0:
                    root, code_hash = data[at + 1 : at + 33], data[at + 34 :]
                    return new_account(nonce[0], balance[0], root, code_hash)
    return rlp.decode(data, sedes=Account)


_BLANK_ACCOUNT = Account()
# RLP account record -> Account (immutable), shared: a pure function of the bytes
_decoded: LRU[bytes, Account] = LRU(8192)


def account_from(data: bytes) -> Account:
    if not data:
        return _BLANK_ACCOUNT
    account = _decoded.get(data)
    if account is None:
        account = _decoded[data] = decode_account(data)
    return account


def encode_value(value: int) -> bytes:
    """`rlp.encode(value)` for a storage value (0 < value < 2**256)."""
    return _encode_int(value)


def decode_value(data: bytes) -> int:
    """`rlp.decode(data, sedes=big_endian_int)` for canonical values, else rlp decides."""
    first = data[0]
    if first < 0x80:
        if first:
            return first
    elif 0x81 < first <= 0xA0 or (first == 0x81 and len(data) == 2 and data[1] >= 0x80):
        if len(data) == first - 0x7F and data[1]:
            return int.from_bytes(data[1:], "big")
    return rlp.decode(data, sedes=rlp.sedes.big_endian_int)
