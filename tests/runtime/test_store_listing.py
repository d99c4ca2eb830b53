"""`FileArtifactStore.variants` from a listing kept per fork folder (`store.listing`): taken
again when the folder changed (its time, a write or removal by this store), trusted only once
the folder had settled; what it names is still read and verified by `load`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from eth_hash.auto import keccak
from support import code_n

from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, engine_identity
from pyevm_jit.runtime import RuntimeCacheKey
from pyevm_jit.runtime.store import FileArtifactStore, StoredArtifact, identity_fingerprint
from pyevm_jit.runtime.store.listing import SETTLE_SECONDS
from pyevm_jit.runtime.workers import CompileTask
from pyevm_jit.testing import faults

OURS = identity_fingerprint(engine_identity())


def _artifact(n: int, region: frozenset[int] | None = None) -> StoredArtifact:
    code = code_n(n)
    key = RuntimeCacheKey(keccak(code), "cancun")
    obj = faults.fake_compiler(CompileTask(code, "cancun", DEFAULT_OPT_LEVEL, key.code_hash))
    return StoredArtifact.create(key, obj, len(code), engine_identity(), region)


def _settle(store: FileArtifactStore, fork: str = "cancun") -> None:
    """Date the fork folder back, as if it had last changed long ago."""
    past = time.time() - 10 * SETTLE_SECONDS
    os.utime(store.directory / fork, (past, past))


def _variants(store: FileArtifactStore, n: int) -> list[str]:
    return sorted(k.region for k in store.variants(keccak(code_n(n)), "cancun", OURS))


def test_a_settled_folder_is_listed_once_for_many_misses(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "s")
    for n in range(50):
        store.store(_artifact(n))
    store.store(_artifact(7, frozenset({0, 5})))
    _settle(store)
    taken = store._listings.taken
    for n in range(100, 200):
        assert _variants(store, n) == []  # misses
    assert len(_variants(store, 7)) == 2 and _variants(store, 3) == [""]
    assert store._listings.taken == taken + 1


def test_an_unsettled_folder_is_listed_again(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "s")
    store.store(_artifact(1))
    now = time.time()
    os.utime(store.directory / "cancun", (now, now))  # changed just now
    taken = store._listings.taken
    _variants(store, 1)
    _variants(store, 1)
    assert store._listings.taken == taken + 2


def test_changes_by_another_process_and_by_this_store_are_seen(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "s")
    other = FileArtifactStore(tmp_path / "s")  # another process's view of the folder
    store.store(_artifact(1))
    _settle(store)
    assert _variants(store, 2) == []
    # another process writes: the folder's time moves
    other.store(_artifact(2, frozenset({0})))
    assert len(_variants(store, 2)) == 1
    _settle(store)
    assert len(_variants(store, 2)) == 1
    # this store writes, and the folder's time stays as it was (a write in the same clock tick
    # as the listing): its own write is seen all the same
    stamp = os.stat(store.directory / "cancun")
    store.store(_artifact(2))
    os.utime(store.directory / "cancun", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert _variants(store, 2) == sorted(["", _artifact(2, frozenset({0})).key.region])
    # so is its removal
    _settle(store)
    assert len(_variants(store, 2)) == 2
    stamp = os.stat(store.directory / "cancun")
    store.delete(_artifact(2).key)
    os.utime(store.directory / "cancun", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert len(_variants(store, 2)) == 1
    store.clear()
    assert _variants(store, 1) == [] and _variants(store, 2) == []


def test_a_name_the_listing_gives_is_still_verified(tmp_path: Path) -> None:
    """A stale or forged name only points at a file: `load` reads and checks it."""
    store = FileArtifactStore(tmp_path / "s")
    whole, region = _artifact(1), _artifact(1, frozenset({0, 3}))
    store.store(whole)
    store.store(region)
    _settle(store)
    assert len(_variants(store, 1)) == 2
    folder = store.directory / "cancun"
    (folder / region.key.file_name).write_bytes(b"garbage")
    (folder / whole.key.file_name).unlink()
    _settle(store)
    keys = store.variants(keccak(code_n(1)), "cancun", OURS)
    assert [k.region for k in keys] == [region.key.region]
    assert store.load(keys[0]) is None and store.rejected == 1
