"""Opcode objects patched in place after a table's plan was made (the rule: `lean.exact`).

A plan says, for the entries of one opcode table as they were when it was made, where native
code may stand in for them. The table itself is checked on every message (same object, same
entries); an entry *object* can also change in place afterwards: its logic or gas replaced,
its class's `__call__` (or a method of a class-based opcode) replaced, its own attributes
set. Checking every entry of the table on every message costs about 3 us (several percent of
a small call), so each message checks only the entries its program's code holds, with C-level
operations only:

- `gc.get_referents(*entries) == expected`: one call gathers what every entry refers to (for
  py-evm's `_FastOpcode`: its logic, mnemonic and gas slots, its instance dict and its class;
  for a class-based opcode: its instance dict and its class), one list comparison checks them
  (identity first, ints by value);
- the version tag of each class among them (CPython gives a class a new tag whenever it or a
  base class changes: `lean.exact.ClassVerdicts`);
- the own attributes of the entries whose attributes matter (`lean.exact.attributes_matter`:
  class-based opcodes, py-evm's function wrappers), as one tuple-of-dicts comparison.

What is compared is what the table's entries were when the plan was made (`TableSnapshot`,
taken before the plan judged them), so a patch made at any time after that is seen by the
next message of that program; the message's plan is then made again (the rule judges the
patched entries: interpreted, or host operations, with one warning) and the message runs with
it. A plan that interprets the table checks all its entries instead (its messages are
interpreted anyway), so that undoing a patch brings native code back.

Where a check cannot be done this way (no readable version tag, or `gc.get_referents` does not
show an object's slots), the same comparison is made attribute by attribute: slower, as exact.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable, Iterable
from typing import Any

from pyevm_jit.lean import exact
from pyevm_jit.opcodes import OPCODES

#: guards a plan keeps (one per contract code) before it drops them all
GUARDS_LIMIT = 4096
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class Python code can change


def _slow_referents(*objects: Any) -> list[Any]:
    """What `gc.get_referents` shows of opcode entries, read attribute by attribute."""
    out: list[Any] = []
    for obj in objects:
        out.append(type(obj))
        out.append(getattr(obj, "__dict__", None))
        for name in getattr(type(obj), "__slots__", ()):
            out.append(getattr(obj, name, None))
    return out


def _referents_show_slots() -> bool:
    """Whether `gc.get_referents` of a slotted object lists its slots' values and class (and
    so changes when one of them is replaced)."""

    class Probe:
        __slots__ = ("a", "b", "__dict__")
        a: Any
        b: Any

    probe = Probe()
    marker, other = object(), object()
    probe.a, probe.b = marker, 7
    seen = gc.get_referents(probe)
    if not any(x is marker for x in seen) or Probe not in seen:
        return False
    probe.a = other
    return any(x is other for x in gc.get_referents(probe))


referents: Callable[..., list[Any]] = (
    gc.get_referents if _referents_show_slots() else _slow_referents
)


def _class_tags(classes: Iterable[type]) -> dict[type, tuple[Any, int]] | None:
    """class -> (its version tag, the tag's value now) for each class Python code can change
    (None when a tag cannot be read or is not assigned: then classes are compared by their
    dicts)."""
    offset = exact._TAG_OFFSET
    if offset is None:
        return None
    tags = {}
    for cls in classes:
        if not cls.__flags__ & _HEAPTYPE:
            continue
        _ = cls.__call__  # a lookup gives a class without a tag one
        tag = exact._tag_of(cls, offset)
        if not tag.value:
            return None
        tags[cls] = (tag, tag.value)
    return tags


class TableSnapshot:
    """The entries of one opcode table as a plan was made for them: per opcode, the entry's
    referents (`referents`) and, where they matter, a copy of its own attributes; and the
    state of the entries' classes."""

    __slots__ = ("opcodes", "referents", "attributes", "tags", "class_states", "_all")

    def __init__(self, opcodes: dict[int, Any]) -> None:
        self.opcodes = dict(opcodes)
        classes = {type(entry) for entry in self.opcodes.values()}
        # the classes first: a class changed while the rest is read is seen by the next check
        self.tags = _class_tags(classes)
        self.class_states = {cls: exact.class_state(cls) for cls in classes}
        self.referents = {op: referents(entry) for op, entry in self.opcodes.items()}
        self.attributes = {
            op: exact.own_attributes(entry)
            for op, entry in self.opcodes.items()
            if exact.attributes_matter(entry)
        }
        self._all: EntryGuard | None = None

    def guard(self, ops: Iterable[int]) -> EntryGuard:
        """The guard of the entries of `ops` (those the table holds)."""
        return EntryGuard(self, [op for op in sorted(set(ops)) if op in self.opcodes])

    def unchanged(self) -> bool:
        """Whether every entry of the table is as it was (a full check, for plans whose
        messages are interpreted anyway)."""
        if self._all is None:
            self._all = self.guard(self.opcodes)
        return self._all.holds()


class EntryGuard:
    """Whether the entries of some opcodes of a table are still as its `TableSnapshot` has
    them (`holds`: C-level comparisons only, see the module's docstring)."""

    __slots__ = ("entries", "expected", "tags", "dicts", "dict_copies", "classes")

    def __init__(self, snapshot: TableSnapshot, ops: list[int]) -> None:
        entries = tuple(snapshot.opcodes[op] for op in ops)
        self.entries = entries
        self.expected = [x for op in ops for x in snapshot.referents[op]]
        matter = [op for op in ops if op in snapshot.attributes]
        self.dicts = tuple(vars(snapshot.opcodes[op]) for op in matter)
        self.dict_copies = tuple(snapshot.attributes[op] for op in matter)
        classes = {type(entry) for entry in entries}
        self.tags: tuple[tuple[Any, int], ...] = ()
        self.classes: tuple[tuple[type, Any], ...] = ()
        if snapshot.tags is None:
            self.classes = tuple((cls, snapshot.class_states[cls]) for cls in classes)
        else:
            self.tags = tuple(snapshot.tags[cls] for cls in classes if cls in snapshot.tags)

    def holds(self) -> bool:
        if referents(*self.entries) != self.expected:
            return False
        for tag, value in self.tags:
            if tag.value != value:
                return False
        if self.dicts and self.dicts != self.dict_copies:
            return False
        for cls, state in self.classes:
            if exact.class_state(cls) != state:
                return False
        return True


# --- the table itself ---------------------------------------------------------------------------
def _dict_version_offset() -> int | None:
    """Where CPython keeps a dict's version (`ma_version_tag`, PEP 509: a new, larger value on
    every change of the dict's contents), found by watching it change; None when it cannot be
    found for sure (Python 3.14 has no such version): then tables are compared entry by entry."""
    if sys.implementation.name != "cpython":
        return None
    size = object.__basicsize__ + 4 * ctypes.sizeof(ctypes.c_void_p)

    def words(d: dict[int, Any]) -> list[int]:
        step = ctypes.sizeof(ctypes.c_uint64)
        return [ctypes.c_uint64.from_address(id(d) + at).value for at in range(0, size, step)]

    found: set[int] | None = None
    for _ in range(3):
        probe: dict[int, Any] = {1: object(), 2: object()}
        before, again = words(probe), words(probe)
        probe[1] = object()  # a value replaced: the count of entries stays
        replaced = words(probe)
        del probe[2]
        deleted = words(probe)
        offsets = {
            index * 8
            for index, (a, b, c, e) in enumerate(zip(before, again, replaced, deleted, strict=True))
            if a == b and a < c < e
        }
        found = offsets if found is None else found & offsets
    if found is None or len(found) != 1:
        return None
    return found.pop()


_DICT_VERSION_OFFSET = _dict_version_offset()


class _Contents:
    """The fallback of `table_version`: `value` is whether the table still has `copy`'s
    entries (the entries compared by identity, one C-level dict comparison)."""

    __slots__ = ("table", "copy")

    def __init__(self, table: Any) -> None:
        self.table = table
        self.copy = dict(table)

    @property
    def value(self) -> Any:
        return self.table == self.copy


def table_version(table: Any) -> tuple[Any, Any]:
    """(a reader, its value now): while the reader's `value` is that value, `table` (held by
    the caller, so that its address is not reused) has the same entries. One read of the
    dict's version where CPython keeps one; otherwise a comparison of the entries."""
    if _DICT_VERSION_OFFSET is not None and type(table) is dict:
        reader: Any = ctypes.c_uint64.from_address(id(table) + _DICT_VERSION_OFFSET)
        return reader, reader.value
    contents = _Contents(table)
    return contents, True


# --- the opcodes a code holds --------------------------------------------------------------------
def code_opcodes(code: bytes) -> set[int]:
    """The opcodes a code holds (its PUSH data aside)."""
    ops: set[int] = set()
    index, size = 0, len(code)
    while index < size:
        op = code[index]
        ops.add(op)
        info = OPCODES.get(op)
        index += 1 + (info.immediate if info is not None else 0)
    return ops
