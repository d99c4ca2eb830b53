"""Keccak-256 of contract code, cached by value: a message must not re-hash code it has seen.

The per-message path (`computation._lookup_request`) caches whole lookup requests by the
identity of the code object; this cache serves equal code held in another object (for example
read again from the database)."""

from __future__ import annotations

import threading

from eth_hash.auto import keccak

_CACHE_LIMIT = 4096
_by_value: dict[bytes, bytes] = {}
_lock = threading.Lock()


def code_hash(code: bytes) -> bytes:
    digest = _by_value.get(code)
    if digest is None:
        digest = keccak(code)
        with _lock:
            if len(_by_value) >= _CACHE_LIMIT:
                _by_value.clear()
            _by_value[code] = digest
    return digest
