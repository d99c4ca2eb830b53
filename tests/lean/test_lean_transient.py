"""Transient storage with one undo log (lean/statedb/transient.py) against py-evm's
TransientStorage in the same process: the same calls give the same answers and errors, and JIT
VMs using it give the stock VMs' outcomes."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth.db.journal import get_next_checkpoint
from eth.vm.transient_storage import TransientStorage

from pyevm_jit.lean.statedb.transient import LeanTransientStorage, lean_transient_storage_class

ADDRESSES = [bytes([i]) * 20 for i in range(1, 4)]
SLOTS = [0, 1, 255, 256, 2**256 - 1]
VALUES = [b"", b"\x00", b"\x01", b"\xff" * 32, b"\x07"]


class _Pair:
    """py-evm's TransientStorage and the lean one, given the same calls."""

    def __init__(self) -> None:
        self.stock = TransientStorage()
        self.lean = LeanTransientStorage()
        self.log: list[str] = []

    def both(self, name: str, *args: Any) -> Any:
        self.log.append(f"{name}{args}")
        results = []
        for storage in (self.stock, self.lean):
            try:
                results.append(("ok", getattr(storage, name)(*args)))
            except Exception as error:  # the same error class and message on both
                results.append((type(error).__name__, str(error)))
        assert results[0] == results[1], "\n".join(self.log)
        return results[0][1]

    def check_all(self) -> None:
        for address in ADDRESSES:
            for slot in SLOTS:
                self.both("get_transient_storage", address, slot)
                key = address + slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")
                # what Python finds below the API: py-evm's JournalDB of the object
                assert self.stock._db.get(key, b"") == self.lean._db.get(key, b""), self.log


def _random_run(seed: int, steps: int = 300) -> None:
    rng = random.Random(seed)
    pair = _Pair()
    checkpoints: list[Any] = []
    for _ in range(steps):
        op = rng.random()
        address, slot = rng.choice(ADDRESSES), rng.choice(SLOTS)
        if op < 0.35:
            pair.both("set_transient_storage", address, slot, rng.choice(VALUES))
        elif op < 0.45:
            pair.both("get_transient_storage", address, slot)
        elif op < 0.65:
            checkpoint = get_next_checkpoint()  # as the state's snapshot numbers them
            checkpoints.append(checkpoint)
            pair.both("record", checkpoint)
        elif op < 0.85 and checkpoints:
            index = rng.randrange(len(checkpoints))
            checkpoint = checkpoints[index]
            del checkpoints[index:]
            pair.both(rng.choice(["commit", "discard"]), checkpoint)
        elif op < 0.9:
            pair.both("clear")
        elif op < 0.93:  # checkpoints gone or never made: py-evm's errors
            pair.both(rng.choice(["commit", "discard"]), get_next_checkpoint())
            checkpoints.clear()  # a failed discard pops every checkpoint
        elif op < 0.96:  # bad arguments
            pair.both(
                "set_transient_storage",
                *rng.choice([(b"\x01" * 19, 0, b""), (address, -1, b""), (address, 2**256, b""),
                             (address, 0, bytearray(b"1")), (address, True, b"")]),
            )  # fmt: skip
        pair.both("get_transient_storage", address, slot)
    pair.check_all()
    while checkpoints:
        pair.both(rng.choice(["commit", "discard"]), checkpoints.pop())
        pair.check_all()


@pytest.mark.parametrize("seed", range(30))
def test_random_operations_match_py_evm(seed: int) -> None:
    _random_run(seed)


def test_clear_is_reverted_with_its_checkpoint_and_numbered_as_py_evms() -> None:
    pair = _Pair()
    a = ADDRESSES[0]
    pair.both("set_transient_storage", a, 1, b"\x05")
    outer = get_next_checkpoint()
    pair.both("record", outer)
    pair.both("clear")
    pair.both("set_transient_storage", a, 2, b"\x06")
    pair.check_all()
    pair.both("discard", outer)
    pair.check_all()
    assert pair.lean.get_transient_storage(a, 1) == b"\x05"
    assert pair.lean.get_transient_storage(a, 2) == b""
    # a clear takes a checkpoint number on both: the next ones are the same sequence
    before = get_next_checkpoint()
    TransientStorage().clear()
    middle = get_next_checkpoint()
    LeanTransientStorage().clear()
    assert get_next_checkpoint() - middle == middle - before


