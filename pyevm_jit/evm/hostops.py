"""Host operations: a suspended native program's opcode run by py-evm against the computation.

The opcode's inputs move from the native stack into py-evm's stack, py-evm's opcode of the
table runs (or the lean path of a SLOAD or call, `pyevm_jit.lean`), its outputs move back, and
the frame's state caches are kept or cleared as the state path requires (evm/state_path.py).
"""

from __future__ import annotations

from pyevm_jit.abi import WORD_BYTES
from pyevm_jit.evm.frame import NativeFrame, address_of
from pyevm_jit.evm.state_path import StatePlan
from pyevm_jit.lean import calls, sload
from pyevm_jit.lean.calls import ParamsReader
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.lean.statedb.journal import journal_of
from pyevm_jit.opcodes import OPCODES, SLOAD, SSTORE, TLOAD, TSTORE, opcodes_where

#: opcode -> (stack inputs, stack outputs)
HOST_ARITY = {op: (info.inputs, info.outputs) for op, info in OPCODES.items()}
# Host operations that run a child message: the return data buffer is new afterwards.
_CALLS_AND_CREATES = opcodes_where(child=True)


def run_host_op(computation: Computation, frame: NativeFrame, plan: StatePlan) -> None:
    """Run py-evm's own opcode for the suspended host operation, syncing gas and stack."""
    ctx = frame.ctx
    opcode = ctx.exit_op
    arity, _ = HOST_ARITY[opcode]
    depth = ctx.stack_len
    base = depth - min(arity, depth)
    view = frame.stack_view
    from_bytes = int.from_bytes
    inputs = [
        from_bytes(view[offset : offset + WORD_BYTES], "little")
        for offset in range(base * WORD_BYTES, depth * WORD_BYTES, WORD_BYTES)
    ]
    values = computation._stack.values
    values.clear()
    if base:
        values.extend([0] * base)  # placeholders: only their count matters (stack limit)
    values.extend(inputs)

    gas_meter = computation._gas_meter
    gas_meter.gas_remaining = ctx.gas
    computation.code.program_counter = ctx.exit_pc + 1
    try:
        computation.opcodes[opcode](computation=computation)
    finally:
        ctx.gas = gas_meter.gas_remaining

    new_depth = len(values)
    output = 0
    for index in range(base, new_depth):
        output = values[index]
        if output.__class__ is bytes:
            output = from_bytes(output, "big")
        offset = index * WORD_BYTES
        view[offset : offset + WORD_BYTES] = output.to_bytes(WORD_BYTES, "little")
    values.clear()
    ctx.stack_len = new_depth
    if opcode not in plan.keep:
        # Python code other than py-evm's state-neutral opcodes ran (a child message, a
        # replaced opcode): it may have written this account's storage
        frame.state.clear_caches()
        if opcode in _CALLS_AND_CREATES:
            sync_return_data(computation, frame)
    elif opcode == SLOAD or opcode == SSTORE:
        # py-evm's own opcode ran: the slot's value is known and (from Berlin on) it is warm
        remember_slot(computation, frame, plan, inputs[-1],
                       output if opcode == SLOAD else inputs[-2])  # fmt: skip
    elif opcode == TLOAD:
        frame.state.transient.remember(inputs[-1], output)
    elif opcode == TSTORE:
        frame.state.transient.remember(inputs[-1], inputs[-2])


def remember_slot(
    computation: Computation, frame: NativeFrame, plan: StatePlan, key: int, value: int
) -> None:
    # (called only with SLOAD and SSTORE in plan.keep: the message's state plan is on)
    """Fill the storage cache after py-evm's own SLOAD or SSTORE of `key` (with, for net
    metering, the original value read as py-evm's `net_sstore` reads it)."""
    original = 0
    if plan.needs_original:
        journal = journal_of(computation.state)
        if journal is not None:
            original = journal.jx_original(computation.msg.storage_address, key)
        else:
            original = computation.state.get_storage(
                computation.msg.storage_address, key, from_journal=False
            )
    frame.state.storage.remember(key, value, original)


#: slots of its account at most that a message's storage cache starts with (`seed_storage`)
SEED_LIMIT = 16


def seed_storage(computation: Computation, frame: NativeFrame, plan: StatePlan) -> None:
    """Start the message's storage cache with the slots of its account whose values the native
    journal's view holds (`jx_known_slots`): the warm ones (EIP-2929), as a SLOAD miss of each
    would remember them (`jx_get`, and for net metering `jx_original`), and, where the plan has
    cold entries (Berlin on), those not warm yet whose original the view holds too, as COLD
    entries: their first native SLOAD or SSTORE charges py-evm's cold price and the warm mark
    is handed to py-evm before any Python code runs (`state_path.flush`). A message then reads
    and writes, without suspending, the slots an earlier message of the transaction read or
    wrote, or a run of the same call that was reverted (gas estimates, `eth_call`s on one
    state). Only while the message's state plan is on (native SLOAD, the state's storage
    methods py-evm's or the journal's) and for accounts with at most SEED_LIMIT slots in the
    view."""
    journal = journal_of(computation.state)
    if journal is None:
        return
    address = computation.msg.storage_address
    cold = plan.cold_entries
    slots = journal.jx_known_slots(address, SEED_LIMIT, cold)
    if not slots:
        return
    cache = frame.state.storage
    remember = cache.remember
    if not plan.needs_original:
        for slot, value, _, warm in slots:
            remember(slot, value, 0, not warm)
    else:
        for slot, value, original, warm in slots:
            if original is None:
                original = journal.jx_original(address, slot)
            remember(slot, value, original, not warm)
    if cache.cold:
        cache.warm_to = (journal.mark_storage_warm, address)


