"""The native journal: a transaction's accounts, storage, warm sets and new code in flat dicts
with one undo log, over py-evm's AccountDB as it stood when the transaction began.

py-evm's AccountDB keeps a transaction's changes in a stack of journals (accounts, code, access
marks, one per storage written) and checkpoints each on every snapshot. Here (docs/journal.md):

- every public AccountDB method answers from the flat view: `_jx_accounts` (address -> current
  record, None when there is no account), `_jx_storage` (address -> slot -> current value),
  `_jx_wiped` (accounts whose storage was wiped), `_jx_warm` (warm addresses and (address,
  slot) pairs), `_jx_code` (code set in the transaction, by hash); what the view lacks is read
  from py-evm's structures, which do not change while the view is in use;
- `record()` remembers the undo log's length, `commit()` forgets the checkpoint (and the log,
  when no checkpoint is left), `discard()` pops the log back, restoring what each entry says;
- the view is handed to py-evm's structures (through py-evm's own AccountDB methods, so its
  journals, account stores and tries end up as py-evm's own transaction would leave them) at
  `lock_changes`, `make_state_root`, `persist` and a `state_root` change, then emptied. A
  snapshot taken before cannot be reverted after it (`discard` raises py-evm's ValidationError).

Originals for net metering (`get_storage(from_journal=False)`) are py-evm's committed values: the
values read from py-evm's store (unchanged during the transaction), or after a wipe in this
transaction what an earlier transaction of the block left in `_locked_changes`, else 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.journal import get_next_checkpoint
from eth.rlp.accounts import Account
from eth.validation import (
    validate_canonical_address,
    validate_is_bytes,
    validate_uint64,
    validate_uint256,
)
from eth.vm.interrupt import MissingBytecode
from eth_hash.auto import keccak
from eth_utils import ValidationError

from pyevm_jit.lean import guard
from pyevm_jit.lean.statedb.codec import account_from, decode_value, new_account

if TYPE_CHECKING:
    from pyevm_jit.lean.statedb.accountdb import LeanAccountDBMixin as _Base
else:
    _Base = object

#: what the native journal was written against (fingerprints in guard.PINNED)
JOURNAL_PINNED = tuple(name for name in guard.PINNED if name.startswith("eth.db.account:")) + tuple(
    f"eth.db.storage:AccountStorageDB.{name}" for name in ("get", "set", "lock_changes")
)

_ABSENT: Any = object()
_KNOWN_CODE_LIMIT = 4096  # code entries kept per account database
_UINT256_LIMIT = 1 << 256
# undo log entry kinds (first item of each entry)
_ACCT, _SLOT, _WIPE, _WARM, _CODE = range(5)


#: an account record in the view: (nonce, balance, storage root, code hash), None for no account
Record = tuple[int, int, bytes, bytes]
_BLANK: Record = (0, 0, BLANK_ROOT_HASH, EMPTY_SHA3)


def _record_of(account: Account) -> Record:
    return account.nonce, account.balance, account.storage_root, account.code_hash


def _check_address(address: Any) -> None:
    """py-evm's validate_canonical_address, skipped for the plain 20-byte strings it accepts."""
    if address.__class__ is not bytes or len(address) != 20:
        validate_canonical_address(address, title="Storage Address")


