"""Content-keyed state reads: py-evm's AccountDB without repeated trie walks and RLP work.

A trie's root hash commits to its whole content, so the value of a key in the trie with a given
root never changes: a cache keyed by (root, key) cannot be stale. `ReadCache` holds such entries
for storage tries ((storage root, slot) -> RLP value) and for the account trie ((state root,
address) -> RLP account), bounded in entries (least recently used go first), shared by every
state, transaction and block that reads from the same database.

`jit_account_db(AccountDB subclass, cache)` returns an account database class that answers
trie reads from the cache and fills it on a miss. Everything above the tries -- py-evm's
journals, the per-transaction account cache, pending writes, snapshots and reverts, storage
wipes -- is py-evm's own code and runs unchanged; only the lowest layer (the committed trie at
its current root) is replaced by a lookup keyed by that root. Why no read path can be stale:

- Keys carry the root the trie has *at the time of the read* (`HexaryTrie.root_hash`, which
  py-evm updates on every write to the trie), so a write, a storage wipe (`new_trie`: the root
  becomes the blank root), a revert to an older trie (`rollback_trie`) or `state_root = x`
  changes the key, never the meaning of an existing key.
- Pending writes (py-evm's journals and `_locked_changes`) sit above the trie layer and answer
  first; the cache is only asked for what py-evm would ask the trie for.
- When a trie moves from root A to root B by writes the cache has seen (py-evm flushing pending
  storage in `make_storage_root`, or account changes in `make_state_root`), a link B -> (A,
  changed keys and their new values) lets reads at B of keys *not* changed reuse entries of A.
  The link is recorded only if the root after the last seen write is the current root and every
  write started from the root the previous one left, so a write the cache did not see (any code
  changing the trie behind its back) breaks the chain and no link is made.
- Entries are namespaced by the database the tries are read from (by object identity, held
  weakly), so a database that lacks a trie's nodes is never answered from another database's
  reads.

With or without the cache (`jit_account_db(cls, None)`), the class also avoids costs of
py-evm's AccountDB that are not trie reads, with the same results: RLP decoding and encoding of
account and storage records (a small exact codec for the four-field account and for values,
with py-evm's `rlp` deciding anything unusual), `Serializable.copy` for changed accounts,
`get_code`'s copy of every trie key read so far (a membership test on the same set instead) and
the generic database layers around the EIP-2929 access journal.

Not reproduced: the trie node hashes of reads answered by the cache are not added to the
accessed-node log behind `persist()`'s MetaWitness (a beam-sync aid of py-evm). Turn the cache
off (`RuntimeTuning.read_cache = False`) where that log matters.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import rlp
from eth._utils.padding import pad32
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.accesslog import KeyAccessLoggerDB
from eth.db.account import AccountDB
from eth.db.backends.base import BaseDB
from eth.db.backends.memory import MemoryDB
from eth.db.cache import CacheDB
from eth.db.hash_trie import HashTrie
from eth.db.journal import JournalDB
from eth.db.storage import CLEAR_COUNT_KEY_NAME, AccountStorageDB, StorageLookup
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.interrupt import MissingBytecode, MissingStorageTrieNode
from eth_hash.auto import keccak
from lru import LRU
from trie import HexaryTrie

#: default bound of the shared cache (about 300 bytes per entry)
DEFAULT_ENTRIES = 100_000
#: links followed at most per read before walking the trie
MAX_LINK_DEPTH = 16
#: a batch of writes larger than this is not linked (its changes would take too much memory)
MAX_LINK_CHANGES = 4096


class ReadCache:
    """Bounded (namespace, root, key) -> value map with root-to-root links. Thread-safe: every
    operation is a few calls on C-implemented LRU maps under the GIL, and each entry is correct
    on its own, so concurrent readers and writers can only miss, never read a wrong value."""

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, max_links: int = 4096) -> None:
        self.max_entries = max(16, int(max_entries))
        self._values: LRU[tuple[int, bytes, bytes], bytes] = LRU(self.max_entries)
        self._links: LRU[tuple[int, bytes], tuple[bytes, dict[bytes, bytes]]] = LRU(
            max(16, int(max_links)), self._link_dropped
        )
        # changed keys held by all links together: at most half the entry bound
        self._link_changes = 0
        # id(database) -> (weak reference to it, namespace number)
        self._namespaces: dict[int, tuple[weakref.ref[Any], int]] = {}
        self._lock = threading.Lock()
        self._next_namespace = 1
        self.hits = 0
        self.misses = 0

    def namespace(self, db: Any) -> int:
        """A number for the database `db`, by identity (0: `db` cannot be referenced weakly,
        and nothing is cached for it). The number is never reused for another database."""
        key = id(db)
        entry = self._namespaces.get(key)
        if entry is not None and entry[0]() is db:
            return entry[1]
        with self._lock:
            try:
                ref = weakref.ref(db, self._forget)
            except TypeError:
                return 0
            number = self._next_namespace
            self._next_namespace += 1
            self._namespaces[key] = (ref, number)
            return number

    def _forget(self, ref: weakref.ref[Any]) -> None:
        for key, (held, _number) in list(self._namespaces.items()):
            if held is ref:
                del self._namespaces[key]

    def get(self, namespace: int, root: bytes, key: bytes) -> bytes | None:
        """The value of `key` in the trie at `root`, or None when not known."""
        values = self._values
        value = values.get((namespace, root, key))
        if value is not None:
            self.hits += 1
            return value
        links = self._links
        at = root
        for _ in range(MAX_LINK_DEPTH):
            link = links.get((namespace, at))
            if link is None:
                break
            at, changes = link
            value = changes.get(key)
            if value is None:
                value = values.get((namespace, at, key))
            if value is not None:
                values[(namespace, root, key)] = value
                self.hits += 1
                return value
        self.misses += 1
        return None

    def put(self, namespace: int, root: bytes, key: bytes, value: bytes) -> None:
        self._values[(namespace, root, key)] = value

    def link(
        self, namespace: int, before: bytes, after: bytes, changes: dict[bytes, bytes]
    ) -> None:
        """The trie at `after` is the trie at `before` with `changes` (b"": deleted)."""
        if before == after or len(changes) > MAX_LINK_CHANGES:
            return
        key = (namespace, after)
        links = self._links
        with self._lock:
            old = links.pop(key, None)
            if old is not None:
                self._link_changes -= len(old[1])
            links[key] = (before, changes)
            self._link_changes += len(changes)
            while self._link_changes > self.max_entries // 2 and len(links) > 1:
                _key, dropped = links.popitem()  # the least recently used
                self._link_changes -= len(dropped[1])

    def _link_dropped(self, _key: Any, link: tuple[bytes, dict[bytes, bytes]]) -> None:
        # called by the LRU when it drops a link for its size (not for pop or popitem)
        self._link_changes -= len(link[1])

    def clear(self) -> None:
        """Forget every entry (never needed for correctness; frees the memory)."""
        with self._lock:
            self._values.clear()
            self._links.clear()
            self._link_changes = 0

    def resize(self, max_entries: int) -> None:
        self.max_entries = max(16, int(max_entries))
        self._values.set_size(self.max_entries)

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._values),
            "max_entries": self.max_entries,
            "links": len(self._links),
            "link_changes": self._link_changes,
            "hits": self.hits,
            "misses": self.misses,
        }

    def __len__(self) -> int:
        return len(self._values)


_shared: ReadCache | None = None
_shared_lock = threading.Lock()


def shared_read_cache(max_entries: int = DEFAULT_ENTRIES) -> ReadCache:
    """The process's read cache, shared by every JIT VM class; a request for more entries than
    it holds makes it larger."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ReadCache(max_entries)
        elif max_entries > _shared.max_entries:
            _shared.resize(max_entries)
        return _shared


