"""The customisation rule: native code stands in for a py-evm behaviour only while the objects
that implement it are py-evm's exact ones.

Frameworks on py-evm customise a VM by overriding methods (a policy hook in
`apply_computation`, repricing in `consume_gas`, a capped `extend_memory` or `Memory`, a state
whose `get_storage` or `is_storage_warm` answers differently), by replacing or wrapping opcodes
(tracers, cheat codes) and by patching objects in place. Compiled code must never bypass any
of them silently, so one rule decides, in this module only, where native code may stand in:

- **Classes, by the identity of their methods.** The computation class's methods that native
  code does for every message (gas, memory, stack: `MESSAGE_METHODS`) and its `apply_computation`
  must be py-evm's own functions, or the class's messages are interpreted (Ineligible). The
  state class's and its account database's storage methods (`STATE_METHODS`,
  `ACCOUNT_DB_METHODS`), the computation's `refund_gas` and py-evm's module function
  `_mark_storage_warm` must be py-evm's (or pyevm-jit's lean account database's, which are
  exact), or storage and transient storage are never answered natively (every such operation
  runs py-evm's opcode against the VM's own objects). A message whose memory, stack, code stream
  or gas meter object is not py-evm's class is interpreted.
- **Opcode entries, by identity.** An entry stands for py-evm's behaviour only when it *is*
  py-evm's own object for the fork (`opcodes.fork_opcodes`) and its logic function, static
  gas, class (with its bases: `__call__`, a class-based opcode's methods) and, where they
  matter, its own attributes are still the ones it had (`entry_is_exact`). No wrapper is
  taken for what it wraps (a `functools.wraps` hook around py-evm's logic is the hook); a
  change to py-evm's opcode class is named once. Any other host opcode runs as a
  host operation (the table's entry is called when executed); any other environment opcode
  makes the program one compiled with environment opcodes as host operations
  (`opcodes.HOST_ENV`); any other native or control opcode, or an opcode added or removed,
  makes the table's messages interpreted (`opcode_table_differences`). Environment words come
  from py-evm's own getters only, and the lean paths (`guard.py` checks what they copy) are
  offered only for entries this module finds exact.
- **Checked where a change can happen.** Every message looks up the verdict for its own
  computation class, state class and account database class (a class made after `jit_vm` is
  judged on its first message) and its opcode table (`evm/computation.py`: same object and same
  entries as when its plan was made). A class patched in place after it was judged is judged
  again: CPython gives a class a new version tag whenever it or a base class changes, and a
  verdict is kept only while the tag it was made under holds (where the tag cannot be read,
  every message judges the class again). The verdict for a table is made again when the table's
  entries change (the dict's version: `inplace.table_version`) and when an entry the message's
  code holds changed in place since the plan was made (its slots, class or attributes: one
  native comparison per message, `inplace.EntryGuard`), py-evm's own objects included (a patch
  of py-evm for every VM of the process, made after a JIT class's first message).

What is customised is named in one warning per class and customisation; the statistics count
interpreted messages as Ineligible.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from eth.db.account import AccountDB
from eth.vm.computation import BaseComputation
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack

from pyevm_jit.forks import vm_classes
from pyevm_jit.opcodes import OPCODES, Kind, fork_opcodes

log = logging.getLogger("pyevm_jit.evm.vm")

P = TypeVar("P")

#: computation methods native code does in every message (gas charges, memory, stack)
MESSAGE_METHODS = (
    "consume_gas", "get_gas_remaining", "extend_memory", "memory_write", "memory_read",
    "memory_read_bytes", "memory_copy", "stack_pop1_int", "stack_pop1_bytes", "stack_pop1_any",
    "stack_pop_ints", "stack_pop_bytes", "stack_pop_any", "stack_push_int", "stack_push_bytes",
    "stack_swap", "stack_dup",
)  # fmt: skip
#: computation methods the native state path does (refunds of native SSTOREs, handed over
#: once per suspension)
STATE_PATH_METHODS = ("refund_gas",)
#: state methods the native state path does (cached reads, coalesced writes, warm marks)
STATE_METHODS = (
    "get_storage", "set_storage", "is_storage_warm", "mark_storage_warm",
    "get_transient_storage", "set_transient_storage",
)  # fmt: skip
ACCOUNT_DB_METHODS = ("get_storage", "set_storage", "is_storage_warm", "mark_storage_warm")

#: py-evm's `_mark_storage_warm`, which py-evm's SLOAD and SSTORE (Berlin on) call
MARK_STORAGE_WARM = berlin_logic._mark_storage_warm


def _function(value: Any) -> Any:
    """What identifies a class attribute: the function of a method or classmethod."""
    return getattr(value, "__func__", value)


def departures(cls: type, reference: Iterable[type], names: Iterable[str]) -> list[str]:
    """The attributes among `names` whose value on `cls` is none of the `reference` classes'
    own objects (compared by identity)."""
    out = []
    references = tuple(reference)
    for name in names:
        mine = _function(getattr(cls, name, None))
        if all(mine is not _function(getattr(ref, name, None)) for ref in references):
            out.append(name)
    return out


_state_classes: tuple[type, ...] | None = None


def _pyevm_state_classes() -> tuple[type, ...]:
    """py-evm's own state classes, one per fork."""
    global _state_classes
    if _state_classes is None:
        _state_classes = tuple(
            {vm._state_class for vm in vm_classes().values()}  # type: ignore[attr-defined]
        )
    return _state_classes


