"""The Python half of the native state path: the frame's caches and handing their changes to
py-evm.

Native code answers SLOAD, SSTORE, TLOAD, TSTORE and LOG from per-frame caches (see
`abi.SlotCacheLayout` and `compiler.codegen.state`). py-evm's state stays the source of truth
wherever Python code can look:

- **Filling.** Only values py-evm has fill the caches: a miss suspends to py-evm's own opcode,
  and its result (the slot's value, and for net-metered forks its original value, read with
  `from_journal=False` as py-evm's `net_sstore` does) is remembered. From Berlin on the slot is
  warm from then on (py-evm's opcode marked it), which is why a cached slot costs the warm price.
  A message's cache starts with the slots of its account that the native journal's view holds,
  read as a miss reads them (`hostops.seed_storage`, docs/state-reads.md): the warm ones, and
  from Berlin on those not warm yet as COLD entries, whose first native SLOAD or SSTORE charges
  py-evm's cold price; their warm marks are handed over like writes (below), and a call after
  which any slot of the account is warm drops the cache (`hostops.run_lean_call`).
- **Flushing.** Native writes, warm marks, refunds and log records wait in the frame and are
  handed to py-evm (`state.set_storage`, `mark_storage_warm`, `computation.refund_gas`,
  `state.set_transient_storage`, `computation.add_log_entry`, in program order for logs; the
  native journal's methods where the state has it) at every suspension before the host
  operation runs, before a fallback to the interpreter, and when the message ends (whatever
  its outcome). No Python code runs in between, so nothing can observe the state without them,
  the transaction-wide log counter numbers them as the interpreter would, and a revert later
  discards them through py-evm's journal like any other write (the snapshot of a child message
  is taken after the flush, inside the CALL it suspends for).
- **Staleness.** A cache lives for one run of one message, and it is cleared after any host
  operation that is not py-evm's own opcode of a kind that cannot change this account's
  storage (calls, creates, SELFDESTRUCT, every replaced opcode), since Python code may have
  written the slots there -- except the storage cache after a lean call whose native journal
  log shows no write or wipe of this account's storage since the call began
  (`hostops.run_lean_call`, docs/calls.md). Between two suspensions only native code of this
  message runs (it holds the GIL). So a value served from a cache was read from py-evm, or
  written by this frame, with no Python code run since that could have changed it.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import to_bytes

from pyevm_jit import abi
from pyevm_jit.abi import CacheFlag, StateFlag
from pyevm_jit.evm import log_records
from pyevm_jit.lean import guard
from pyevm_jit.lean.exact import exact_entries
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.lean.statedb.journal import journal_of
from pyevm_jit.opcodes import LOG0, LOG4, SLOAD, SSTORE, TLOAD, TSTORE, opcodes_where

_VALID, _COLD, _WARMED = int(CacheFlag.VALID), int(CacheFlag.COLD), int(CacheFlag.WARMED)
_VALID_COLD = _VALID | _COLD
#: a word below 2**64 as 32 little-endian bytes (`SlotCache.remember`)
_LOW, _LOW_WORD = 1 << 64, struct.Struct("<Q24x")
#: a word as four 64-bit limbs, low first; the first n int32 of a dirty list, by n
_WORD, _INDICES = struct.Struct("<4Q"), [struct.Struct(f"<{n}i") for n in range(33)]

LOGS = frozenset(range(LOG0, LOG4 + 1))
# Host operations that, as py-evm implements them, never write any account's storage or
# transient storage: the caches stay valid across them when the VM runs py-evm's own opcode.
_STATE_NEUTRAL = opcodes_where(keeps_storage=True)


class SlotCache:
    """One `abi.SlotCacheLayout` buffer."""

    __slots__ = (
        "layout", "buf", "view", "address", "used", "flags", "zero_flags", "values_at",
        "flags_at", "dirty_at", "with_original", "mask", "cold", "warm_to",
    )  # fmt: skip

    def __init__(self, layout: abi.SlotCacheLayout) -> None:
        self.layout = layout
        self.buf = (ctypes.c_char * layout.size)()
        self.view = memoryview(self.buf).cast("B")
        self.address = ctypes.addressof(self.buf)
        #: the flag bytes, and as many zero bytes to clear them with (a slice assignment: no
        #: foreign call, which costs microseconds in the middle of a run)
        self.flags = self.view[layout.flags_offset : layout.flags_offset + layout.entries]
        self.zero_flags = bytes(layout.entries)
        # the layout's offsets, computed once (its properties recompute them on every use)
        self.values_at = layout.entries * 32  # values follow the keys; originals the values
        self.flags_at = layout.flags_offset
        self.dirty_at = layout.dirty_offset
        self.with_original = layout.with_original
        self.mask = layout.entries - 1
        #: whether any entry may be valid: Python made one valid, or handed over one that native
        #: code made valid (TSTORE; every entry native code makes valid is dirty until then)
        self.used = False
        #: the entries made COLD (`remember(..., cold=True)`) and not yet handed over warm:
        #: flag byte offset -> key; and how their warm marks are made: (`mark_storage_warm` of
        #: the state or its native journal, the message's storage address), set with them
        self.cold: dict[int, int] = {}
        self.warm_to: tuple[Callable[[Any, int], None], Any] | None = None

    def clear(self) -> None:
        if self.used:
            self.flags[:] = self.zero_flags
            self.used = False
            if self.cold:
                self.cold, self.warm_to = {}, None

    def remember(self, key: int, value: int, original: int = 0, cold: bool = False) -> None:
        """Record a slot as py-evm has it now (the entry must not be dirty: flush first);
        `cold`: the slot is not warm yet (EIP-2929; its first native access pays for it)."""
        # `layout.index` of a key below 2**16 is the key's low bits (its folds add nothing)
        index = key & self.mask if key < 65536 else self.layout.index(key)
        view, buf = self.view, self.buf
        at = index * 32
        # words below 2**64 in one C call (zero-padded), others as 32 bytes
        if key < _LOW:
            _LOW_WORD.pack_into(buf, at, key)
        else:
            view[at : at + 32] = key.to_bytes(32, "little")
        step = self.values_at
        at += step
        if value < _LOW:
            _LOW_WORD.pack_into(buf, at, value)
        else:
            view[at : at + 32] = value.to_bytes(32, "little")
        if self.with_original:
            at += step
            if original < _LOW:
                _LOW_WORD.pack_into(buf, at, original)
            else:
                view[at : at + 32] = original.to_bytes(32, "little")
        at = self.flags_at + index
        if cold:
            view[at] = _VALID_COLD
            self.cold[at] = key
        else:
            view[at] = _VALID
        self.used = True

    def hand_over_warm(self) -> None:
        """py-evm's warm mark (`warm_to`) of each COLD entry native code made WARMED, in the
        order they were remembered; those are plain entries now, the rest stay COLD. (An entry
        another key took over since is neither: it is dropped.)"""
        assert self.warm_to is not None
        mark_warm, address = self.warm_to
        view = self.view
        still = {}
        for at, key in self.cold.items():
            flag = view[at]
            if flag & _WARMED:
                view[at] = flag & ~_WARMED
                mark_warm(address, key)
            elif flag & _COLD:
                still[at] = key
        self.cold = still

    def take_dirty(self, count: int) -> list[tuple[int, int]]:
        """The (key, value) of the dirty entries in the order they became dirty; now clean."""
        view, buf = self.view, self.buf
        values_at, flags_at = self.values_at, self.flags_at
        indices = _INDICES[count] if count < len(_INDICES) else struct.Struct(f"<{count}i")
        unpack = _WORD.unpack_from
        out = []
        for index in indices.unpack_from(buf, self.dirty_at):
            at = index * 32
            # a word as four 64-bit limbs (one C call); most are below 2**64
            k0, k1, k2, k3 = unpack(buf, at)
            v0, v1, v2, v3 = unpack(buf, at + values_at)
            out.append(
                (
                    k0 | k1 << 64 | k2 << 128 | k3 << 192 if k1 | k2 | k3 else k0,
                    v0 | v1 << 64 | v2 << 128 | v3 << 192 if v1 | v2 | v3 else v0,
                )
            )
            view[flags_at + index] = _VALID
        self.used = True
        return out

    def entry(self, key: int) -> tuple[int, int, int] | None:
        """(value, original, flags) of a cached key, or None (tests and debugging)."""
        layout = self.layout
        index = layout.index(key)
        view = self.view
        flag = view[layout.flags_offset + index]
        at = index * 32
        if not flag & _VALID or int.from_bytes(view[at : at + 32], "little") != key:
            return None
        at += layout.entries * 32
        value = int.from_bytes(view[at : at + 32], "little")
        original = 0
        if layout.with_original:
            at += layout.entries * 32
            original = int.from_bytes(view[at : at + 32], "little")
        return value, original, flag


class StateBuffers:
    """A frame's caches and log buffer, with their context fields."""

    __slots__ = ("storage", "transient", "log_buf")

    def __init__(self, ctx: abi.ExecutionContext) -> None:
        self.storage = SlotCache(abi.STORAGE_CACHE)
        self.transient = SlotCache(abi.TRANSIENT_CACHE)
        self.log_buf = (ctypes.c_char * abi.LOG_BUFFER_BYTES)()
        ctx.storage_cache = self.storage.address
        ctx.transient_cache = self.transient.address
        ctx.log_buf = ctypes.addressof(self.log_buf)
        ctx.log_cap = abi.LOG_BUFFER_BYTES

    def reset(self, ctx: abi.ExecutionContext) -> None:
        """Empty caches and nothing pending, for the next message.

        Native code sets `pending` whenever it adds to a count, the refund or the log buffer,
        and `flush` clears it only once everything was handed over; so with `pending` zero
        all of them are zero and no entry was made valid behind the caches' `used` marks."""
        if ctx.pending:  # left by a message that ended by an exception
            self.storage.used = self.transient.used = True
            ctx.pending = ctx.refund = ctx.dirty_count = ctx.tdirty_count = ctx.log_len = 0
        if self.storage.used:
            self.storage.clear()
        if self.transient.used:
            self.transient.clear()

    def clear_caches(self) -> None:
        self.storage.clear()
        self.transient.clear()


