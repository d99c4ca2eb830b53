"""Opcode objects patched in place after a table's plan was made (the rule: `lean.exact`).

A plan says, for the entries of one opcode table as they were when it was made, where native
code may stand in for them. The table itself is checked on every message (same object, same
entries); an entry *object* can also change in place afterwards: its logic or gas replaced,
its class's `__call__` (or a method of a class-based opcode) replaced, its own attributes
set. Checking every entry of the table in Python on every message costs about 3 us (several
percent of a small call), so each message checks the entries its program's code holds, in one
native call (`compiler.wordcheck`: a few hundred nanoseconds whatever their number):

- the words that make up each of py-evm's `_FastOpcode` entries -- its class and its logic,
  mnemonic and gas slots (an object replaced in a slot is another address) -- and the version
  tag of each class among the entries (CPython gives a class a new tag whenever it or a base
  class changes: `lean.exact.ClassVerdicts`), compared with what they were;
- any other entry (py-evm's class-based opcodes such as CALL, its function wrappers) is
  compared by `gc.get_referents` (its instance dict and class) and its own attributes
  (`lean.exact.attributes_matter`), C-level comparisons too.

A word that differs is not yet a patch (an int of the same value, say): then the exact check
decides -- `gc.get_referents(*entries) == expected`, one call gathering what every entry refers
to and one list comparison (identity first, ints by value), and the classes' tags -- and a
guard that still holds is armed again with the words as they are.

What is compared is what the table's entries were when the plan was made (`TableSnapshot`,
taken before the plan judged them), so a patch made at any time after that is seen by the
next message of that program; the message's plan is then made again (the rule judges the
patched entries: interpreted, or host operations, with one warning) and the message runs with
it. A plan that interprets the table checks all its entries instead (its messages are
interpreted anyway), so that undoing a patch brings native code back.

Where a check cannot be done this way (no native code generator, no readable version tag, or
`gc.get_referents` does not show an object's slots), the exact comparison runs on every
message, or is made attribute by attribute: slower, as exact.
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections.abc import Callable, Iterable
from typing import Any

from eth.vm.opcode import _FastOpcode

from pyevm_jit.compiler.wordcheck import WordBuffer
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

    __slots__ = ("opcodes", "referents", "attributes", "dicts", "tags", "class_states", "_all")

    def __init__(self, opcodes: dict[int, Any]) -> None:
        self.opcodes = dict(opcodes)
        classes = {type(entry) for entry in self.opcodes.values()}
        # the classes first: a class changed while the rest is read is seen by the next check
        self.tags = _class_tags(classes)
        self.class_states = {cls: exact.class_state(cls) for cls in classes}
        self.dicts = {
            op: vars(entry) for op, entry in self.opcodes.items() if exact.attributes_matter(entry)
        }
        self.attributes = {op: dict(attributes) for op, attributes in self.dicts.items()}
        # after the dicts: `vars` makes the dict of an object whose attributes were kept
        # without one, which changes what it refers to
        self.referents = {op: referents(entry) for op, entry in self.opcodes.items()}
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
    them (`holds`; see the module's docstring)."""

    __slots__ = (
        "entries", "expected", "tags", "others", "others_expected", "attribute_dicts",
        "attribute_copies", "classes", "words",
    )  # fmt: skip

    def __init__(self, snapshot: TableSnapshot, ops: list[int]) -> None:
        entries = tuple(snapshot.opcodes[op] for op in ops)
        self.entries = entries
        self.expected = [x for op in ops for x in snapshot.referents[op]]
        others = [op for op in ops if not exact.is_slotted_opcode(snapshot.opcodes[op])]
        self.others = tuple(snapshot.opcodes[op] for op in others)
        self.others_expected = [x for op in others for x in snapshot.referents[op]]
        matter = [op for op in ops if op in snapshot.attributes]
        # the entries' own dicts as the snapshot saw them (`expected` holds them: an entry
        # given another dict is seen there) and copies of their contents then
        self.attribute_dicts = tuple(snapshot.dicts[op] for op in matter)
        self.attribute_copies = tuple(snapshot.attributes[op] for op in matter)
        classes = {type(entry) for entry in entries}
        self.tags: tuple[tuple[Any, int], ...] = ()
        self.classes: tuple[tuple[type, Any], ...] = ()
        if snapshot.tags is None:
            self.classes = tuple((cls, snapshot.class_states[cls]) for cls in classes)
        else:
            self.tags = tuple(snapshot.tags[cls] for cls in classes if cls in snapshot.tags)
        #: the native form of the check (`_native_words`), set once the exact one held
        self.words: WordBuffer | None = None

    def holds(self) -> bool:
        """One native call compares the words that make up py-evm's `_FastOpcode` entries (their
        class and slots) and the entries' classes' version tags; any other entry is compared
        by its referents and own attributes. When a word differs (or there is no native
        form), the exact comparison decides, and a guard that holds is armed again."""
        words = self.words
        if (
            words is not None
            and not _checker(words.address)
            and (not self.others or referents(*self.others) == self.others_expected)
            and self.attribute_dicts == self.attribute_copies
        ):
            return True
        return self._recheck()

    def _recheck(self) -> bool:
        triples = _native_words(self.entries, self.tags)  # read first: a later change is seen
        if not self.holds_exactly():
            return False
        if triples is not None and not self.classes:  # classes without tags: compared here
            self.words = WordBuffer(triples)
        return True

    def holds_exactly(self) -> bool:
        """The comparison of what the entries refer to, their own attributes and classes."""
        if referents(*self.entries) != self.expected:
            return False
        for tag, value in self.tags:
            if tag.value != value:
                return False
        if self.attribute_dicts != self.attribute_copies:
            return False
        for cls, state in self.classes:
            if exact.class_state(cls) != state:
                return False
        return True