# --- the four-field account record ---------------------------------------------------------------
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
                    return Account(nonce[0], balance[0], data[at + 1 : at + 33], data[at + 34 :])
    return rlp.decode(data, sedes=Account)


_BLANK_ACCOUNT = Account()
# RLP account record -> Account (immutable), shared: a pure function of the bytes
_decoded: LRU[bytes, Account] = LRU(8192)


def _account_from(data: bytes) -> Account:
    if not data:
        return _BLANK_ACCOUNT
    account = _decoded.get(data)
    if account is None:
        account = _decoded[data] = decode_account(data)
    return account


def _encode_value(value: int) -> bytes:
    """`rlp.encode(value)` for a storage value (0 < value < 2**256)."""
    return _encode_int(value)


def _decode_value(data: bytes) -> int:
    """`rlp.decode(data, sedes=big_endian_int)` for canonical values, else rlp decides."""
    first = data[0]
    if first < 0x80:
        if first:
            return first
    elif 0x81 < first <= 0xA0 or (first == 0x81 and len(data) == 2 and data[1] >= 0x80):
        if len(data) == first - 0x7F and data[1]:
            return int.from_bytes(data[1:], "big")
    return rlp.decode(data, sedes=rlp.sedes.big_endian_int)


# --- trie walks ---------------------------------------------------------------------------------
_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}
_Items = list[tuple[bool, int, int]]