def message_objects_departure(computation: Any) -> str:
    """Why this message's own objects keep it off native code ("" when they are py-evm's):
    native code is the message's memory and stack; a code stream or gas meter of another
    class is left to `jit_observe`."""
    state = computation.__dict__  # not made yet: py-evm's (`evm.computation._Lazy`)
    memory = state.get("_memory", _LAZY)
    if memory.__class__ is not Memory and memory is not _LAZY:
        return f"memory {type(memory).__name__}"
    stack = state.get("_stack", _LAZY)
    if stack.__class__ is not Stack and stack is not _LAZY:
        return f"stack {type(stack).__name__}"
    return ""


_LAZY = object()


# --- opcode entries ------------------------------------------------------------------------------
# What an opcode entry does is its object's logic and gas, its class (and the classes after it
# in the method resolution order: `__call__`, and for py-evm's class-based opcodes such as CALL
# every method), and for those class-based opcodes and py-evm's function wrappers its own
# attributes (`_FastOpcode` keeps logic, mnemonic and gas in slots, which win over any attribute
# of its instance dict). The pristine snapshot holds all of it as py-evm made it.
_snapshots: dict[int, tuple[Any, ...]] = {}
#: class -> the contents of its and its bases' dicts when an entry of it was first remembered
_class_snapshots: dict[type, tuple[dict[str, Any], ...]] = {}
_snapshots_lock = threading.Lock()


def remember_pristine(entries: Iterable[Any]) -> None:
    """Record py-evm's own opcode objects with their logic, gas, class and attributes as they
    are now."""
    with _snapshots_lock:
        for entry in entries:
            if id(entry) not in _snapshots:
                _snapshots[id(entry)] = (entry, *_parts(entry))
                _class_snapshots.setdefault(type(entry), class_state(type(entry)))


def _parts(entry: Any) -> tuple[Any, ...]:
    inner = getattr(entry, "__wrapped__", None)  # py-evm's own SELFDESTRUCT wrapper
    return (
        getattr(entry, "logic_fn", None),
        getattr(entry, "gas_cost", None) if inner is None else getattr(inner, "gas_cost", None),
        type(entry),
        own_attributes(entry),
    )


def class_state(cls: type) -> tuple[dict[str, Any], ...]:
    """The contents of the dicts of `cls` and its bases (`object`'s aside: it cannot change)."""
    return tuple(dict(vars(k)) for k in cls.__mro__[:-1])


def is_slotted_opcode(entry: Any) -> bool:
    """Whether an entry is of py-evm's `_FastOpcode` class (its behaviour: its logic, mnemonic
    and gas slots and its class)."""
    return type(entry) is _FastOpcode


