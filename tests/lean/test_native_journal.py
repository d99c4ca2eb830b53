"""The native journal (lean/statedb/journal.py) against py-evm's AccountDB in the same process:
the same operations on both (random sequences and targeted cases) give the same answers, the
same state roots and the same errors."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_utils import ValidationError

from pyevm_jit.lean.statedb.accountdb import jit_account_db
from pyevm_jit.lean.statedb.journal import NativeJournalMixin
from pyevm_jit.lean.statedb.readcache import ReadCache

ADDRESSES = [bytes([i]) * 20 for i in range(1, 7)]
SLOTS = [0, 1, 2, 3, 2**255]
CODES = [b"", b"\x60\x00", b"\x5f\x5f\xf3", b"\x00" * 40]


def _genesis() -> tuple[dict[bytes, bytes], bytes]:
    db = AtomicDB(MemoryDB())
    adb = AccountDB(db)
    for i, address in enumerate(ADDRESSES[:4]):
        adb.set_balance(address, 10**18 * (i + 1))
        adb.set_nonce(address, i)
        if i % 2:
            adb.set_code(address, CODES[i % len(CODES)])
        for slot in SLOTS[: i + 1]:
            adb.set_storage(address, slot, slot + i + 1)
    adb.touch_account(ADDRESSES[4])  # an empty account that exists
    adb.persist()
    return dict(db.wrapped_db.kv_store), adb.state_root


GENESIS, ROOT = _genesis()


def _journal_class(cache: bool) -> type:
    cls = jit_account_db(AccountDB, ReadCache(10_000) if cache else None, True)
    assert cls is not None and issubclass(cls, NativeJournalMixin)
    return cls


def _open(cls: type) -> Any:
    return cls(AtomicDB(MemoryDB(dict(GENESIS))), ROOT)


class _Pair:
    """py-evm's AccountDB and a journal database over copies of the same database."""

    def __init__(self, cache: bool) -> None:
        self.stock = _open(AccountDB)
        self.jit = _open(_journal_class(cache))
        self.checkpoints: list[tuple[Any, Any]] = []
        self.log: list[str] = []

    def both(self, name: str, *args: Any) -> Any:
        if not name.startswith(("get_", "is_", "account_")):
            self.log.append(f"{name}{args}")
        results = []
        for db in (self.stock, self.jit):
            try:
                results.append(("ok", getattr(db, name)(*args)))
            except Exception as error:  # the same error class and message on both
                results.append((type(error).__name__, str(error)))
        assert results[0] == results[1], "\n".join([*self.log, f"-> {name}{args}"])
        return results[0][1]

    def check_all(self) -> None:
        for address in ADDRESSES:
            for name in ("get_balance", "get_nonce", "get_code_hash", "get_code",
                         "account_exists", "account_is_empty", "is_address_warm"):  # fmt: skip
                self.both(name, address)
            for slot in SLOTS:
                self.both("get_storage", address, slot)
                self.both("get_storage", address, slot, False)
                self.both("is_storage_warm", address, slot)


def _random_run(seed: int, cache: bool, steps: int = 400) -> None:
    rng = random.Random(seed)
    pair = _Pair(cache)
    wiped: set[bytes] = set()  # py-evm reverts across one wipe per account and transaction
    for _ in range(steps):
        address = rng.choice(ADDRESSES)
        slot = rng.choice(SLOTS)
        op = rng.random()
        if op < 0.25:
            pair.both("set_storage", address, slot, rng.choice([0, 0, 1, 7, 2**256 - 1]))
        elif op < 0.35:
            pair.both("get_storage", address, slot, rng.random() < 0.5)
        elif op < 0.45:
            pair.both("set_balance", address, rng.choice([0, 1, 10**18]))
        elif op < 0.5:
            pair.both(rng.choice(["increment_nonce", "touch_account", "delete_code"]), address)
        elif op < 0.53:
            pair.both("set_code", address, rng.choice(CODES))
        elif op < 0.58:
            if address not in wiped:
                wiped.add(address)
                pair.both(rng.choice(["delete_account", "delete_storage"]), address)
        elif op < 0.66:
            pair.both(rng.choice(["mark_address_warm", "is_address_warm"]), address)
        elif op < 0.72:
            pair.both(rng.choice(["mark_storage_warm", "is_storage_warm"]), address, slot)
        elif op < 0.82:
            pair.checkpoints.append((pair.stock.record(), pair.jit.record()))
            pair.log.append("record")
        elif op < 0.92 and pair.checkpoints:
            index = rng.randrange(len(pair.checkpoints))
            stock_cp, jit_cp = pair.checkpoints[index]
            del pair.checkpoints[index:]
            name = rng.choice(["commit", "discard"])
            pair.log.append(f"{name} #{index}")
            getattr(pair.stock, name)(stock_cp)
            getattr(pair.jit, name)(jit_cp)
        elif op < 0.97 and not pair.checkpoints:
            pair.both("lock_changes")
            wiped.clear()
        elif not pair.checkpoints:
            name = rng.choice(["make_state_root", "persist"])
            pair.log.append(name)
            pair.stock_root = getattr(pair.stock, name)()
            getattr(pair.jit, name)()
            assert pair.stock.state_root == pair.jit.state_root, "\n".join(pair.log)
            wiped.clear()
        pair.both("get_balance", address)
        pair.both("get_storage", address, slot)
    pair.check_all()
    while pair.checkpoints:
        stock_cp, jit_cp = pair.checkpoints.pop()
        pair.stock.commit(stock_cp)
        pair.jit.commit(jit_cp)
    pair.both("lock_changes")
    pair.check_all()
    assert pair.stock.make_state_root() == pair.jit.make_state_root(), "\n".join(pair.log)
    pair.stock.persist()
    pair.jit.persist()
    assert pair.stock.state_root == pair.jit.state_root
    pair.check_all()