def _rlp_items(buf: bytes, start: int, end: int) -> _Items | None:
    """The items of the RLP list payload buf[start:end]: (is a list, payload start, payload end)
    each; None for anything pyrlp's strict decoder would reject (non-canonical lengths, a
    single byte below 0x80 given a prefix, items running past the list)."""
    items: _Items = []
    at = start
    while at < end:
        b = buf[at]
        if b < 0x80:
            items.append((False, at, at + 1))
            at += 1
            continue
        if b < 0xB8:
            s, n, is_list = at + 1, b - 0x80, False
            if n == 1 and s < end and buf[s] < 0x80:
                return None
        elif 0xC0 <= b < 0xF8:
            s, n, is_list = at + 1, b - 0xC0, True
        else:  # a long string (0xB8-0xBF) or list (0xF8-0xFF): its length in the next ll bytes
            is_list = b >= 0xF8
            s = at + 1 + b - (0xF7 if is_list else 0xB7)
            if buf[at + 1] == 0:
                return None
            n = int.from_bytes(buf[at + 1 : s], "big")
            if n < 56:
                return None
        at = s + n
        if at > end:
            return None
        items.append((is_list, s, at))
    return items


def _node(data: bytes) -> tuple[bytes, _Items] | None:
    """A trie node's encoding as (buffer, items); None where py-evm's decoding is needed (not
    exactly one RLP list: a blank node, a malformed one)."""
    if not data or data[0] < 0xC0:
        return None
    items = _rlp_items(data, 0, len(data))
    if items is None or len(items) != 1 or not items[0][0]:
        return None
    _is_list, s, e = items[0]
    inner = _rlp_items(data, s, e)
    return None if inner is None else (data, inner)


def trie_get(db: Any, root: bytes, key: bytes) -> bytes | None:
    """`HexaryTrie(db, root).get(key)` for a trie whose keys are all 32 bytes long (storage and
    account tries: keccak hashes), read from the same node database (so py-evm's access logger
    sees the same node reads), or None where py-evm's own walk must answer: a node missing from
    the database (py-evm raises with the path) or anything unusual in a node.

    py-evm's walk decodes every node with pyrlp and converts the key and every node path to
    tuples of nibbles; here only the item boundaries of each node are read, and paths are hex
    strings. Same nodes read in the same order; tests/evm/test_statecache.py checks the result
    against HexaryTrie on random tries."""
    if root == BLANK_ROOT_HASH:
        return b""
    try:
        node = _node(db[root])
        path = key.hex()
        at, end = 0, len(path)
        while True:
            if node is None:
                return None
            buf, items = node
            if len(items) == 17:
                if at == end:
                    return None
                is_list, s, e = items[_NIBBLE[path[at]]]
                at += 1
            elif len(items) == 2:
                is_list, s, e = items[0]
                if is_list or s == e:
                    return None
                prefix = buf[s:e].hex()
                flag = prefix[0]
                nibbles = prefix[1:] if flag in "13" else prefix[2:]
                is_list, s, e = items[1]
                if flag in "23":  # a leaf: its value where the rest of the key is its path
                    if path[at:] != nibbles:
                        return b""
                    return None if is_list else buf[s:e]
                if flag not in "01" or at == end:
                    return None
                if not path.startswith(nibbles, at):
                    if nibbles.startswith(path[at:]):
                        return None  # the key ends inside the extension: py-evm's case
                    return b""
                at += len(nibbles)
            else:
                return None
            # the child: an inline node, blank, a hash, or (py-evm accepts it) short RLP bytes
            if is_list:
                inner = _rlp_items(buf, s, e)
                node = None if inner is None else (buf, inner)
                continue
            n = e - s
            if n == 0:
                return b""
            child = buf[s:e]
            if n == 32:
                if child == BLANK_ROOT_HASH:
                    return b""
                node = _node(db[child])
            elif n < 32:
                node = _node(child)
            else:
                return None
    except (KeyError, IndexError):
        return None


