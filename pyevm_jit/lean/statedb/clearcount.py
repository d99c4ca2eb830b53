"""py-evm's `AccountStorageDB.delete` and `discard` without eth-utils' generic conversions.

Both methods keep a per-account "clear count" (how often the account's storage was wiped, the
index of the trie a revert goes back to) as bytes written by `eth_utils.to_bytes(int)` and read
by `to_int(bytes)`. Those go through eth-utils' argument validation decorator, and `to_bytes` of
an int through a hex string: most of the time of wiping an account's storage (EIP-161 clears a
touched empty coinbase after every free transaction) and of reverting a snapshot. The copies
below do the same steps in the same order with `int.from_bytes` / `int.to_bytes` (the same
bytes: big-endian, at least one byte), and format their debug lines only when the class's
logger shows DEBUG2 (it caches that answer). They stand in for py-evm's methods only while
py-evm's are the ones they were written against (py-evm 0.12.1b1, source fingerprints in
`guard`), else the mixin defers to py-evm's.
"""

from __future__ import annotations

from typing import Any

from eth.db.storage import CLEAR_COUNT_KEY_NAME
from eth_utils import ValidationError, to_int

from pyevm_jit.lean import guard

#: py-evm's methods the copies stand for (where they are the pinned versions)
_WRITTEN_AGAINST = guard.pinned_storage_methods()


def _count(value: Any) -> int:
    """`to_int(value)` for a stored clear count."""
    if value.__class__ is bytes:
        return int.from_bytes(value, "big")
    return to_int(value)


def _count_bytes(count: int) -> bytes:
    """`to_bytes(count)` for a clear count (a non-negative int)."""
    return count.to_bytes((count.bit_length() + 7) // 8 or 1, "big")


class LeanClearCountMixin:
    """In front of py-evm's AccountStorageDB (see the module's docstring)."""

    _address: Any
    _journal_storage: Any
    _storage_cache: Any
    _storage_lookup: Any
    _clear_count: Any
    logger: Any

    def delete(self) -> None:
        if not guard.storage_method_is("delete", _WRITTEN_AGAINST.get("delete")):
            return super().delete()  # type: ignore[misc]
        logger = self.logger
        if logger.show_debug2:
            logger.debug2(f"Deleting all storage in account 0x{self._address.hex()}")
        self._journal_storage.clear()
        self._storage_cache.reset_cache()
        new_clear_count = self._storage_lookup.new_trie()
        old_clear_count = _count(self._clear_count[CLEAR_COUNT_KEY_NAME])
        if new_clear_count != old_clear_count + 1:
            raise ValidationError(
                f"Must increase clear count by one on each delete. Instead, went from"
                f" {old_clear_count} -> {new_clear_count} in account"
                f" 0x{self._address.hex()}"
            )
        self._clear_count[CLEAR_COUNT_KEY_NAME] = _count_bytes(new_clear_count)

    def discard(self, checkpoint: Any) -> None:
        if not guard.storage_method_is("discard", _WRITTEN_AGAINST.get("discard")):
            return super().discard(checkpoint)  # type: ignore[misc]
        logger = self.logger
        if logger.show_debug2:
            logger.debug2(f"discard checkpoint {repr(checkpoint)}")
        latest_clear_count = _count(self._clear_count[CLEAR_COUNT_KEY_NAME])
        if self._journal_storage.has_checkpoint(checkpoint):
            self._journal_storage.discard(checkpoint)
            self._clear_count.discard(checkpoint)
        else:
            self._journal_storage.reset()
            self._clear_count.reset()
        self._storage_cache.reset_cache()
        reverted_clear_count = _count(self._clear_count[CLEAR_COUNT_KEY_NAME])
        if reverted_clear_count == latest_clear_count - 1:
            self._storage_lookup.rollback_trie(reverted_clear_count)
        elif reverted_clear_count == latest_clear_count:
            pass
        else:
            raise ValidationError(
                f"This revert has changed the clear count in an invalid way, from"
                f" {latest_clear_count} to {reverted_clear_count}, in"
                f" 0x{self._address.hex()}"
            )