class _JournalView(_Base):
    """The flat view and every public read and write of it (module doc); snapshots and the
    hand-over to py-evm are `NativeJournalMixin`'s."""

    def __init__(self, db: Any, state_root: Any = BLANK_ROOT_HASH) -> None:
        super().__init__(db, state_root)
        self._jx_warm: set[Any] = set()
        self._jx_log: list[tuple[Any, ...]] = []
        self._jx_checkpoints: list[tuple[int, int]] = []
        #: checkpoints outstanding when the view was handed to py-evm (not revertible)
        self._jx_handed: set[int] = set()
        #: code by hash that py-evm's logged database has served (content-addressed, so never
        #: stale; only logged reads, so py-evm's witness of accessed bytecodes is the same)
        self._jx_known_code: dict[bytes, bytes] = {}
        #: py-evm's HashTrie made by AccountDB.__init__ (None: another kind of trie)
        self._jx_trie: Any = self._trie if guard.is_hash_trie(self._trie) else None
        self._jx_empty()

    def _jx_empty(self) -> None:
        self._jx_accounts: dict[Any, Record | None] = {}
        self._jx_base_accounts: dict[Any, Record | None] = {}
        self._jx_storage: dict[Any, dict[int, int]] = {}
        #: slots written in the transaction (py-evm's journal holds a write even of the value
        #: the slot had, and its `_locked_changes` then answers originals after a wipe)
        self._jx_written: dict[Any, set[int]] = {}
        self._jx_base: dict[Any, dict[int, int]] = {}
        self._jx_wiped: set[Any] = set()
        self._jx_code: dict[Any, bytes] = {}

    # --- accounts -----------------------------------------------------------------------------
    def _jx_account(self, address: Any) -> Record | None:
        """The account's current record (None: no account), read from py-evm on a miss."""
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            encoded = self._get_encoded_account(address, True)
            account = _record_of(account_from(encoded)) if encoded else None
            self._jx_accounts[address] = account
            self._jx_base_accounts[address] = account
        return account

    def _jx_put(self, address: Any, account: Record | None) -> None:
        accounts = self._jx_accounts
        if address not in accounts:
            self._jx_account(address)
        if self._jx_checkpoints:
            self._jx_log.append((_ACCT, address, accounts[address]))
        accounts[address] = account

    def _get_storage_root(self, address: Any) -> Any:
        # the record as the transaction has it (py-evm: its journal's record), when in the view
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            return super()._get_storage_root(address)
        return (account or _BLANK)[2]

    def _jit_store_root(self, address: Any) -> Any:
        # py-evm's stores start from the committed record: the transaction's changes are here
        return super()._get_storage_root(address)

    def get_balance(self, address: Any) -> int:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account[1] if account is not None else 0

    def set_balance(self, address: Any, balance: int) -> None:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        if balance.__class__ is not int or not 0 <= balance < _UINT256_LIMIT:
            validate_uint256(balance, title="Account Balance")
        accounts = self._jx_accounts
        a = accounts.get(address, _ABSENT)
        if a is _ABSENT:
            a = self._jx_account(address)
        if self._jx_checkpoints:
            self._jx_log.append((_ACCT, address, a))
        a = a or _BLANK
        accounts[address] = (a[0], balance, a[2], a[3])

    def get_nonce(self, address: Any) -> int:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account[0] if account is not None else 0

    def set_nonce(self, address: Any, nonce: int) -> None:
        _check_address(address)
        if nonce.__class__ is not int or not 0 <= nonce <= 0xFFFFFFFFFFFFFFFF:
            validate_uint64(nonce, title="Nonce")
        a = self._jx_account(address) or _BLANK
        self._jx_put(address, (nonce, a[1], a[2], a[3]))

    def get_code_hash(self, address: Any) -> Any:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account[3] if account is not None else EMPTY_SHA3

    def get_code(self, address: Any) -> bytes:
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        code = self._jx_code.get(code_hash) or self._jx_known_code.get(code_hash)
        logged = self._raw_store_db._keys_read
        try:
            if code is None:
                try:
                    code = self._journaldb[code_hash]
                except KeyError:
                    raise MissingBytecode(code_hash) from KeyError
                if code_hash in logged and len(self._jx_known_code) < _KNOWN_CODE_LIMIT:
                    self._jx_known_code[code_hash] = code
            return code
        finally:
            if code_hash in logged:
                self._accessed_bytecodes.add(address)

    def set_code(self, address: Any, code: bytes) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_is_bytes(code, title="Code")
        a = self._jx_account(address) or _BLANK
        code_hash = keccak(code)
        if code_hash not in self._jx_code:
            if self._jx_checkpoints:
                self._jx_log.append((_CODE, code_hash))
            self._jx_code[code_hash] = code
        self._jx_put(address, (a[0], a[1], a[2], code_hash))

    def delete_code(self, address: Any) -> None:
        validate_canonical_address(address, title="Storage Address")
        a = self._jx_account(address) or _BLANK
        self._jx_put(address, (a[0], a[1], a[2], EMPTY_SHA3))

    def account_has_code_or_nonce(self, address: Any) -> bool:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account is not None and (account[0] != 0 or account[3] != EMPTY_SHA3)

    def account_exists(self, address: Any) -> bool:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account is not None

    def touch_account(self, address: Any) -> None:
        _check_address(address)
        self._jx_put(address, self._jx_account(address) or _BLANK)

    def account_is_empty(self, address: Any) -> bool:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        account = self._jx_accounts.get(address, _ABSENT)
        if account is _ABSENT:
            account = self._jx_account(address)
        return account is None or (account[0] == 0 and account[3] == EMPTY_SHA3 and not account[1])

    def delete_account(self, address: Any) -> None:
        _check_address(address)
        self._jx_wipe(address)
        self._jx_put(address, None)

    # --- access marks (EIP-2929) --------------------------------------------------------------
    def is_address_warm(self, address: Any) -> bool:
        return address in self._jx_warm

    def mark_address_warm(self, address: Any) -> None:
        warm = self._jx_warm
        if address not in warm:
            warm.add(address)
            if self._jx_checkpoints:
                self._jx_log.append((_WARM, address))

    def is_storage_warm(self, address: Any, slot: int) -> bool:
        return (address, slot) in self._jx_warm

    def mark_storage_warm(self, address: Any, slot: int) -> None:
        key = (address, slot)
        warm = self._jx_warm
        if key not in warm:
            warm.add(key)
            if self._jx_checkpoints:
                self._jx_log.append((_WARM, key))

    # --- the native state path's steps (lean/sload.py, evm/hostops.py, evm/state_path.py) ----
    def jx_mark_slot_warm(self, address: Any, slot: int) -> bool:
        """`mark_storage_warm` after `is_storage_warm`, as py-evm's `_mark_storage_warm`
        asks them: whether the slot was cold."""
        key = (address, slot)
        warm = self._jx_warm
        if key in warm:
            return False
        warm.add(key)
        if self._jx_checkpoints:
            self._jx_log.append((_WARM, key))
        return True

    def jx_get(self, address: Any, slot: int) -> int:
        """`get_storage(address, slot)` for a canonical address and a uint256 slot."""
        slots = self._jx_storage.get(address)
        if slots is not None:
            value = slots.get(slot)
            if value is not None:
                return value
        return self._jx_load(address, slot)

    def jx_original(self, address: Any, slot: int) -> int:
        """`get_storage(address, slot, from_journal=False)`, likewise."""
        base = self._jx_base.get(address)
        if base is not None and address not in self._jx_wiped:
            value = base.get(slot)
            if value is not None:
                return value
        return self._jx_original(address, slot)

    # --- storage ------------------------------------------------------------------------------
    def get_storage(self, address: Any, slot: int, from_journal: bool = True) -> int:
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        if slot.__class__ is not int or not 0 <= slot < _UINT256_LIMIT:
            validate_uint256(slot, title="Storage Slot")
        if not from_journal:
            return self.jx_original(address, slot)
        return self.jx_get(address, slot)

    def _jx_load(self, address: Any, slot: int) -> int:
        """The current value of a slot the view lacks (read from py-evm unless wiped)."""
        slots = self._jx_storage.get(address)
        if slots is None:
            slots = self._jx_storage[address] = {}
        if address in self._jx_wiped:
            store: Any = self._get_address_store(address)
            store._accessed_slots.add(slot)
            value = 0
        else:
            value = self._jx_committed(address, slot)
        slots[slot] = value
        return value

    def _jx_committed(self, address: Any, slot: int) -> int:
        """The slot's value in py-evm's structures (its value when the view was started)."""
        base = self._jx_base.get(address)
        if base is None:
            base = self._jx_base[address] = {}
        value = base.get(slot)
        if value is None:
            value = base[slot] = self._get_address_store(address).get(slot, True)
        return value

    def _jx_original(self, address: Any, slot: int) -> int:
        if address not in self._jx_wiped:
            return self._jx_committed(address, slot)
        # py-evm after a wipe: what earlier transactions left in _locked_changes, else the
        # wiped (empty) trie's answer
        store: Any = self._get_address_store(address)
        store._accessed_slots.add(slot)
        key = slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
        value = store._locked_changes._journal._current_values.get(key)
        if type(value) is not bytes or not value:
            return 0
        return decode_value(value)

    def set_storage(self, address: Any, slot: int, value: int) -> None:
        # py-evm's checks, in its order, skipped for values they accept as they are
        if value.__class__ is not int or not 0 <= value < _UINT256_LIMIT:
            validate_uint256(value, title="Storage Value")
        if slot.__class__ is not int or not 0 <= slot < _UINT256_LIMIT:
            validate_uint256(slot, title="Storage Slot")
        if address.__class__ is not bytes or len(address) != 20:
            validate_canonical_address(address, title="Storage Address")
        self.jx_set(address, slot, value)

    def jx_set(self, address: Any, slot: int, value: int) -> None:
        """`set_storage` for a canonical address and uint256 slot and value."""
        slots = self._jx_storage.get(address)
        if slots is None:
            slots = self._jx_storage[address] = {}
            if address not in self._account_stores:
                self._get_address_store(address)  # as py-evm's set_storage creates it
        written = self._jx_written.get(address)
        if written is None:
            written = self._jx_written[address] = set()
        if self._jx_checkpoints:
            old = slots.get(slot, _ABSENT)
            self._jx_log.append((_SLOT, slots, slot, old, written, slot in written))
        slots[slot] = value
        written.add(slot)

    def delete_storage(self, address: Any) -> None:
        validate_canonical_address(address, title="Storage Address")
        a = self._jx_account(address) or _BLANK
        self._jx_put(address, (a[0], a[1], BLANK_ROOT_HASH, a[3]))
        if address not in self._account_stores:
            # py-evm sets the record's storage root first, so the store it creates for the wipe
            # starts from the blank root, with a write trie (new_trie), and stays so even if the
            # wipe is reverted: storage reads empty, the root is blank at make_state_root
            store = self._jit_new_store(address, BLANK_ROOT_HASH)
            store._storage_lookup._get_write_trie()
        self._jx_wipe(address)

    def _jx_wipe(self, address: Any) -> None:
        # py-evm's _wipe_storage: the store (of the committed root, unless delete_storage made
        # it above) is created and the account is dirty, whether or not the wipe is reverted
        self._get_address_store(address)
        self._dirty_accounts.add(address)
        wiped = self._jx_wiped
        if self._jx_checkpoints:
            old = self._jx_storage.get(address, _ABSENT)
            old_written = self._jx_written.get(address, _ABSENT)
            self._jx_log.append((_WIPE, address, old, address in wiped, old_written))
        self._jx_storage[address] = {}
        self._jx_written[address] = set()
        wiped.add(address)