def attributes_matter(entry: Any) -> bool:
    """Whether an entry's own (instance) attributes can change what it does: everything but
    py-evm's `_FastOpcode`, whose behaviour lives in slots and its class."""
    return type(entry) is not _FastOpcode and hasattr(entry, "__dict__")


def own_attributes(entry: Any) -> dict[str, Any] | None:
    """A copy of the instance attributes of an entry whose attributes matter (else None)."""
    return dict(vars(entry)) if attributes_matter(entry) else None


def _class_unchanged(cls: type) -> bool:
    pristine = _class_snapshots.get(cls)
    return pristine is not None and class_state(cls) == pristine


def entry_is_exact(entry: Any, pristine: Any) -> bool:
    """Whether a table entry is py-evm's own object `pristine`, unchanged since it was first
    seen: its logic function and static gas are the same objects, its class and the classes'
    dicts are as they were (its `__call__` among them), and so are its own attributes where
    they matter."""
    if entry is not pristine or entry is None:
        return False
    snapshot = _snapshots.get(id(entry))
    return (
        snapshot is not None
        and snapshot[0] is entry
        and _same(_parts(entry), snapshot[1:])
        and _classes.get(type(entry))
    )


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(
        x is y or (type(x) in (int, dict) and type(y) is type(x) and x == y)
        for x, y in zip(a, b, strict=True)
    )


def stock_table(fork: str) -> dict[int, Any]:
    """py-evm's own opcode objects of `fork` (`opcodes.fork_opcodes`), remembered as they are
    the first time (raises LookupError as `fork_opcodes` does)."""
    table = fork_opcodes(fork)
    if table and id(next(iter(table.values()))) not in _snapshots:
        remember_pristine(table.values())
    return table


def opcode_table_differences(fork: str, opcodes: dict[int, Any]) -> list[str]:
    """How a VM's opcode table departs from py-evm's table for `fork` in ways compiled code
    cannot honour (empty when programs compiled for `fork`, or `fork` + HOST_ENV, are exact
    for it): a native or control opcode that is not py-evm's exact object, or an opcode added
    or removed. Host and environment opcodes that are not py-evm's run the table's entry when
    executed (`customised_opcodes`)."""
    if fork not in vm_classes():
        return [f"no py-evm fork named {fork!r}"]
    try:
        stock = stock_table(fork)
    except LookupError as exc:
        return [str(exc)]
    differences = []
    classes: list[str] = []  # py-evm's opcode classes changed (named once, not per opcode)
    for op in sorted(set(stock) | set(opcodes)):
        mine, theirs = opcodes.get(op), stock.get(op)
        if entry_is_exact(mine, theirs):
            continue
        name = OPCODES[op].name if op in OPCODES else f"0x{op:02x}"
        if mine is None or theirs is None:
            differences.append(f"{name} {'removed' if mine is None else 'added'}")
            continue
        info = OPCODES.get(op)
        if info is not None and info.kind in (Kind.HOST, Kind.ENV):
            continue
        if mine is theirs and not _classes.get(type(mine)):
            label = f"py-evm's opcode class {type(mine).__name__} patched"
            if label not in classes:
                classes.append(label)
            continue
        differences.append(f"{name} {'patched' if mine is theirs else 'replaced'}")
    return classes + differences


def customised_opcodes(fork: str, opcodes: dict[int, Any]) -> list[int]:
    """The host and environment opcodes of a table that are not py-evm's exact objects (they
    run as host operations: native code never stands in for them)."""
    stock = stock_table(fork)
    return [
        op
        for op, info in OPCODES.items()
        if info.kind in (Kind.HOST, Kind.ENV)
        and op in stock
        and op in opcodes
        and not entry_is_exact(opcodes[op], stock[op])
    ]


def exact_entries(opcodes: dict[int, Any], stock: dict[int, Any]) -> frozenset[int]:
    """The opcodes whose entry in `opcodes` is py-evm's exact object of `stock`."""
    return frozenset(op for op, fn in stock.items() if entry_is_exact(opcodes.get(op), fn))