@pytest.mark.parametrize("cache", [False, True])
@pytest.mark.parametrize("seed", range(40))
def test_random_operations_match_py_evm(seed: int, cache: bool) -> None:
    _random_run(seed, cache)


def _scripted(pair: _Pair, steps: list[tuple[Any, ...]]) -> None:
    cps: dict[str, tuple[Any, Any]] = {}
    for step in steps:
        if step[0] in ("record", "commit", "discard"):
            name, label = step
            if name == "record":
                cps[label] = (pair.stock.record(), pair.jit.record())
            else:
                stock_cp, jit_cp = cps.pop(label)
                getattr(pair.stock, name)(stock_cp)
                getattr(pair.jit, name)(jit_cp)
        else:
            pair.both(*step)
        pair.check_all()
    pair.both("lock_changes")
    pair.check_all()
    assert pair.stock.make_state_root() == pair.jit.make_state_root()


A, B, NEW = ADDRESSES[0], ADDRESSES[1], ADDRESSES[5]


def test_revert_at_depth_restores_every_layer() -> None:
    _scripted(_Pair(True), [
        ("set_storage", B, 1, 99), ("record", "1"), ("set_storage", B, 1, 5),
        ("record", "2"), ("set_storage", B, 2, 6), ("set_balance", B, 3), ("record", "3"),
        ("mark_storage_warm", B, 2), ("mark_address_warm", NEW), ("touch_account", NEW),
        ("discard", "2"), ("set_storage", B, 3, 8), ("commit", "1"),
    ])  # fmt: skip


def test_original_after_a_reverted_write_and_a_reverted_wipe() -> None:
    _scripted(_Pair(False), [
        ("record", "1"), ("set_storage", B, 0, 42), ("get_storage", B, 0, False),
        ("discard", "1"), ("record", "2"), ("delete_storage", B), ("set_storage", B, 1, 1),
        ("get_storage", B, 1, False), ("discard", "2"), ("get_storage", B, 1, False),
    ])  # fmt: skip


def test_wipe_after_an_earlier_transaction_keeps_py_evm_originals() -> None:
    # py-evm's original after a wipe is what an earlier transaction of the block left
    _scripted(_Pair(True), [
        ("set_storage", B, 1, 77), ("lock_changes",), ("delete_storage", B),
        ("get_storage", B, 1, False), ("get_storage", B, 0, False), ("set_storage", B, 0, 3),
    ])  # fmt: skip


def test_account_creation_and_deletion_reverted() -> None:
    _scripted(_Pair(True), [
        ("record", "1"), ("set_balance", NEW, 5), ("set_code", NEW, b"\x01"),
        ("set_storage", NEW, 1, 2), ("discard", "1"), ("record", "2"), ("delete_account", A),
        ("discard", "2"), ("record", "3"), ("delete_account", B), ("touch_account", B),
        ("commit", "3"), ("delete_account", ADDRESSES[4]),
    ])  # fmt: skip


def test_a_checkpoint_from_before_locked_changes_cannot_be_discarded() -> None:
    jit = _open(_journal_class(True))
    checkpoint = jit.record()
    jit.set_balance(A, 1)
    jit.lock_changes()
    with pytest.raises(ValidationError, match="native journal"):
        jit.discard(checkpoint)
    later = jit.record()
    jit.commit(checkpoint)  # harmless: its changes are py-evm's already
    jit.discard(later)
    assert jit.get_balance(A) == 1


