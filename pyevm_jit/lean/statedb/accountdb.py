"""The account database: py-evm's AccountDB with the lean paths and, given a `ReadCache`, reads of
the committed account trie by root (`jit_account_db`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.db.backends.base import BaseDB
from eth.db.journal import JournalDB
from eth.rlp.accounts import Account
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.interrupt import MissingBytecode
from eth_hash.auto import keccak

from pyevm_jit.lean import guard
from pyevm_jit.lean.statedb.codec import account_from, encode_account, new_account
from pyevm_jit.lean.statedb.readcache import ReadCache
from pyevm_jit.lean.statedb.storage import LeanAccountStorageDB
from pyevm_jit.lean.statedb.trie import trie_get


class _AccountTrieReads(BaseDB):
    """In place of AccountDB's `_trie_cache`: reads of the committed account trie, by root."""

    def __init__(self, wrapped: Any, hexary: Any, cache: ReadCache, namespace: int) -> None:
        self._wrapped = wrapped  # AccountDB's _trie_logger (over the HashTrie)
        self._hexary = hexary  # the HexaryTrie under the HashTrie: its root_hash is current
        self._cache = cache
        self._namespace = namespace
        # the key set of py-evm's access logger (accounts queried), when it is that logger over
        # a HashTrie over this HexaryTrie: then the trie is walked here (trie_get)
        self._keys_read: set[bytes] | None = guard.logged_trie_keys(wrapped, hexary)

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
        account = account_from(self._get_encoded_account(address, from_journal))
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
            new = new_account(account.nonce, balance, account.storage_root, account.code_hash)
        else:
            new = account.copy(balance=balance)
        self._set_account(address, new)

    def set_nonce(self, address: Any, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        account = self._get_account(address)
        if type(account) is Account:
            new = new_account(nonce, account.balance, account.storage_root, account.code_hash)
        else:
            new = account.copy(nonce=nonce)
        self._set_account(address, new)

    def _set_storage_root(self, address: Any, new_storage_root: Any) -> None:
        account = self._get_account(address)
        if type(account) is Account:
            new = new_account(account.nonce, account.balance, new_storage_root, account.code_hash)
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
    def _jit_store_root(self, address: Any) -> Any:
        """The storage root a new store of the account starts from (py-evm: the record's)."""
        return self._get_storage_root(address)

    def _get_address_store(self, address: Any) -> Any:
        store = self._account_stores.get(address)
        if store is None:
            store = self._jit_new_store(address, self._jit_store_root(address))
        return store

    def _jit_new_store(self, address: Any, storage_root: Any) -> Any:
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


def jit_account_db(
    account_db_class: type, cache: ReadCache | None, native_journal: bool = False
) -> type | None:
    """`account_db_class` with the lean paths (and, given a cache, the read cache) in front, or
    None when it is not py-evm's AccountDB or departs from it in a method replaced here. With
    `native_journal`, and only for py-evm's exact AccountDB class, also the native journal
    (lean/statedb/journal.py), which answers every public method itself."""
    if not guard.is_account_db(account_db_class):
        return None
    mixin = ReadCacheAccountDBMixin if cache is not None else LeanAccountDBMixin
    from pyevm_jit.lean.statedb.journal import JOURNAL_PINNED, NativeJournalMixin

    if native_journal and guard.is_exact_account_db(account_db_class, JOURNAL_PINNED):
        prefix = "Journal" + ("ReadCache" if cache is not None else "Lean")
        namespace_j: dict[str, Any] = {"__module__": __name__}
        if cache is not None:
            namespace_j["read_cache"] = cache
        bases = (NativeJournalMixin, mixin, account_db_class)
        return type(f"{prefix}{account_db_class.__name__}", bases, namespace_j)
    replaced = [
        name
        for name in _replaced(mixin)
        if not (name.startswith("_jit") or name == "__init__" and mixin is LeanAccountDBMixin)
    ]
    if not guard.keeps_account_db_methods(account_db_class, replaced):
        return None
    namespace: dict[str, Any] = {"__module__": __name__}
    if cache is not None:
        namespace["read_cache"] = cache
    prefix = "ReadCache" if cache is not None else "Lean"
    return type(f"{prefix}{account_db_class.__name__}", (mixin, account_db_class), namespace)