def flush(computation: Computation, ctx: abi.ExecutionContext, buffers: StateBuffers) -> None:
    """Hand everything native code changed since the last flush to py-evm.

    `pending` is cleared last: should py-evm raise on the way, `StateBuffers.reset` still
    sees that something was left (and clears all of it)."""
    # A WARMED entry was COLD when it was seeded and stays so only while no Python code could
    # warm its slot (`hostops.run_lean_call`): py-evm's `_mark_storage_warm` would find it cold
    # and mark it, as the hand-over does (before the writes: py-evm marks an SSTORE's slot
    # after its write; nothing that reads the state or the journal's view can tell)
    storage = buffers.storage
    if storage.cold:
        storage.hand_over_warm()
    address = computation.msg.storage_address
    count = ctx.dirty_count
    if count:
        ctx.dirty_count = 0
        # native code wrote only under an active state plan (the state's and its database's
        # storage methods exact): the native journal's set_storage, without their layers
        journal = journal_of(computation.state)
        set_storage = computation.state.set_storage if journal is None else journal.jx_set
        for key, value in storage.take_dirty(count):
            set_storage(address, key, value)
    refund = ctx.refund
    if refund:
        ctx.refund = 0
        computation.refund_gas(refund)
    count = ctx.tdirty_count
    if count:
        ctx.tdirty_count = 0
        set_transient = computation.state.set_transient_storage
        for key, value in buffers.transient.take_dirty(count):
            set_transient(address, key, to_bytes(value))  # as py-evm's stack_pop1_bytes
    used = ctx.log_len
    if used:
        ctx.log_len = 0
        _hand_over_logs(computation, address, buffers.log_buf, used)
    ctx.pending = 0