def test_only_py_evms_exact_account_db_gets_the_journal() -> None:
    class Mine(AccountDB):
        pass

    assert not issubclass(jit_account_db(Mine, None, True), NativeJournalMixin)  # type: ignore[arg-type]
    assert not issubclass(jit_account_db(AccountDB, None, False), NativeJournalMixin)  # type: ignore[arg-type]


def test_warm_marks_reverted_with_their_snapshot() -> None:
    _scripted(_Pair(True), [
        ("mark_address_warm", A), ("record", "1"), ("mark_address_warm", B),
        ("mark_storage_warm", A, 1), ("record", "2"), ("mark_storage_warm", B, 2),
        ("commit", "2"), ("discard", "1"), ("mark_storage_warm", A, 2),
    ])  # fmt: skip


# --- JIT VMs: the journal under native code, against stock VMs in the same process ----------
def _vm_scenarios() -> list[Any]:
    from pyevm_jit.testing.account import Account as PreAccount
    from pyevm_jit.testing.assembler import asm, return_stack
    from pyevm_jit.testing.differential import Scenario

    reverter, writer = b"\xaa" * 20, b"\xbb" * 20
    world = {
        # writes the caller's slot 0 (DELEGATECALL), then reverts: the write must go
        reverter: PreAccount(code=asm(7, 0, "SSTORE", 5, 3, "SSTORE", 0, 0, "REVERT")),
        # writes slots 1 and 2 (2 := slot 0) and succeeds
        writer: PreAccount(code=asm(9, 1, "SSTORE", 0, "SLOAD", 2, "SSTORE", "STOP")),
    }

    def delegate(target: bytes) -> bytes:
        return asm(0, 0, 0, 0, int.from_bytes(target, "big"), 60_000, "DELEGATECALL", "POP")

    main = b"".join([
        asm(1, 0, "SSTORE", 3, "SLOAD", "POP"), delegate(reverter), delegate(writer),
        asm(0, 3, "SSTORE", 0, "SLOAD", 1, "SLOAD", 2, "SLOAD", 3, "SLOAD"),
        asm(*return_stack(4)),
    ])  # fmt: skip
    return [
        Scenario(code=main, fork=fork, storage={0: 4, 3: 8}, accounts=world)
        for fork in ("byzantium", "istanbul", "berlin", "london", "cancun", "prague")
    ]


@pytest.mark.parametrize("index", range(6))
def test_jit_vm_with_the_journal_matches_stock(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyevm_jit.testing import differential as d

    reads: list[int] = []
    original = NativeJournalMixin.jx_get

    def counting(self: Any, address: bytes, slot: int) -> int:
        reads.append(slot)
        return original(self, address, slot)

    monkeypatch.setattr(NativeJournalMixin, "jx_get", counting)
    scenario = _vm_scenarios()[index]
    assert issubclass(d.jit_vm_class(scenario.fork).get_state_class().account_db_class,
                      NativeJournalMixin)  # fmt: skip
    d.check(scenario, expect="success")
    assert reads  # the native state path read the journal's view directly


def test_switched_off_keeps_the_lean_account_db() -> None:
    from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
    from pyevm_jit.testing import differential as d

    tuning = RuntimeTuning(native_journal=False)
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, tuning=tuning))
    try:
        state_class = d.jit_vm_class("cancun", backend).get_state_class()
        assert not issubclass(state_class.account_db_class, NativeJournalMixin)
        assert issubclass(state_class.account_db_class, AccountDB)
        d.check(_vm_scenarios()[4], expect="success", backend=backend)
    finally:
        backend.close()


def test_a_py_evm_method_changed_since_the_journal_was_written_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyevm_jit.lean import guard

    assert issubclass(jit_account_db(AccountDB, None, True), NativeJournalMixin)  # type: ignore[arg-type]
    monkeypatch.setitem(guard.PINNED, "eth.db.account:AccountDB.touch_account", "0" * 16)
    assert not issubclass(jit_account_db(AccountDB, None, True), NativeJournalMixin)  # type: ignore[arg-type]
    monkeypatch.undo()

    def touch_account(self: Any, address: Any) -> None:  # a patch on py-evm's class
        raise AssertionError

    monkeypatch.setattr(AccountDB, "touch_account", touch_account)
    assert not issubclass(jit_account_db(AccountDB, None, True), NativeJournalMixin)  # type: ignore[arg-type]
