"""Storage tries: py-evm's AccountStorageDB with the exact value codec and, given a `ReadCache`,
reads by (current root, slot key) with links over the writes it sees."""

from __future__ import annotations

from typing import Any

from eth._utils.padding import pad32
from eth.db.backends.memory import MemoryDB
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
from eth.db.storage import CLEAR_COUNT_KEY_NAME, AccountStorageDB, StorageLookup
from eth.vm.interrupt import MissingStorageTrieNode
from eth_hash.auto import keccak

from pyevm_jit.lean.statedb.clearcount import LeanClearCountMixin
from pyevm_jit.lean.statedb.codec import decode_value, encode_value
from pyevm_jit.lean.statedb.readcache import ReadCache
from pyevm_jit.lean.statedb.trie import trie_get


class _CachedStorageLookup(StorageLookup):
    """py-evm's StorageLookup with reads by (current root, slot key) and links over writes."""

    _cache: ReadCache
    _namespace: int
    # a batch of writes being observed: root before the first, root after the last, changes
    _batch_before: bytes | None = None
    _batch_after: bytes | None = None
    _batch_changes: dict[bytes, bytes] | None = None

    def _root(self) -> bytes:
        trie = self._write_trie
        root: bytes = trie.root_hash if trie is not None else self._starting_root_hash
        return root

    def _end_batch(self) -> None:
        before, after, changes = self._batch_before, self._batch_after, self._batch_changes
        if before is not None and changes is not None and after is not None:
            if after == self._root():
                self._cache.link(self._namespace, before, after, changes)
        self._batch_before = self._batch_after = self._batch_changes = None

    def _note_write(self, key: bytes, value: bytes, before: bytes) -> None:
        changes = self._batch_changes
        if changes is None or self._batch_after != before:
            self._end_batch()
            changes = {}
            self._batch_before, self._batch_changes = before, changes
        changes[key] = value
        self._batch_after = self._root()

    def __getitem__(self, key: bytes) -> bytes:
        if self._batch_changes is not None:
            self._end_batch()
        trie = self._write_trie
        root = trie.root_hash if trie is not None else self._starting_root_hash
        value = self._cache.get(self._namespace, root, key)
        if value is None:
            db = trie.db if trie is not None else self._db
            value = trie_get(db, root, keccak(pad32(key)))  # py-evm's _decode_key
            if value is None:
                value = super().__getitem__(key)
            self._cache.put(self._namespace, root, key, value)
        return value

    def _exists(self, key: bytes) -> bool:
        return self[key] != b""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        before = self._root()
        super().__setitem__(key, value)
        self._note_write(key, value, before)

    def __delitem__(self, key: bytes) -> None:
        before = self._root()
        super().__delitem__(key)
        self._note_write(key, b"", before)

    def _initialize_to_root_hash(self, root_hash: Any) -> None:
        if self._batch_changes is not None:
            self._end_batch()
        super()._initialize_to_root_hash(root_hash)

    def new_trie(self) -> int:
        if self._batch_changes is not None:
            self._end_batch()
        return super().new_trie()

    def rollback_trie(self, trie_index: int) -> None:
        if self._batch_changes is not None:
            self._end_batch()
        super().rollback_trie(trie_index)


class LeanAccountStorageDB(LeanClearCountMixin, AccountStorageDB):
    """py-evm's AccountStorageDB with an exact fast codec for values and, given a cache, over a
    `_CachedStorageLookup`."""

    def __init__(
        self,
        db: Any,
        storage_root: Any,
        address: Any,
        cache: ReadCache | None = None,
        namespace: int = 0,
    ) -> None:
        if cache is None or not namespace:
            super().__init__(db, storage_root, address)
            return
        # py-evm's AccountStorageDB.__init__ (same attributes, same layering), over the caching
        # lookup (tests/evm/test_statecache.py checks the attributes against py-evm's)
        lookup = _CachedStorageLookup.__new__(_CachedStorageLookup)
        lookup._cache = cache
        lookup._namespace = namespace
        StorageLookup.__init__(lookup, db, storage_root, address)
        self._address = address
        self._storage_lookup = lookup
        self._storage_cache = CacheDB(lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)
        self._accessed_slots = set()
        self._clear_count = JournalDB(MemoryDB({CLEAR_COUNT_KEY_NAME: b"\x00"}))

    def get(self, slot: int, from_journal: bool = True) -> int:
        self._accessed_slots.add(slot)
        key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
        lookup_db = self._journal_storage if from_journal else self._locked_changes
        try:
            encoded_value = lookup_db[key]
        except MissingStorageTrieNode:
            raise
        except KeyError:
            return 0
        if encoded_value == b"":
            return 0
        return decode_value(encoded_value)

    def set(self, slot: int, value: int) -> None:
        if value:
            key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
            self._journal_storage[key] = encode_value(value)
        else:
            super().set(slot, value)

    def make_storage_root(self) -> None:
        super().make_storage_root()
        lookup = self._storage_lookup
        if isinstance(lookup, _CachedStorageLookup) and lookup._batch_changes is not None:
            lookup._end_batch()