# --- the native form of the check -----------------------------------------------------------------
_FULL = 2**64 - 1
_WORD = ctypes.sizeof(ctypes.c_uint64)


def _word(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


def _fast_opcode_layout() -> tuple[int, ...] | None:
    """Where a `_FastOpcode` keeps its class and its three slots (offsets from the object's
    address), found by building one with known objects; None when not found for sure (or
    not a 64-bit CPython)."""
    if sys.implementation.name != "cpython" or ctypes.sizeof(ctypes.c_void_p) != _WORD:
        return None
    markers: tuple[Any, Any, Any] = (object(), object(), object())
    probe = _FastOpcode(*markers)
    words = [_word(id(probe) + at) for at in range(0, _FastOpcode.__basicsize__, _WORD)]
    offsets = []
    for target in (_FastOpcode, *markers):
        hits = [index * _WORD for index, word in enumerate(words) if word == id(target)]
        if len(hits) != 1:
            return None
        offsets.append(hits[0])
    return tuple(offsets)


_LAYOUT = _fast_opcode_layout()
_TAG_MASK = 0xFFFFFFFF if sys.byteorder == "little" else 0xFFFFFFFF << 32


def _native_checker() -> Callable[[int], int] | None:
    if _LAYOUT is None:
        return None
    try:
        from pyevm_jit.compiler.wordcheck import words_differ

        return words_differ()
    except Exception:  # no native code generator here: the exact check only
        return None


def _unavailable(address: int) -> int:
    return 1


#: `compiler.wordcheck.words_differ` once built (guards have native words only then)
_checker: Callable[[int], int] = _unavailable
_checker_known = False


def _native_words(
    entries: tuple[Any, ...], tags: tuple[tuple[Any, int], ...]
) -> list[tuple[int, int, int]] | None:
    """The (address, mask, expected) words `holds` compares natively: each `_FastOpcode`
    entry's class and slots as they are now, and each class's version tag as the snapshot
    had it (None: no native form here)."""
    global _checker, _checker_known
    if not _checker_known:
        _checker, _checker_known = _native_checker() or _unavailable, True
    if _checker is _unavailable or _LAYOUT is None:
        return None
    triples = []
    for entry in entries:
        if exact.is_slotted_opcode(entry):
            for offset in _LAYOUT:
                address = id(entry) + offset
                triples.append((address, _FULL, _word(address)))
    for tag, value in tags:
        shifted = value if _TAG_MASK == 0xFFFFFFFF else value << 32
        triples.append((ctypes.addressof(tag), _TAG_MASK, shifted))
    return triples


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
