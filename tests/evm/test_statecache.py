"""The content-keyed read cache and lean account database (pyevm_jit.lean.statedb).

Every test compares against py-evm's stock AccountDB in the same process: the same sequence of
operations on both, every read and every root equal.
"""

from __future__ import annotations

import gc
import random
from typing import Any

import pytest
import rlp
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from pyevm_jit.lean.statedb import accountdb, codec, readcache, storage
from pyevm_jit.lean.statedb import trie as trie_walk

ADDRESSES = [bytes([0xA0 + i]) * 20 for i in range(4)]
SLOTS = [0, 1, 2, 3, 7, 255, 256, 2**255 + 1]
VALUES = [0, 1, 0x7F, 0x80, 0xFF, 2**64, 2**256 - 1]


def cached_class(max_entries: int = 100_000) -> tuple[type, readcache.ReadCache]:
    cache = readcache.ReadCache(max_entries)
    cls = accountdb.jit_account_db(AccountDB, cache)
    assert cls is not None
    return cls, cache


def lean_class() -> type:
    cls = accountdb.jit_account_db(AccountDB, None)
    assert cls is not None and not issubclass(cls, accountdb.ReadCacheAccountDBMixin)
    return cls


# --- codecs ------------------------------------------------------------------------------------
accounts = st.builds(
    Account,
    nonce=st.integers(0, 2**64 - 1),
    balance=st.integers(0, 2**256 - 1),
    storage_root=st.binary(min_size=32, max_size=32),
    code_hash=st.binary(min_size=32, max_size=32),
)


@given(accounts)
@settings(max_examples=300, deadline=None)
def test_account_codec_is_rlp(account: Account) -> None:
    encoded = rlp.encode(account, sedes=Account)
    assert codec.encode_account(account) == encoded
    assert codec.decode_account(encoded) == account
    assert tuple(codec.decode_account(encoded)) == tuple(account)


@pytest.mark.parametrize(
    "data",
    [
        # nonce with a leading zero byte, a one-byte string below 0x80, a 33-byte balance,
        # a short hash, trailing garbage, a list in place of an integer
        rlp.encode([b"\x00\x01", b"", b"\x11" * 32, b"\x22" * 32]),
        rlp.encode([b"\x05", b"", b"\x11" * 32, b"\x22" * 32])[:3] + b"\x81\x05" + b"",
        rlp.encode([b"", b"\x01" * 33, b"\x11" * 32, b"\x22" * 32]),
        rlp.encode([b"", b"", b"\x11" * 31, b"\x22" * 32]),
        rlp.encode([b"", b"", b"\x11" * 32, b"\x22" * 32]) + b"\x00",
        rlp.encode([[], b"", b"\x11" * 32, b"\x22" * 32]),
    ],
)
def test_unusual_account_records_are_decoded_by_rlp(data: bytes) -> None:
    """Anything the fast path does not recognise goes to py-evm's decoder, which decides."""
    try:
        expected: Any = rlp.decode(data, sedes=Account)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            codec.decode_account(data)
    else:
        assert codec.decode_account(data) == expected


@given(st.integers(1, 2**256 - 1))
@settings(max_examples=300, deadline=None)
def test_storage_value_codec_is_rlp(value: int) -> None:
    encoded = rlp.encode(value)
    assert codec.encode_value(value) == encoded
    assert codec.decode_value(encoded) == value


@pytest.mark.parametrize(
    "data", [b"\x00", b"\x81\x05", b"\x82\x00\x01", b"\x80", b"\xa1" + b"\x01" * 33]
)
def test_unusual_storage_values_are_decoded_by_rlp(data: bytes) -> None:
    try:
        expected = rlp.decode(data, sedes=rlp.sedes.big_endian_int)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            codec.decode_value(data)
    else:
        assert codec.decode_value(data) == expected


# --- the cache itself --------------------------------------------------------------------------
def test_entries_are_bounded() -> None:
    cache = readcache.ReadCache(max_entries=64)
    for i in range(1000):
        cache.put(1, b"r" * 32, i.to_bytes(4, "big"), b"v")
    assert len(cache) == 64