def _hand_over_logs(computation: Computation, address: bytes, buf: Any, used: int) -> None:
    """Each record as `computation.add_log_entry(address, topics, data)`, in program order.

    When neither the computation's `add_log_entry` nor the transaction context's log counter
    is overridden (`guard.pyevm_log_counter`), the entries py-evm's method would append (its
    validation cannot fail on these values) are appended directly, the whole buffer at once
    (`log_records.append_entries`: the same tuples, numbered by the same counter)."""
    counter = guard.pyevm_log_counter(computation)
    view = memoryview(buf).cast("B")
    try:
        if counter is not None:
            log_records.append_entries(computation._log_entries, counter, address, view, used)
        else:
            add_log_entry = computation.add_log_entry
            for topics, data in log_records.records(view, used):
                add_log_entry(address, topics, data)
    finally:
        view.release()


@dataclass(frozen=True)
class StatePlan:
    """How messages of one opcode table use the native state path."""

    #: StateFlag bits for a message that may write, and for a static one
    flags: int
    static_flags: int
    #: host operations after which the caches stay valid: py-evm's own state-neutral opcodes,
    #: and its own SLOAD/SSTORE and TLOAD/TSTORE, whose results fill the caches
    keep: frozenset[int]
    #: the original value is needed (net gas metering) and read on every fill
    needs_original: bool
    #: cache entries may be COLD (EIP-2929): native SLOAD and SSTORE charge py-evm's cold price
    #: for them (`hostops.seed_storage`)
    cold_entries: bool = False

    @classmethod
    def disabled(cls) -> StatePlan:
        return cls(0, 0, frozenset(), False)


def state_plan(
    opcodes: Mapping[int, Any], stock: Mapping[int, Any], enabled: bool = True
) -> StatePlan:
    """The plan for a VM whose table is `opcodes`, where programs were compiled for the
    fork's py-evm table `stock`: an operation runs natively only when the VM's entries for it
    are py-evm's exact objects (`lean.exact`: by identity, unchanged; a hook wrapping py-evm's
    logic is not py-evm's), so native code does what py-evm's opcode would do."""
    from pyevm_jit import gas_rules as rules

    exact = exact_entries(dict(opcodes), dict(stock))
    keep = _STATE_NEUTRAL & exact
    flags = 0
    sload = rules.sload_hit_cost(stock) if SLOAD in exact else None
    sstore = rules.sstore_rule(stock) if SSTORE in exact else None
    cold = False
    # both must be py-evm's: the cache holds what their logic reads and writes
    if sload is not None and sstore is not None:
        keep |= {SLOAD, SSTORE}
        if enabled:
            flags |= StateFlag.SLOAD | StateFlag.SSTORE
            cold = rules.sload_cold_cost(stock) is not None and sstore.cold_gas > 0
    if {TLOAD, TSTORE} <= exact and rules.transient_gas(stock) is not None:
        keep |= {TLOAD, TSTORE}
        if enabled:
            flags |= StateFlag.TLOAD | StateFlag.TSTORE
    if enabled and LOGS <= exact and rules.log_gas(stock) is not None:
        flags |= StateFlag.LOG
    return StatePlan(
        flags=flags,
        static_flags=flags & (StateFlag.SLOAD | StateFlag.TLOAD),
        keep=keep,
        needs_original=sstore is not None and sstore.family == "net",
        cold_entries=cold,
    )