class NativeJournalMixin(_JournalView):
    """In front of the lean (and read-cache) AccountDB: the transaction's state in flat dicts
    with one undo log (module doc). Only for py-evm's exact AccountDB (`jit_account_db`)."""

    # --- snapshots ----------------------------------------------------------------------------
    def record(self) -> Any:
        checkpoint = get_next_checkpoint()
        self._jx_checkpoints.append((checkpoint, len(self._jx_log)))
        return checkpoint

    def _jx_pop_to(self, checkpoint: Any) -> int:
        stack = self._jx_checkpoints
        if stack and stack[-1][0] == checkpoint:  # the usual case: the latest one
            return stack.pop()[1]
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == checkpoint:
                length = stack[index][1]
                del stack[index:]
                return length
        raise ValidationError(f"No checkpoint {checkpoint} was found")

    def commit(self, checkpoint: Any) -> None:
        if self._jx_handed and checkpoint in self._jx_handed:
            self._jx_handed.discard(checkpoint)  # its changes are py-evm's already
            return
        stack = self._jx_checkpoints
        if stack and stack[-1][0] == checkpoint:  # the usual case: the latest one
            stack.pop()
        else:
            self._jx_pop_to(checkpoint)
        if not stack:
            self._jx_log.clear()

    def discard(self, checkpoint: Any) -> None:
        if checkpoint in self._jx_handed:
            raise ValidationError(
                f"Checkpoint {checkpoint} was taken before the state's changes were locked "
                "(lock_changes, make_state_root, persist or a state_root change) and cannot be "
                "reverted with pyevm-jit's native journal (PYEVM_JIT_NATIVE_JOURNAL=0 turns it off)"
            )
        length = self._jx_pop_to(checkpoint)
        log = self._jx_log
        if len(log) > length:
            accounts, storage, wiped = self._jx_accounts, self._jx_storage, self._jx_wiped
            for entry in reversed(log[length:]):
                kind = entry[0]
                if kind == _SLOT:
                    _, slots, slot, old, written, was_written = entry
                    if old is _ABSENT:
                        slots.pop(slot, None)
                    else:
                        slots[slot] = old
                    if not was_written:
                        written.discard(slot)
                elif kind == _ACCT:
                    accounts[entry[1]] = entry[2]
                elif kind == _WARM:
                    self._jx_warm.discard(entry[1])
                elif kind == _WIPE:
                    _, address, old, was_wiped, old_written = entry
                    if old is _ABSENT:
                        storage.pop(address, None)
                    else:
                        storage[address] = old
                    if old_written is _ABSENT:
                        self._jx_written.pop(address, None)
                    else:
                        self._jx_written[address] = old_written
                    if not was_wiped:
                        wiped.discard(address)
                else:  # _CODE
                    self._jx_code.pop(entry[1], None)
            del log[length:]
        if not self._jx_checkpoints:
            log.clear()

    # --- what a call wrote (evm/hostops.py keeps a frame's storage cache across a call) ---------
    def jx_mark(self) -> tuple[Any, ...] | None:
        """The undo log as it stands (for `jx_storage_kept`), or None when no checkpoint is
        open (then nothing is logged)."""
        checkpoints = self._jx_checkpoints
        if not checkpoints:
            return None
        return checkpoints[-1], len(checkpoints), len(self._jx_log), self._jx_storage

    def jx_storage_kept(self, mark: tuple[Any, ...], address: Any, cold: bool = False) -> bool:
        """Whether every slot of `address` holds the value it held at `mark` for a reason the
        log shows: the checkpoint open at the mark is still open (nothing was reverted past
        it, committed below it or handed to py-evm since: every change made since is in the
        log after the mark's length, or was reverted) and no entry since writes or wipes the
        account's storage (with `cold`: nor marks one of its slots warm)."""
        top, depth, length, storage = mark
        checkpoints = self._jx_checkpoints
        if len(checkpoints) < depth or checkpoints[depth - 1] is not top:
            return False
        if self._jx_storage is not storage:
            return False
        slots = storage.get(address)
        for entry in self._jx_log[length:]:
            kind = entry[0]
            if (kind == _SLOT and entry[1] is slots) or (kind == _WIPE and entry[1] == address):
                return False
            if cold and kind == _WARM and entry[1][0] == address:  # (address, slot) or address
                return False
        return True

    def jx_known_slots(self, address: Any, limit: int, cold: bool) -> list[tuple[Any, ...]]:
        """(slot, value, original -- None: ask `jx_original` --, warm) of the warm slots of
        `address` the view holds and, with `cold`, of those not yet warm whose original it holds
        (not wiped); none when the view holds more than `limit` slots of `address`."""
        slots = self._jx_storage.get(address)
        if not slots or len(slots) > limit:
            return []
        warm = self._jx_warm
        base = {} if address in self._jx_wiped else self._jx_base.get(address) or {}
        found = []
        for slot, value in slots.items():
            if (address, slot) in warm:
                found.append((slot, value, base.get(slot), True))
            elif cold and slot in base:
                found.append((slot, value, base[slot], False))
        return found

    # --- handing the view to py-evm's structures ----------------------------------------------
    def _jx_flush(self) -> None:
        """Write the view into py-evm's AccountDB through its own methods, then empty it.
        Checkpoints taken before cannot be reverted afterwards."""
        accounts, bases = self._jx_accounts, self._jx_base_accounts
        storage, written = self._jx_storage, self._jx_written
        wiped, code = self._jx_wiped, self._jx_code
        if self._jx_checkpoints:
            self._jx_handed.update(found for found, _ in self._jx_checkpoints)
            self._jx_checkpoints.clear()
        self._jx_log.clear()
        if not (accounts or storage or code):
            return
        self._jx_empty()
        for code_hash, data in code.items():
            self._journaldb[code_hash] = data
        for address in wiped:
            self._wipe_storage(address)  # py-evm's: the store of the committed root, emptied
        set_storage = super(_JournalView, self).set_storage  # py-evm's, below the view
        for address, slots_written in written.items():
            slots = storage[address]
            for slot in slots_written:  # each written slot once, with its last value
                set_storage(address, slot, slots[slot])
        for address, account in accounts.items():
            if account == bases[address]:
                continue
            if account is None:
                self._account_cache.pop(address, None)
                del self._journaltrie[address]
            else:
                self._set_account(address, new_account(*account))

    def lock_changes(self) -> None:
        self._jx_flush()
        self._jx_warm.clear()
        super().lock_changes()

    def make_state_root(self) -> Any:
        self._jx_flush()
        root = super().make_state_root()
        # py-evm's make_state_root asks account_exists (read into the view) before it changes
        # those records' storage roots: the view starts again from py-evm's records
        self._jx_empty()
        return root

    def persist(self) -> Any:
        self._jx_flush()
        witness = super().persist()
        self._jx_empty()
        self._jx_handed.clear()  # py-evm's journals start afresh too
        return witness

    @property
    def state_root(self) -> Any:
        # py-evm's `self._trie.root_hash`, without the hash trie's __getattr__ forwarding it
        trie: Any = self._trie
        if trie is self._jx_trie:
            return trie._db.root_hash
        return trie.root_hash

    @state_root.setter
    def state_root(self, value: Any) -> None:
        if self._trie.root_hash != value:
            self._jx_flush()  # reads of the view were of the old root
            self._trie_cache.reset_cache()
            self._trie.root_hash = value


def journal_of(state: Any) -> NativeJournalMixin | None:
    """The state's account database when it is the native journal, else None.

    For the native state path's Python steps (SLOAD misses, originals, seeds, the hand-over),
    which run only in messages whose state plan is on: `lean.exact.state_path_exact` found the
    state's and its database's storage methods py-evm's or the journal's own for that message,
    so reading and writing the view directly does what those methods would do."""
    db = getattr(state, "_account_db", None)
    return db if isinstance(db, NativeJournalMixin) else None