def test_links_answer_unchanged_keys_only() -> None:
    cache = readcache.ReadCache()
    a, b = b"a" * 32, b"b" * 32
    cache.put(1, a, b"k1", b"one")
    cache.put(1, a, b"k2", b"two")
    cache.link(1, a, b, {b"k2": b"", b"k3": b"three"})
    assert cache.get(1, b, b"k1") == b"one"
    assert cache.get(1, b, b"k2") == b""  # deleted by the change
    assert cache.get(1, b, b"k3") == b"three"
    assert cache.get(1, b, b"k4") is None
    assert cache.get(2, b, b"k1") is None  # another database


def test_namespace_follows_database_identity() -> None:
    cache = readcache.ReadCache()
    first, second = AtomicDB(), AtomicDB()
    one, two = cache.namespace(first), cache.namespace(second)
    assert one and two and one != two
    assert cache.namespace(first) == one
    del first
    gc.collect()
    third = AtomicDB()
    assert cache.namespace(third) not in (one, two)  # never reused


# --- differential: random operation sequences against stock AccountDB --------------------------
class Pair:
    """The same operations on a stock AccountDB and a cached one, each over its own database."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.stock_db, self.jit_db = AtomicDB(), AtomicDB()
        self.stock = AccountDB(self.stock_db)
        self.jit = cls(self.jit_db)
        self.checkpoints: list[tuple[Any, Any]] = []
        self.persisted: list[bytes] = [BLANK_ROOT_HASH]

    def both(self, name: str, *args: Any) -> Any:
        a = getattr(self.stock, name)(*args)
        b = getattr(self.jit, name)(*args)
        assert a == b, (name, args, a, b)
        return a

    def reopen(self, root: bytes) -> None:
        self.stock = AccountDB(self.stock_db, root)
        self.jit = self.cls(self.jit_db, root)
        self.checkpoints.clear()


def _step(pair: Pair, rng: random.Random) -> None:
    address = rng.choice(ADDRESSES)
    slot = rng.choice(SLOTS)
    kind = rng.random()
    if kind < 0.25:
        pair.both("set_storage", address, slot, rng.choice(VALUES))
    elif kind < 0.45:
        pair.both("get_storage", address, slot, rng.random() < 0.8)
    elif kind < 0.50:
        pair.both("set_balance", address, rng.choice(VALUES))
    elif kind < 0.53:
        pair.both("increment_nonce", address)
    elif kind < 0.56:
        pair.both("set_code", address, rng.choice([b"", b"\x60\x00", bytes(range(40))]))
    elif kind < 0.62:
        for name in ("get_balance", "get_nonce", "get_code", "get_code_hash", "account_exists",
                     "account_is_empty"):  # fmt: skip
            pair.both(name, address)
    elif kind < 0.64:
        pair.both("touch_account", address)
    elif kind < 0.68:
        # py-evm deletes accounts at the end of a transaction, outside any snapshot
        if not pair.checkpoints:
            pair.both("delete_account" if kind < 0.66 else "delete_storage", address)
    elif kind < 0.71:
        pair.both("mark_storage_warm", address, slot)
        pair.both("mark_address_warm", address)
    elif kind < 0.73:
        pair.both("is_storage_warm", address, slot)
        pair.both("is_address_warm", address)
    elif kind < 0.80:
        pair.checkpoints.append((pair.stock.record(), pair.jit.record()))
    elif kind < 0.88:
        if pair.checkpoints:
            a, b = pair.checkpoints.pop()
            if rng.random() < 0.5:
                pair.stock.discard(a)
                pair.jit.discard(b)
            else:
                pair.stock.commit(a)
                pair.jit.commit(b)
    elif not pair.checkpoints:
        if kind < 0.92:
            pair.both("lock_changes")
        elif kind < 0.95:
            pair.both("make_state_root")
        elif kind < 0.98:
            a, b = pair.stock.persist(), pair.jit.persist()
            assert pair.stock.state_root == pair.jit.state_root
            # the witness's accounts, bytecodes and slots are py-evm's (node hashes: see doc)
            assert a.accounts_queried == b.accounts_queried
            assert a.account_bytecodes_queried == b.account_bytecodes_queried
            assert a.total_slots_queried == b.total_slots_queried
            pair.persisted.append(pair.stock.state_root)
        else:
            pair.reopen(rng.choice(pair.persisted))


@pytest.mark.parametrize("seed", range(40))
def test_random_operations_match_stock(seed: int) -> None:
    cls, cache = cached_class()
    rng = random.Random(seed)
    pair = Pair(cls)
    for _ in range(400):
        _step(pair, rng)
    pair.both("make_state_root")
    for address in ADDRESSES:
        for slot in SLOTS:
            pair.both("get_storage", address, slot)
    assert cache.hits > 0


@pytest.mark.parametrize("seed", range(10))
def test_random_operations_without_the_cache(seed: int) -> None:
    """The lean account database alone (read cache switched off)."""
    rng = random.Random(2000 + seed)
    pair = Pair(lean_class())
    for _ in range(400):
        _step(pair, rng)


@pytest.mark.parametrize("seed", range(10))
def test_random_operations_with_a_tiny_cache(seed: int) -> None:
    """Constant eviction: still every read equal."""
    cls, _cache = cached_class(max_entries=16)
    rng = random.Random(1000 + seed)
    pair = Pair(cls)
    for _ in range(400):
        _step(pair, rng)


def test_reads_through_links_across_blocks() -> None:
    """Block 2 changes one slot; the others are answered from block 1's entries via the link,
    and equal what a fresh stock database reads."""
    cls, cache = cached_class()
    db = AtomicDB()
    adb = cls(db)
    address = ADDRESSES[0]
    for slot in range(20):
        adb.set_storage(address, slot, slot + 100)
    adb.persist()
    for slot in range(20):
        assert adb.get_storage(address, slot) == slot + 100  # fills the cache at root 1
    adb.set_storage(address, 3, 0)
    adb.set_storage(address, 25, 7)
    adb.persist()
    hits = cache.hits
    second = cls(db, adb.state_root)
    stock = AccountDB(db, adb.state_root)
    for slot in range(30):
        assert second.get_storage(address, slot) == stock.get_storage(address, slot)
    assert cache.hits - hits >= 18


# --- state changed behind the cache's back -----------------------------------------------------
@pytest.mark.parametrize("unseen_at", ["between", "after"])
def test_a_write_the_cache_did_not_see_is_never_linked_over(unseen_at: str) -> None:
    """A write straight into a storage trie, past every hook of the cache, between two writes
    the cache sees or after them: reads at the final root still see it."""
    cls, _cache = cached_class()
    db = AtomicDB()
    adb = cls(db)
    address = ADDRESSES[1]
    for slot in range(4):
        adb.set_storage(address, slot, 50 + slot)
    adb.persist()
    for slot in range(4):
        assert adb.get_storage(address, slot) == 50 + slot  # cached at the first root

    lookup = adb._get_address_store(address)._storage_lookup

    def unseen() -> None:
        trie = lookup._get_write_trie()
        trie[keccak((2).to_bytes(32, "big"))] = rlp.encode(999)

    lookup[(0).to_bytes(1, "big")] = rlp.encode(1)  # seen
    if unseen_at == "between":
        unseen()
    lookup[(1).to_bytes(1, "big")] = rlp.encode(2)  # seen
    if unseen_at == "after":
        unseen()
    root = lookup.get_changed_root()
    assert lookup[(2).to_bytes(1, "big")] == rlp.encode(999)
    assert lookup[(3).to_bytes(1, "big")] == rlp.encode(53)
    # the same trie read by py-evm's own lookup
    from eth.db.storage import StorageLookup

    stock = StorageLookup(lookup._trie_nodes_batch, root, address)
    for slot in range(4):
        key = slot.to_bytes(1, "big")
        assert lookup[key] == stock[key], slot


def test_state_root_set_by_the_user_is_honoured() -> None:
    """Setting `state_root` (as State.revert does) reads the old accounts, as py-evm does."""
    cls, _cache = cached_class()
    results = []
    for make in (AccountDB, cls):
        adb = make(AtomicDB())
        address = ADDRESSES[2]
        adb.set_balance(address, 10)
        adb.set_storage(address, 1, 11)
        adb.persist()
        old = adb.state_root
        adb.set_balance(address, 20)
        adb.set_storage(address, 1, 21)
        adb.persist()
        seen = [adb.get_balance(address), adb.get_storage(address, 1)]
        adb.state_root = old
        seen += [adb.get_balance(address), adb.get_storage(address, 1)]
        adb.discard(adb.record())  # py-evm's revert: drops its per-transaction account cache
        adb._account_stores.clear()
        seen += [adb.get_balance(address), adb.get_storage(address, 1)]
        results.append(seen)
    assert results[0] == results[1]
    assert results[0][-2:] == [10, 11]


def test_another_database_with_the_same_roots_is_read_on_its_own() -> None:
    """A database that lacks a trie's nodes fails as py-evm fails, even if another database with
    those nodes filled the cache."""
    from eth.vm.interrupt import MissingAccountTrieNode

    cls, _cache = cached_class()
    full = cls(AtomicDB())
    full.set_balance(ADDRESSES[0], 5)
    full.persist()
    assert full.get_balance(ADDRESSES[0]) == 5
    empty = cls(AtomicDB(), full.state_root)
    with pytest.raises(MissingAccountTrieNode):
        empty.get_balance(ADDRESSES[0])


def test_a_class_that_overrides_what_the_cache_replaces_is_left_alone() -> None:
    class Custom(AccountDB):
        def _get_account(self, address: Any, from_journal: bool = True) -> Any:
            return super()._get_account(address, from_journal)

    assert accountdb.jit_account_db(Custom, readcache.ReadCache()) is None
    assert accountdb.jit_account_db(object, readcache.ReadCache()) is None

    class Plain(AccountDB):
        pass

    assert accountdb.jit_account_db(Plain, readcache.ReadCache()) is not None


# --- what jit_vm configures ----------------------------------------------------------------------
class _FakeBackend:
    def __init__(self, **tuning: Any) -> None:
        from pyevm_jit.runtime.config import RuntimeConfig, RuntimeTuning

        self.config = RuntimeConfig(tuning=RuntimeTuning(**tuning))


@pytest.mark.parametrize(
    ("tuning", "expected"),
    [
        ({}, accountdb.ReadCacheAccountDBMixin),
        ({"read_cache": False}, accountdb.LeanAccountDBMixin),
        ({"read_cache": False, "lean_messages": False}, None),
    ],
)
def test_jit_vm_configures_the_account_database(tuning: dict[str, Any], expected: Any) -> None:
    from eth.vm.forks import CancunVM

    from pyevm_jit.evm.vm import jit_vm

    vm_class = jit_vm(CancunVM, _FakeBackend(**tuning))
    account_db = vm_class.get_state_class().account_db_class
    if expected is None:
        assert account_db is AccountDB
    else:
        assert issubclass(account_db, expected)
    if expected is accountdb.LeanAccountDBMixin:
        assert not issubclass(account_db, accountdb.ReadCacheAccountDBMixin)


def test_jit_vm_keeps_an_account_database_of_its_own() -> None:
    from eth.vm.forks import CancunVM

    from pyevm_jit.evm.vm import jit_vm

    class OwnAccountDB(AccountDB):
        def get_storage(self, address: Any, slot: int, from_journal: bool = True) -> int:
            return super().get_storage(address, slot, from_journal)

        def _get_encoded_account(self, address: Any, from_journal: bool = True) -> bytes:
            return super()._get_encoded_account(address, from_journal)

    state = CancunVM.get_state_class().configure(account_db_class=OwnAccountDB)
    vm = CancunVM.configure(_state_class=state)
    # neither method is replaced by the cache: the class gets it in front, its methods still run
    wrapped = jit_vm(vm, _FakeBackend()).get_state_class().account_db_class
    assert wrapped is not OwnAccountDB and issubclass(wrapped, OwnAccountDB)

    class Replaced(AccountDB):
        def _set_account(self, address: Any, account: Any) -> None:
            super()._set_account(address, account)

    state = CancunVM.get_state_class().configure(account_db_class=Replaced)
    vm = CancunVM.configure(_state_class=state)
    assert jit_vm(vm, _FakeBackend()).get_state_class().account_db_class is Replaced


def test_cached_storage_db_has_py_evms_attributes() -> None:
    """LeanAccountStorageDB builds py-evm's AccountStorageDB layering itself: same attributes,
    same types (a py-evm upgrade that changes them fails here)."""
    from eth.db.storage import AccountStorageDB

    db = AtomicDB()
    stock = AccountStorageDB(db, BLANK_ROOT_HASH, ADDRESSES[0])
    lean = storage.LeanAccountStorageDB(db, BLANK_ROOT_HASH, ADDRESSES[0], readcache.ReadCache(), 1)
    assert set(vars(stock)) == set(vars(lean))
    for name, value in vars(stock).items():
        assert isinstance(getattr(lean, name), type(value)), name
    assert lean._clear_count[b"clear-count"] == stock._clear_count[b"clear-count"]


def test_links_are_bounded_by_their_changes() -> None:
    """All links together hold at most half the entry bound of changed keys."""
    cache = readcache.ReadCache(max_entries=100, max_links=1000)
    for i in range(200):
        changes = {j.to_bytes(2, "big"): b"v" for j in range(7)}
        cache.link(1, i.to_bytes(32, "big"), (i + 1).to_bytes(32, "big"), changes)
        assert cache.stats()["link_changes"] <= 50
    assert cache.stats()["link_changes"] == 7 * cache.stats()["links"]
    # the newest links are kept
    assert cache.get(1, (200).to_bytes(32, "big"), (3).to_bytes(2, "big")) == b"v"
    small = readcache.ReadCache(max_entries=10_000, max_links=16)
    for i in range(40):
        small.link(1, i.to_bytes(32, "big"), (i + 1).to_bytes(32, "big"), {b"k": b"v"})
    assert small.stats()["links"] == 16 and small.stats()["link_changes"] == 16


# --- a JIT VM's state changed by Python between messages, against stock py-evm -------------------
def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# no calldata: return slots 0 and 1; calldata (value, flag): slot 0 = value, REVERT if flag


def _read_write_code() -> bytes:
    from pyevm_jit.testing.assembler import Label, Ref, asm, return_stack

    return asm(
        "CALLDATASIZE", Ref("write"), "JUMPI",
        1, "SLOAD", 0, "SLOAD", *return_stack(2),
        Label("write"), 0, "CALLDATALOAD", 0, "SSTORE",
        32, "CALLDATALOAD", Ref("revert"), "JUMPI", "STOP",
        Label("revert"), 0, 0, "REVERT",
    )  # fmt: skip


def _changed_behind_the_cache(vm_class: type) -> list[Any]:
    """One sequence of messages, transactions and changes by the user's own code on a state of
    `vm_class`; what every read saw, and the state roots."""
    from eth.db.account import AccountDB as StockAccountDB
    from eth.vm.chain_context import ChainContext
    from eth.vm.message import Message

    from pyevm_jit.forks import fork_vm
    from pyevm_jit.testing import differential as d

    code = _read_write_code()
    scenario = d.Scenario(code=code, storage={0: 5, 1: 6})
    state = d.build_state(scenario, vm_class)
    seen: list[Any] = []

    def message(data: bytes = b"", on: Any = None) -> None:
        target = on if on is not None else state
        msg = Message(gas=200_000, to=d.CONTRACT, sender=d.SENDER, value=0, data=data, code=code)
        context = target.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
        computation = target.computation_class.apply_message(target, msg, context)
        seen.append((computation.is_success, bytes(computation.output)))

    def transaction(data: bytes) -> None:
        state.set_nonce(d.SENDER, 0)  # the user's own code: every transaction signed with nonce 0
        tx = d._signed_tx(fork_vm(scenario.fork), d.CONTRACT, 0, 200_000, data)
        computation = state.apply_transaction(tx)
        seen.append(("tx", computation.is_success))

    def persist() -> None:
        state.persist()
        seen.append(("root", bytes(state.state_root)))

    persist()  # the pre-state in the trie: reads go through the read cache from here on
    message()
    message()
    state.set_storage(d.CONTRACT, 0, 42)  # the user writes storage between messages
    message()
    persist()
    message()
    snapshot = state.snapshot()  # the user writes and reverts
    state.set_storage(d.CONTRACT, 1, 7)
    message()
    state.revert(snapshot)
    message()
    message(_word(99) + _word(1))  # a write reverted by the message itself
    message()
    persist()
    message()
    message(_word(8) + _word(0))  # a write the message keeps
    message()
    persist()
    message()
    transaction(_word(11) + _word(0))  # another transaction writes
    message()
    transaction(_word(12) + _word(1))  # another transaction's write, reverted
    message()
    persist()
    message()
    # another writer on the same database (a stock AccountDB), then a new state at its root
    other = StockAccountDB(state._db, state.state_root)
    other.set_storage(d.CONTRACT, 0, 77)
    other.set_storage(d.CONTRACT, 1, 0)
    other.persist()
    header = d._header(fork_vm(scenario.fork)).copy(state_root=other.state_root)
    newer = vm_class.build_state(state._db, header, ChainContext(d.CHAIN_ID), d._PREV_HASHES)
    message(on=newer)
    message()  # the first state still reads its own root
    return seen


def test_state_changed_behind_the_cache_is_never_served_stale() -> None:
    """User code writing storage between messages, another transaction, reverted writes (by the
    user, by a message, by a transaction) and another writer on the same database: every read of
    a JIT VM with the read cache equals stock py-evm's, and the cache did answer reads."""
    from pyevm_jit.forks import fork_vm
    from pyevm_jit.testing import differential as d

    jit_class = d.jit_vm_class("cancun")
    assert issubclass(
        jit_class.get_state_class().account_db_class, accountdb.ReadCacheAccountDBMixin
    )
    cache = readcache.shared_read_cache()
    hits = cache.hits
    jit = _changed_behind_the_cache(jit_class)
    assert cache.hits > hits
    stock = _changed_behind_the_cache(fork_vm("cancun"))
    assert jit == stock
    reads = [(int.from_bytes(out[:32], "big"), int.from_bytes(out[32:], "big"))
             for ok, out in stock if ok is True and len(out) == 64]  # fmt: skip
    assert reads == [(5, 6), (5, 6), (42, 6), (42, 6), (42, 7), (42, 6), (42, 6), (42, 6),
                     (8, 6), (8, 6), (11, 6), (11, 6), (11, 6), (77, 0), (11, 6)]  # fmt: skip


