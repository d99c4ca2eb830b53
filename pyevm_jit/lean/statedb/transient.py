"""Transient storage (EIP-1153) with one undo log: py-evm's `TransientStorage`, without its
journal's per-snapshot bookkeeping.

py-evm's `TransientStorage` keeps its values in a `JournalDB`; every `state.snapshot()` records
a checkpoint in it (a new changeset dict, kept after its commit) and every commit walks its
checkpoint stack, for each message whether or not it touches transient storage. Here, as in the
native journal (docs/journal.md): the values are the same dict py-evm's `JournalDB` reads
(`_db._journal._current_values`, so `transient_storage._db.get(key)` answers as py-evm's
would), `record()` remembers the undo log's length, `commit()` forgets the checkpoint (and the
log when none is left), `discard()` pops the log back, restoring each value a write or a
`clear()` replaced.

Every method answers, accepts and raises as py-evm's does over any sequence of calls (the
checkpoint errors with py-evm's messages; `clear()` takes a checkpoint number from py-evm's
counter as py-evm's journal does, so later checkpoints are numbered the same): tests compare
random sequences with py-evm's class in the same process. One exception: a checkpoint number
recorded a second time is accepted (py-evm refuses one it still holds; the state's snapshots
take new numbers from py-evm's counter, so they never repeat one). Used only where the state class's
`_transient_storage_class` is py-evm's class itself and py-evm's code is the version this was
written against (`guard.TRANSIENT_PINNED`, `lean_transient_storage_class`).
"""

from __future__ import annotations

from typing import Any

from eth.db.journal import get_next_checkpoint
from eth.validation import validate_canonical_address, validate_is_bytes, validate_uint256
from eth.vm.transient_storage import TransientStorage
from eth_utils import ValidationError

from pyevm_jit.lean import guard

_ABSENT: Any = object()
_UINT256_LIMIT = 1 << 256
_COMMIT_ROOT = "Should not commit root changeset with commit_changeset, use pop_all() instead"
_CLEARED: Any = object()  # undo entry kind of a clear: (_CLEARED, the values before it)


def _key(address: Any, slot: Any) -> bytes:
    """py-evm's checks and `_get_key`, the checks skipped for values they accept as they are."""
    if address.__class__ is not bytes or len(address) != 20:
        validate_canonical_address(address)
    if slot.__class__ is not int or not 0 <= slot < _UINT256_LIMIT:
        validate_uint256(slot)
    return address + slot.to_bytes((slot.bit_length() + 7) // 8 or 1, "big")


class LeanTransientStorage(TransientStorage):
    """py-evm's `TransientStorage` with one undo log (module doc)."""

    def __init__(self) -> None:
        super().__init__()  # py-evm's JournalDB (its root checkpoint numbered as py-evm's)
        #: the dict py-evm's JournalDB reads values from: the only store of values
        self._jx_values: dict[bytes, Any] = self._db._journal._current_values
        #: (key, value replaced or _ABSENT) per write, (_CLEARED, values) per clear
        self._jx_log: list[tuple[Any, Any]] = []
        #: (checkpoint, log length when it was recorded), oldest first
        self._jx_checkpoints: list[tuple[Any, int]] = []
        #: py-evm's root checkpoint, which it refuses to commit (None once a failed discard
        #: popped it, as py-evm's journal pops its whole stack then)
        self._jx_root: Any = self._db._journal.root_checkpoint

    def get_transient_storage(self, address: Any, slot: int) -> bytes:
        value: Any = self._jx_values.get(_key(address, slot))
        if value.__class__ is bytes:
            return value
        # py-evm's JournalDB answers a deletion marker (written through `_db`) as absent
        return value if isinstance(value, bytes) else b""

    def set_transient_storage(self, address: Any, slot: int, value: bytes) -> None:
        key = _key(address, slot)
        if value.__class__ is not bytes:
            validate_is_bytes(value)
        values = self._jx_values
        if self._jx_checkpoints:
            self._jx_log.append((key, values.get(key, _ABSENT)))
        values[key] = value

    def record(self, checkpoint: Any) -> None:
        if checkpoint is None:
            checkpoint = get_next_checkpoint()
        self._jx_checkpoints.append((checkpoint, len(self._jx_log)))

    def commit(self, checkpoint: Any) -> None:
        stack = self._jx_checkpoints
        if stack and stack[-1][0] == checkpoint and (len(stack) > 1 or self._jx_root is not None):
            stack.pop()  # the usual case: the latest one
        else:
            # py-evm's journal refuses to commit the bottom of its checkpoint stack: its root,
            # or, once a failed discard popped the root, whichever checkpoint is lowest
            for index in range(len(stack) - 1, -1, -1):
                if stack[index][0] == checkpoint:
                    if index == 0 and self._jx_root is None:
                        raise ValidationError(_COMMIT_ROOT)
                    del stack[index:]
                    break
            else:
                if checkpoint == self._jx_root:
                    raise ValidationError(_COMMIT_ROOT)
                raise ValidationError(f"No checkpoint {checkpoint} was found")
        if not stack:
            self._jx_log.clear()

    def discard(self, checkpoint: Any) -> None:
        stack = self._jx_checkpoints
        length = -1
        while stack:
            found, at = stack.pop()
            if found == checkpoint:
                length = at
                break
        if length < 0:
            # py-evm's journal has popped every checkpoint by then (its root included)
            self._jx_root = None
            raise ValidationError(f"No checkpoint {checkpoint} was found")
        log = self._jx_log
        if len(log) > length:
            values = self._jx_values
            for key, old in reversed(log[length:]):
                if key is _CLEARED:
                    values.clear()
                    values.update(old)
                elif old is _ABSENT:
                    values.pop(key, None)
                else:
                    values[key] = old
            del log[length:]
        if not stack:
            log.clear()

    def clear(self) -> None:
        get_next_checkpoint()  # py-evm's journal numbers its clear
        values = self._jx_values
        if self._jx_checkpoints:
            self._jx_log.append((_CLEARED, dict(values)))
        values.clear()


def lean_transient_storage_class(transient_storage_class: Any) -> type | None:
    """`LeanTransientStorage` for a state class whose transient storage class is py-evm's own
    `TransientStorage` (the version this module was written against), else None."""
    if guard.is_pinned_transient_storage(transient_storage_class):
        return LeanTransientStorage
    return None
