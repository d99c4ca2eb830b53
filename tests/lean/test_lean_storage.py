"""The lean clear count (lean/storage.py) against py-evm's AccountStorageDB: the same sequence of
writes, wipes, snapshots, reverts and commits on both leaves the same clear counts, values,
storage roots and errors."""

from __future__ import annotations

from typing import Any

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.db.storage import CLEAR_COUNT_KEY_NAME, AccountStorageDB
from eth_utils import ValidationError

from pyevm_jit.lean.statedb import clearcount as lean_storage
from pyevm_jit.lean.statedb.storage import LeanAccountStorageDB

ADDRESS = b"\x42" * 20


def _script(store: Any) -> list[Any]:
    seen: list[Any] = []

    def note() -> None:
        seen.append((store._clear_count[CLEAR_COUNT_KEY_NAME], store.get(1), store.get(2)))

    store.set(1, 5)
    first = store._journal_storage.record()
    store._clear_count.record(first)
    store.set(2, 7)
    store.delete()
    note()
    second = store._journal_storage.record()
    store._clear_count.record(second)
    store.set(1, 9)
    note()
    store.discard(second)
    note()
    store.discard(first)  # back past the wipe: the old trie again
    note()
    store.delete()
    store.delete()  # twice in one block
    note()
    store.make_storage_root()
    seen.append(store.has_changed_root)
    try:
        seen.append(store.get_changed_root())
    except ValidationError as error:  # the same error on both
        seen.append(str(error))
    try:  # a checkpoint older than the store: reset, past two wipes (py-evm refuses)
        store.discard(b"never recorded")
    except ValidationError as error:
        seen.append(str(error))
    note()
    return seen


def test_same_steps_as_py_evm() -> None:
    assert set(lean_storage._WRITTEN_AGAINST) == {"delete", "discard"}
    stock = _script(AccountStorageDB(AtomicDB(), BLANK_ROOT_HASH, ADDRESS))
    lean = _script(LeanAccountStorageDB(AtomicDB(), BLANK_ROOT_HASH, ADDRESS))
    assert lean == stock


def test_broken_clear_count_raises_as_py_evm() -> None:
    errors = []
    for cls in (AccountStorageDB, LeanAccountStorageDB):
        store = cls(AtomicDB(), BLANK_ROOT_HASH, ADDRESS)
        store._clear_count[CLEAR_COUNT_KEY_NAME] = (5).to_bytes(1, "big")
        with pytest.raises(ValidationError) as error:
            store.delete()
        errors.append(str(error.value))
    assert errors[0] == errors[1]


def test_patched_py_evm_method_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    original = AccountStorageDB.delete

    def delete(self: Any) -> None:
        calls.append(self)
        original(self)

    monkeypatch.setattr(AccountStorageDB, "delete", delete)
    store = LeanAccountStorageDB(AtomicDB(), BLANK_ROOT_HASH, ADDRESS)
    store.delete()
    assert calls == [store]