# --- the trie walk -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_trie_walk_is_hexary_tries_get(seed: int) -> None:
    """trie_get equals py-evm's HexaryTrie.get on random tries of 32-byte keys (inline leaves,
    keys that differ in their last nibbles, deletions), and leaves a missing node to py-evm."""
    from trie import HexaryTrie
    from trie.exceptions import MissingTrieNode

    rng = random.Random(seed)
    db = AtomicDB()
    trie = HexaryTrie(db, prune=rng.random() < 0.5)
    keys = [keccak(rng.randbytes(8)) for _ in range(rng.choice([0, 1, 2, 3, 5, 17, 100, 600]))]
    keys += [k[:-1] + bytes([k[-1] ^ rng.choice([1, 0x10, 0xFF])]) for k in keys[::4]]
    for key in keys:
        trie[key] = rlp.encode(
            rng.choice([0, 1, 0x80, 2**255, rng.getrandbits(rng.randint(1, 256))])
        )
    for key in keys[::5]:
        del trie[key]
    probes = keys + [keccak(rng.randbytes(8)) for _ in range(40)]
    probes += [k[:-1] + bytes([k[-1] ^ 2]) for k in keys[:40]]
    for key in probes:
        assert trie_walk.trie_get(trie.db, trie.root_hash, key) == trie.get(key)
    if keys and trie.root_hash != BLANK_ROOT_HASH:
        del db[trie.root_hash]
        assert trie_walk.trie_get(trie.db, trie.root_hash, keys[0]) is None
        with pytest.raises(MissingTrieNode):
            trie.get(keys[0])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80", b"\x01", b"\xc0", b"\xc1\x80", b"\xc2\x81\x01\x80", b"\xc1\x80\x80",
     b"\xf8\x02\x80\x80", b"\xc3\xc1\x80\x80", b"\xc2\x80\x80" + b"\x00"],
)  # fmt: skip
def test_trie_walk_leaves_unusual_nodes_to_py_evm(data: bytes) -> None:
    """A root node that is not a canonical 2- or 17-item list: trie_get answers None (py-evm's
    own walk decides), or what py-evm answers."""
    from trie import HexaryTrie

    db = AtomicDB()
    root = keccak(data)
    db[root] = data
    key = keccak(b"k")
    got = trie_walk.trie_get(db, root, key)
    if got is not None:
        assert got == HexaryTrie(db, root).get(key)