def run_lean_sload(computation: Computation, frame: NativeFrame, plan: StatePlan) -> bool:
    """A SLOAD miss through `lean.sload.sload`: py-evm's steps on the slot word of the native
    stack, the value written over it. False when nothing was done: the stack is empty (py-evm's
    opcode raises the exact error) or the table's SLOAD is not py-evm's."""
    ctx = frame.ctx
    depth = ctx.stack_len
    if depth < 1:
        return False
    at = (depth - 1) * WORD_BYTES
    view = frame.stack_view
    key = int.from_bytes(view[at : at + WORD_BYTES], "little")
    gas_meter = computation._gas_meter
    gas_meter.gas_remaining = ctx.gas
    code = computation.__dict__.get("code")  # none yet: nothing can read its counter here
    if code is not None:
        code.program_counter = ctx.exit_pc + 1
    keep = SLOAD in plan.keep
    journal = journal_of(computation.state) if keep else None
    try:
        value = sload.sload(computation, key, journal)
    finally:
        ctx.gas = gas_meter.gas_remaining
    if value is None:
        return False
    view[at : at + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")
    if journal is not None:  # remember_slot's steps, with the journal at hand
        original = 0
        if plan.needs_original:
            original = journal.jx_original(computation.msg.storage_address, key)
        frame.state.storage.remember(key, value, original)
    elif keep:
        remember_slot(computation, frame, plan, key, value)
    else:
        frame.state.clear_caches()  # as after any opcode outside the plan (a replaced SSTORE)
    return True


#: where a lean call leaves the program counter of a computation whose code stream is not made
#: yet (`evm.computation._Lazy`): a code stream made while the call runs (by a class's own
#: `apply_message` or `apply_computation` reading the parent's) starts at it, as py-evm's would
JIT_PC = "_jit_pc"


def run_lean_call(computation: Computation, frame: NativeFrame, reader: ParamsReader) -> bool:
    """A call opcode through `lean.calls.call`: py-evm's steps on the native frame's words (see
    lean/calls.py). False when the stack is short: py-evm's opcode raises the exact error."""
    ctx = frame.ctx
    opcode = ctx.exit_op
    depth = ctx.stack_len
    base = depth - HOST_ARITY[opcode][0]
    if base < 0:
        return False
    view = frame.stack_view
    from_bytes = int.from_bytes
    words = view[base * WORD_BYTES : depth * WORD_BYTES].tobytes()
    inputs = [
        from_bytes(words[offset : offset + WORD_BYTES], "little")
        for offset in range(0, len(words), WORD_BYTES)
    ]
    gas_meter = computation._gas_meter
    gas_meter.gas_remaining = ctx.gas
    state = computation.__dict__
    code = state.get("code")
    if code is not None:
        code.program_counter = ctx.exit_pc + 1
    else:  # not made yet: the code stream made while the call runs starts there (`JIT_PC`)
        state[JIT_PC] = ctx.exit_pc + 1
    # the storage cache stays valid when the native journal's log shows no write to this
    # account's storage since (docs/calls.md); it holds only what py-evm read or was handed
    # (the frame's writes were flushed before this host operation)
    journal = journal_of(computation.state) if frame.state.storage.used else None
    mark = journal.jx_mark() if journal is not None else None
    try:
        pushed = calls.call(computation, computation.opcodes[opcode], reader, inputs)
    finally:
        ctx.gas = gas_meter.gas_remaining
        if code is None:
            state.pop(JIT_PC, None)
    offset = base * WORD_BYTES
    view[offset : offset + WORD_BYTES] = pushed.to_bytes(WORD_BYTES, "little")
    ctx.stack_len = base + 1
    # (a COLD entry stays only while no slot of the account was marked warm since)
    address, cold = computation.msg.storage_address, bool(frame.state.storage.cold)
    if mark is not None and journal.jx_storage_kept(mark, address, cold):  # type: ignore[union-attr]
        frame.state.transient.clear()  # transient storage is py-evm's own, not journaled here
    else:
        frame.state.clear_caches()  # a child message may have written this account's storage
    sync_return_data(computation, frame)
    return True


def sync_return_data(computation: Computation, frame: NativeFrame) -> None:
    data = computation.return_data
    if data:
        data = bytes(data)
        frame.ctx.returndata = address_of(data, frame)
        frame.ctx.returndata_len = len(data)
    else:
        frame.ctx.returndata = 0
        frame.ctx.returndata_len = 0