# --- verdicts per class, kept while the class is unchanged ---------------------------------------
def exact_paths(
    opcodes: Mapping[int, Any],
    candidates: Iterable[int],
    exact: frozenset[int],
    kind_of: Callable[[Any], str | None],
    paths: Mapping[str, P],
) -> dict[int, P]:
    """opcode -> its lean path `paths[kind_of(entry)]`, for the `candidates` whose entry in
    `opcodes` is py-evm's exact object (in `exact`, from `exact_entries`) of a kind `kind_of`
    recognises (None: no lean path)."""
    found = {}
    for opcode in candidates:
        if opcode in exact:
            kind = kind_of(opcodes.get(opcode))
            if kind is not None:
                found[opcode] = paths[kind]
    return found


def _version_tag_offset() -> int | None:
    """Where CPython keeps a type's version tag (`tp_version_tag`), found by watching it change,
    or None when it cannot be found for sure (then verdicts are not kept)."""
    if sys.implementation.name != "cpython":
        return None
    size: int = type.__basicsize__  # type: ignore[assignment]  # (typeshed: a method)

    def words(cls: type) -> list[int]:
        return [ctypes.c_uint32.from_address(id(cls) + at).value for at in range(0, size, 4)]

    found: set[int] | None = None
    for _ in range(3):
        probe = type("VersionProbe", (), {"x": 0})
        _ = probe.x  # type: ignore[attr-defined]  # a lookup gives the class a tag
        tagged = words(probe)
        probe.x = 1  # type: ignore[attr-defined]  # a change clears it...
        cleared = words(probe)
        _ = probe.x  # type: ignore[attr-defined]  # ...and the next lookup: a new, larger one
        retagged = words(probe)
        offsets = {
            index * 4
            for index, (a, z, b) in enumerate(zip(tagged, cleared, retagged, strict=True))
            if a and not z and b > a
        }
        found = offsets if found is None else found & offsets
    if found is None or len(found) != 1:
        return None
    return found.pop()


_TAG_OFFSET = _version_tag_offset()

V = TypeVar("V")


def _tag_of(cls: type, offset: int) -> Any:
    return ctypes.c_uint32.from_address(id(cls) + offset)


class ClassVerdicts(Generic[V]):
    """`judge(cls)` per class, judged again when the class or one of its bases was changed
    since (its version tag moved; without a readable tag, on every call). Thread-safe: an
    entry is replaced whole; two threads may judge the same class at once."""

    __slots__ = ("_judge", "_entries")

    def __init__(self, judge: Callable[[type], V]) -> None:
        self._judge = judge
        # id(cls) -> (a weak reference to cls, its tag, the tag's value, the verdict): weak, so
        # that a class made and dropped (jit_vm in a loop) is freed with its frame pool; its
        # entry goes with it (the reference's callback), before its id can be reused
        self._entries: dict[int, tuple[Any, Any, int, V]] = {}

    def get(self, cls: type) -> V:
        entry = self._entries.get(id(cls))
        if entry is not None and entry[1] is not None and entry[1].value == entry[2]:
            return entry[3]
        tag = None
        if _TAG_OFFSET is not None:
            tag = entry[1] if entry is not None else _tag_of(cls, _TAG_OFFSET)
        before = tag.value if tag is not None else 0
        verdict = self._judge(cls)
        after = tag.value if tag is not None else 0
        if entry is None:
            key = id(cls)
            entries = self._entries
            ref = weakref.ref(cls, lambda _ref: entries.pop(key, None))
        else:
            ref = entry[0]
        # kept only under a tag that held while judging (0: none assigned; judged next time)
        self._entries[id(cls)] = (ref, tag, before if before == after and before else -1, verdict)
        return verdict

    def kept(self, cls: type) -> tuple[Any, Any, int] | None:
        """(a weak reference to `cls`, its version tag, the tag's value) under which its
        verdict is kept, or None (not judged, or judged without a tag that held)."""
        entry = self._entries.get(id(cls))
        if entry is None or entry[1] is None or entry[2] <= 0:
            return None
        return entry[0], entry[1], entry[2]


#: per opcode class: whether it and its bases are as py-evm made them (`entry_is_exact`)
_classes = ClassVerdicts(_class_unchanged)

