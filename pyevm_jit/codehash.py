"""Keccak-256 of contract code, cached: a message must not re-hash the same code every call."""

from __future__ import annotations

import threading

from eth_hash.auto import keccak

_CACHE_LIMIT = 4096
# id(code) -> (code, hash). The code object is held so its id cannot be reused while cached.
_by_identity: dict[int, tuple[bytes, bytes]] = {}
# code -> hash, for equal code in a different object (e.g. read again from the database)
_by_value: dict[bytes, bytes] = {}
_lock = threading.Lock()


def code_hash(code: bytes) -> bytes:
    entry = _by_identity.get(id(code))
    if entry is not None and entry[0] is code:
        return entry[1]
    digest = _by_value.get(code)
    if digest is None:
        digest = keccak(code)
    with _lock:
        if len(_by_identity) >= _CACHE_LIMIT:
            _by_identity.clear()
        if len(_by_value) >= _CACHE_LIMIT:
            _by_value.clear()
        _by_identity[id(code)] = (code, digest)
        _by_value[code] = digest
    return digest