def test_committing_the_root_checkpoint_is_refused_as_py_evm_refuses_it() -> None:
    for storage in (TransientStorage(), LeanTransientStorage()):
        with pytest.raises(Exception, match="Should not commit root changeset"):
            storage.commit(storage._db._journal.root_checkpoint)  # type: ignore[attr-defined]


def test_only_py_evms_own_class_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyevm_jit.lean import guard

    class Mine(TransientStorage):
        pass

    assert lean_transient_storage_class(TransientStorage) is LeanTransientStorage
    assert lean_transient_storage_class(Mine) is None
    monkeypatch.setitem(guard.PINNED, "eth.vm.transient_storage:TransientStorage.record", "0" * 16)
    assert lean_transient_storage_class(TransientStorage) is None
    monkeypatch.undo()

    def record(self: Any, checkpoint: Any) -> None:  # a patch on py-evm's class
        raise AssertionError

    monkeypatch.setattr(TransientStorage, "record", record)
    assert lean_transient_storage_class(TransientStorage) is None


# --- JIT VMs against stock VMs in the same process -----------------------------------------------
def _vm_scenarios() -> list[Any]:
    from pyevm_jit.testing.account import Account as PreAccount
    from pyevm_jit.testing.assembler import asm, return_stack
    from pyevm_jit.testing.differential import Scenario

    reverter, writer = b"\xaa" * 20, b"\xbb" * 20
    world = {
        # writes the caller's transient slots 0 and 5 (DELEGATECALL), then reverts: both go
        reverter: PreAccount(code=asm(7, 0, "TSTORE", 5, 5, "TSTORE", 0, 0, "REVERT")),
        # writes transient slot 1 and 2 (2 := slot 0) and succeeds
        writer: PreAccount(code=asm(9, 1, "TSTORE", 0, "TLOAD", 2, "TSTORE", "STOP")),
    }

    def delegate(target: bytes) -> bytes:
        return asm(0, 0, 0, 0, int.from_bytes(target, "big"), 60_000, "DELEGATECALL", "POP")

    main = b"".join([
        asm(4, 0, "TSTORE", 0, "TLOAD", "POP"), delegate(reverter), delegate(writer),
        asm(0, "TLOAD", 1, "TLOAD", 2, "TLOAD", 5, "TLOAD"),
        asm(*return_stack(4)),
    ])  # fmt: skip
    return [Scenario(code=main, fork=fork, accounts=world) for fork in ("cancun", "prague")]


@pytest.mark.parametrize("index", range(2))
def test_jit_vm_with_lean_transient_storage_matches_stock(index: int) -> None:
    from pyevm_jit.testing import differential as d

    scenario = _vm_scenarios()[index]
    state_class = d.jit_vm_class(scenario.fork).get_state_class()
    assert state_class._transient_storage_class is LeanTransientStorage
    outcome = d.check(scenario, expect="success")
    # top first: slot 5's write reverted, slot 2 := slot 0, slot 1 written, slot 0's write
    # reverted
    assert outcome.output == b"".join(v.to_bytes(32, "big") for v in (0, 4, 9, 4))


def test_switched_off_keeps_py_evms_transient_storage() -> None:
    from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
    from pyevm_jit.testing import differential as d

    tuning = RuntimeTuning(native_journal=False)
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, tuning=tuning))
    try:
        state_class = d.jit_vm_class("cancun", backend).get_state_class()
        assert state_class._transient_storage_class is TransientStorage
        d.check(_vm_scenarios()[0], expect="success", backend=backend)
    finally:
        backend.close()