_warned: set[tuple[str, str]] = set()


def warn_customised(owner: str, what: str, consequence: str) -> None:
    """One warning per (class, customisation)."""
    if (owner, what) in _warned:
        return
    _warned.add((owner, what))
    log.warning("pyevm-jit: %s customises %s: %s", owner, what, consequence)


# --- the verdicts messages ask for ---------------------------------------------------------------
def judge_computation(cls: type, below: Any) -> tuple[bool, str, bool]:
    """The verdict for a JIT computation class `cls` (`below`: the apply_computation of the
    class `jit_vm` wrapped, next after the JIT mixin in `cls`'s order): (whether that
    apply_computation is not py-evm's -- it is called instead of the JIT's, a policy hook;
    the customised gas, memory or stack methods that make its messages interpreted, "" for
    none; whether the class's methods let native code answer storage)."""
    own_apply = _function(below) is not _function(BaseComputation.apply_computation)
    if own_apply:
        warn_customised(cls.__name__, "apply_computation", "its messages are interpreted")
    found = departures(cls, (BaseComputation,), MESSAGE_METHODS)
    if found:
        warn_customised(cls.__name__, ", ".join(found), "its messages are interpreted")
    refunds = departures(cls, (BaseComputation,), STATE_PATH_METHODS)
    if refunds:
        warn_customised(cls.__name__, ", ".join(refunds), "storage runs py-evm's opcodes")
    return own_apply, ", ".join(found), not refunds


def _judge_state(cls: type) -> str:
    found = departures(cls, _pyevm_state_classes(), STATE_METHODS)
    if found:
        warn_customised(cls.__name__, ", ".join(found), "storage runs py-evm's opcodes")
    return ", ".join(found)


def _judge_account_db(cls: type) -> str:
    from pyevm_jit.lean.statedb.accountdb import LeanAccountDBMixin, ReadCacheAccountDBMixin
    from pyevm_jit.lean.statedb.journal import NativeJournalMixin

    exact_dbs = (AccountDB, LeanAccountDBMixin, ReadCacheAccountDBMixin, NativeJournalMixin)
    found = departures(cls, exact_dbs, ACCOUNT_DB_METHODS)
    if found:
        warn_customised(cls.__name__, ", ".join(found), "storage runs py-evm's opcodes")
    return ", ".join(found)


_states = ClassVerdicts(_judge_state)
_account_dbs = ClassVerdicts(_judge_account_db)


def state_path_exact(state: Any) -> bool:
    """Whether native code may answer storage and transient storage for a message on `state`
    (whose computation class keeps py-evm's `refund_gas`: `judge_computation`): the state's
    and its account database's methods for them, and py-evm's `_mark_storage_warm`, are
    py-evm's own."""
    if berlin_logic._mark_storage_warm is not MARK_STORAGE_WARM:
        warn_customised("eth.vm.forks.berlin.logic", "_mark_storage_warm",
                        "storage runs py-evm's opcodes")  # fmt: skip
        return False
    db = getattr(state, "_account_db", None)
    key = (id(state.__class__), id(db.__class__))
    pair = _exact_pairs.get(key)
    if (
        pair is not None
        and pair[0]() is state.__class__
        and pair[3]() is db.__class__
        and pair[1].value == pair[2]
        and pair[4].value == pair[5]
    ):
        return True  # both classes found exact, neither (nor a base) changed since
    if _states.get(type(state)):
        return False
    if db is None:
        return True
    if _account_dbs.get(type(db)):
        return False
    kept_state, kept_db = _states.kept(type(state)), _account_dbs.kept(type(db))
    if kept_state is not None and kept_db is not None:
        if len(_exact_pairs) >= 256:
            _exact_pairs.clear()
        _exact_pairs[key] = (*kept_state, *kept_db)
    return True


#: (id of a state class, id of its account database's class) -> (a weak reference, version tag
#: and the tag's value of each) for pairs `state_path_exact` found exact: the next message of
#: such a state reads the two tags instead of asking both verdicts
_exact_pairs: dict[tuple[int, int], tuple[Any, Any, int, Any, Any, int]] = {}