# --- the account trie ---------------------------------------------------------------------------
class _AccountTrieReads(BaseDB):
    """In place of AccountDB's `_trie_cache`: reads of the committed account trie, by root."""

    def __init__(self, wrapped: Any, hexary: Any, cache: ReadCache, namespace: int) -> None:
        self._wrapped = wrapped  # AccountDB's _trie_logger (over the HashTrie)
        self._hexary = hexary  # the HexaryTrie under the HashTrie: its root_hash is current
        self._cache = cache
        self._namespace = namespace
        # the key set of py-evm's access logger (accounts queried), when it is that logger over
        # a HashTrie over this HexaryTrie: then the trie is walked here (trie_get)
        self._keys_read: set[bytes] | None = None
        if (
            type(wrapped) is KeyAccessLoggerDB
            and type(wrapped.wrapped_db) is HashTrie
            and wrapped.wrapped_db._db is hexary
            and type(hexary) is HexaryTrie  # type: ignore[comparison-overlap]
            and type(getattr(wrapped, "_keys_read", None)) is set
        ):
            self._keys_read = wrapped._keys_read

    def __getitem__(self, key: bytes) -> bytes:
        hexary = self._hexary
        root = hexary.root_hash
        value = self._cache.get(self._namespace, root, key)
        if value is None:
            logged = self._keys_read
            if logged is not None:
                value = trie_get(hexary.db, root, keccak(key))
                if value is not None:
                    logged.add(key)  # as the access logger py-evm reads through records it
            if value is None:
                value = self._wrapped[key]
            self._cache.put(self._namespace, root, key, value)
        return value

    def _exists(self, key: bytes) -> bool:
        # as py-evm's CacheDB (no _exists: Mapping's test, "reading does not raise")
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._wrapped[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self._wrapped[key]

    def reset_cache(self) -> None:
        """py-evm drops its cache on a root change; entries here are keyed by root."""


# --- storage tries ------------------------------------------------------------------------------
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
        return trie.root_hash if trie is not None else self._starting_root_hash

    def _end_batch(self) -> None:
        before, after, changes = self._batch_before, self._batch_after, self._batch_changes
        if before is not None and changes is not None and after == self._root():
            self._cache.link(self._namespace, before, after, changes)
        self._batch_before = self._batch_after = self._batch_changes = None

    def _note_write(self, key: bytes, value: bytes, before: bytes) -> None:
        if self._batch_changes is None or self._batch_after != before:
            self._end_batch()
            self._batch_before, self._batch_changes = before, {}
        self._batch_changes[key] = value
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


class LeanAccountStorageDB(AccountStorageDB):
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
        return _decode_value(encoded_value)

    def set(self, slot: int, value: int) -> None:
        if value:
            key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
            self._journal_storage[key] = _encode_value(value)
        else:
            super().set(slot, value)

    def make_storage_root(self) -> None:
        super().make_storage_root()
        lookup = self._storage_lookup
        if getattr(lookup, "_batch_changes", None) is not None:
            lookup._end_batch()  # type: ignore[attr-defined]


# --- the account database ---------------------------------------------------------------------
def _hexary(account_db: Any) -> Any:
    """The HexaryTrie under AccountDB's HashTrie (its root_hash is the state root)."""
    return account_db._trie._db


if TYPE_CHECKING:
    _AccountDBBase = AccountDB
else:
    _AccountDBBase = object


class LeanAccountDBMixin(_AccountDBBase):
    """In front of py-evm's AccountDB: the same results with less Python per operation (exact
    codecs for account records and storage values, access marks and code reads without the
    generic database layers)."""

    _jit_cache: ReadCache | None = None
    _jit_namespace: int = 0

    # accounts
    def _get_account(self, address: Any, from_journal: bool = True) -> Account:
        if from_journal:
            account = self._account_cache.get(address)
            if account is not None:
                return account
        account = _account_from(self._get_encoded_account(address, from_journal))
        if from_journal:
            self._account_cache[address] = account
        return account

    def _set_account(self, address: Any, account: Any) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)

    def set_balance(self, address: Any, balance: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        if type(account) is Account:
            new = Account(account.nonce, balance, account.storage_root, account.code_hash)
        else:
            new = account.copy(balance=balance)
        self._set_account(address, new)

    def set_nonce(self, address: Any, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        account = self._get_account(address)
        if type(account) is Account:
            new = Account(nonce, account.balance, account.storage_root, account.code_hash)
        else:
            new = account.copy(nonce=nonce)
        self._set_account(address, new)

    def _set_storage_root(self, address: Any, new_storage_root: Any) -> None:
        account = self._get_account(address)
        if type(account) is Account:
            new = Account(account.nonce, account.balance, new_storage_root, account.code_hash)
        else:
            new = account.copy(storage_root=new_storage_root)
        self._set_account(address, new)

    def get_code(self, address: Any) -> bytes:
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        try:
            return self._journaldb[code_hash]
        except KeyError:
            raise MissingBytecode(code_hash) from KeyError
        finally:
            # py-evm copies every key read so far into a frozenset to ask this
            if code_hash in self._raw_store_db._keys_read:
                self._accessed_bytecodes.add(address)

    # EIP-2929 access marks: py-evm's JournalDB membership test, without its generic layers
    def _jit_is_warm(self, key: bytes) -> bool:
        accessed = self._journal_accessed_state
        journal = accessed._journal
        value = journal._current_values.get(key)
        if value is None:
            return not journal._ignore_wrapped_db and key in accessed._wrapped_db
        return type(value) is bytes

    def is_address_warm(self, address: Any) -> bool:
        return self._jit_is_warm(address)

    def mark_address_warm(self, address: Any) -> None:
        if not self._jit_is_warm(address):
            self._journal_accessed_state[address] = b""

    def is_storage_warm(self, address: Any, slot: int) -> bool:
        return self._jit_is_warm(address + slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big"))

    def mark_storage_warm(self, address: Any, slot: int) -> None:
        key = address + slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
        if not self._jit_is_warm(key):
            self._journal_accessed_state[key] = b""

    # storage
    def _get_address_store(self, address: Any) -> Any:
        store = self._account_stores.get(address)
        if store is None:
            storage_root = self._get_storage_root(address)
            store = LeanAccountStorageDB(
                self._raw_store_db, storage_root, address, self._jit_cache, self._jit_namespace
            )
            self._account_stores[address] = store
        return store


class ReadCacheAccountDBMixin(LeanAccountDBMixin):
    """Also answers reads of the committed tries from a `ReadCache` (see the module doc)."""

    read_cache: ReadCache

    def __init__(self, db: Any, state_root: Any = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self._jit_diff: tuple[bytes, dict[bytes, bytes]] | None = None
        namespace = self.read_cache.namespace(db)
        if namespace:
            self._jit_cache = self.read_cache
            self._jit_namespace = namespace
            # py-evm's layering (journal over cache over trie), with the cache keyed by root
            self._trie_cache = _AccountTrieReads(  # type: ignore[assignment]
                self._trie_logger, _hexary(self), self.read_cache, namespace
            )
            self._journaltrie = JournalDB(self._trie_cache)

    # root changes of the account trie
    def _apply_account_diff_without_proof(self, diff: Any, trie: Any) -> None:
        before = _hexary(self).root_hash
        changes = {key: b"" for key in diff.deleted_keys()}
        changes.update(diff.pending_items())
        super()._apply_account_diff_without_proof(diff, trie)
        self._jit_diff = (before, changes)

    def make_state_root(self) -> Any:
        self._jit_diff = None
        root = super().make_state_root()
        diff, self._jit_diff = self._jit_diff, None
        if diff is not None and self._jit_cache is not None:
            self._jit_cache.link(self._jit_namespace, diff[0], bytes(root), diff[1])
        return root


def _replaced(mixin: type) -> list[str]:
    names = {"__init__"}
    for klass in mixin.__mro__[:-1]:
        names |= {name for name, value in vars(klass).items() if callable(value)}
    return sorted(names)


def jit_account_db(account_db_class: type, cache: ReadCache | None) -> type | None:
    """`account_db_class` with the lean paths (and, given a cache, the read cache) in front, or
    None when it is not py-evm's AccountDB or departs from it in a method replaced here."""
    if not (isinstance(account_db_class, type) and issubclass(account_db_class, AccountDB)):
        return None
    mixin = ReadCacheAccountDBMixin if cache is not None else LeanAccountDBMixin
    for name in _replaced(mixin):
        if name.startswith("_jit") or name == "__init__" and mixin is LeanAccountDBMixin:
            continue
        if getattr(account_db_class, name, None) is not getattr(AccountDB, name, None):
            return None
    namespace: dict[str, Any] = {"__module__": __name__}
    if cache is not None:
        namespace["read_cache"] = cache
    prefix = "ReadCache" if cache is not None else "Lean"
    return type(f"{prefix}{account_db_class.__name__}", (mixin, account_db_class), namespace)
