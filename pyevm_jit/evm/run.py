"""The run loop of a message: the native program, its suspensions and its exits (see
evm/computation.py for the boundary), and the stock interpreter loop it falls back to."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from eth.exceptions import (
    Halt,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    Revert,
)
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory

from pyevm_jit.abi import WORD_BYTES, StateFlag, Status
from pyevm_jit.evm.frame import (
    BYTES_BUFFER_OFFSET,
    ENTRY_FIELDS,
    ENTRY_OFFSET,
    HEAD_FIELDS,
    FramePool,
    NativeFrame,
    address_of,
)
from pyevm_jit.evm.hostops import (
    HOST_ARITY,
    SLOAD,
    run_host_op,
    run_lean_call,
    run_lean_sload,
    seed_storage,
)
from pyevm_jit.evm.observe import ObservedRun
from pyevm_jit.evm.plan import TablePlan
from pyevm_jit.evm.state_path import StatePlan, flush
from pyevm_jit.lean.env import EnvGetter
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.opcodes import ENV_SLOT, JUMP, JUMPDEST, JUMPI

if TYPE_CHECKING:
    from pyevm_jit.compiler.link import NativeProgram

# (opcode, slot) for every environment opcode, in slot order
_ENV_OPS = sorted(ENV_SLOT.items(), key=lambda item: item[1])
# plain ints: an enum member is a class attribute look-up, and `int & IntFlag` runs the
# enum's Python-level operator (about 0.7 us); these are compared on every message
_SLOAD_FLAG = int(StateFlag.SLOAD)
_STOP, _RETURN, _REVERT, _SUSPEND, _FALLBACK, _FAIL = (
    int(status)
    for status in (Status.STOP, Status.RETURN, Status.REVERT, Status.SUSPEND, Status.FALLBACK,
                   Status.FAIL)
)  # fmt: skip


# --- the stock loop, from a given program counter -----------------------------------------------
def run_interpreter(computation: Computation) -> None:
    _interpret(computation, computation.code)


def run_interpreter_learning(computation: Computation, pcs: set[int]) -> None:
    """The stock loop, recording the blocks it runs for region compilation (docs/regions.md):
    the pc it starts at and where every JUMP and JUMPI continued. A generator step and one
    comparison per opcode more than `run_interpreter`; run for one message of a key about to
    be compiled and after a region program's first side exit at a pc, not for every
    interpreted message."""
    _interpret(computation, _recording(computation.code, pcs))


def _interpret(computation: Computation, opcodes: Iterable[int]) -> None:
    """py-evm's loop over `opcodes` (the computation's code stream, or `_recording` of it)."""
    if computation.logger.show_debug2:
        _interpret_logged(computation, opcodes)
        return
    opcode_lookup = computation.opcodes
    for opcode in opcodes:
        try:
            opcode_fn = opcode_lookup[opcode]
        except KeyError:
            opcode_fn = InvalidOpcode(opcode)
        try:
            opcode_fn(computation=computation)
        except Halt:
            break


def _interpret_logged(computation: Any, opcodes: Iterable[int]) -> None:
    """py-evm's loop when its computation logger shows DEBUG2: the line py-evm logs before
    every opcode (mnemonic, pc, stack), in py-evm's words."""
    opcode_lookup = computation.opcodes
    logger = computation.logger
    for opcode in opcodes:
        try:
            opcode_fn = opcode_lookup[opcode]
        except KeyError:
            opcode_fn = InvalidOpcode(opcode)
        try:
            mnemonic = opcode_fn.mnemonic
        except AttributeError:
            mnemonic = opcode_fn.__wrapped__.mnemonic
        logger.debug2(
            f"OPCODE: 0x{opcode:x} ({mnemonic}) | "
            f"pc: {max(0, computation.code.program_counter - 1)} | "
            f"stack: {computation._stack}"
        )
        try:
            opcode_fn(computation=computation)
        except Halt:
            break


def _recording(code: Any, pcs: set[int]) -> Iterator[int]:
    """`code`'s opcodes; after each JUMP or JUMPI has run (the loop asks for the next opcode),
    the pc it continued at goes into `pcs`, as does the pc the loop starts at."""
    pcs.add(code.program_counter)
    for opcode in code:
        yield opcode
        if opcode == JUMP or opcode == JUMPI:
            pcs.add(code.program_counter)


# --- the native path ------------------------------------------------------------------------------
def run_native(
    computation: Computation,
    native: NativeProgram,
    pool: FramePool,
    table: TablePlan,
    plan: StatePlan,
    observed: ObservedRun | None = None,
) -> None:
    """Run `native` for the message (`plan`: the table's state plan, or a disabled one)."""
    frame = pool.acquire()
    ctx = frame.ctx
    # None: not made yet (`evm.computation._Lazy`): made only if the run leaves bytes in it
    initial_memory = computation.__dict__.get("_memory")
    computation._memory = frame.memory
    buffers = frame.state
    lean_calls = table.lean.calls
    lean_sload = table.lean.sload
    env_getters = table.lean.env
    env_mask = native.env_mask
    try:
        _enter(computation, native, frame, env_getters)
        ctx.state_flags = plan.static_flags if computation.msg.is_static else plan.flags
        if lean_sload and ctx.state_flags & _SLOAD_FLAG:
            seed_storage(computation, frame, plan)  # slots the transaction's view holds
        if observed is not None:
            observed.attach(frame)
        run = native.run
        ctx_ref = frame.ctx_ref
        status = run(ctx_ref)
        while status == _SUSPEND:
            if observed is not None:
                observed.exited(status)
            # native writes, refunds and logs reach py-evm before any Python code runs
            if ctx.pending:
                flush(computation, ctx, buffers)
            try:
                op = ctx.exit_op
                if op == SLOAD:
                    if not (lean_sload and run_lean_sload(computation, frame, plan)):
                        run_host_op(computation, frame, plan)
                else:
                    reader = lean_calls.get(op) if lean_calls else None
                    if reader is None or not run_lean_call(computation, frame, reader):
                        run_host_op(computation, frame, plan)
                    if env_mask and op not in plan.keep:
                        # code other than py-evm's own state-neutral opcodes ran (a child
                        # message, a replaced opcode: a cheat code may have moved the
                        # timestamp): environment words are read again, as py-evm reads them
                        _fill_environment(computation, frame, env_mask, env_getters)
            except Halt:
                return
            status = run(ctx_ref)
        if observed is not None:
            observed.exited(status)
        if ctx.pending:
            flush(computation, ctx, buffers)
        _finish(computation, frame, status, native)
    finally:
        if observed is not None:
            observed.detach(frame)
        # the contents go to the computation's own memory, as the interpreter leaves it, when
        # that is py-evm's Memory, untouched (anything else gets a new one)
        if initial_memory is None:
            # made when read, from these bytes, as py-evm's Memory would hold them
            # (`evm.computation._Lazy`): most messages' memory is never read afterwards
            del computation._memory
            length = ctx.memory_len
            if length:
                computation.__dict__["_jit_memory"] = frame.read_memory(0, length)
        elif type(initial_memory) is Memory and not initial_memory._bytes:
            length = ctx.memory_len
            if length:
                initial_memory._bytes = bytearray(frame.read_memory(0, length))
            computation._memory = initial_memory
        else:
            computation._memory = frame.memory.snapshot()
        pool.release(frame)


def _enter(
    computation: Computation,
    native: NativeProgram,
    frame: NativeFrame,
    env_getters: dict[int, EnvGetter],
) -> None:
    msg = computation.msg
    code = msg.code
    if code.__class__ is not bytes:
        code = bytes(code)
    data = msg.data
    if data.__class__ is not bytes:
        data = bytes(data)
    view = frame.ctx_view
    HEAD_FIELDS.pack_into(view, 0, computation._gas_meter.gas_remaining, 0)  # gas, stack_len
    if BYTES_BUFFER_OFFSET is None:
        data_at, code_at = address_of(data, frame), address_of(code, frame)
    else:  # `address_of` of two plain bytes objects, inline
        frame.keep += (data, code)
        data_at = id(data) + BYTES_BUFFER_OFFSET if data else 0
        code_at = id(code) + BYTES_BUFFER_OFFSET if code else 0
    ENTRY_FIELDS.pack_into(
        view,
        ENTRY_OFFSET,
        data_at,
        len(data),
        code_at,
        len(code),
        0,  # no return data
        0,
        frame.env_address,
        0,  # resume: the start
    )
    if native.env_mask:
        _fill_environment(computation, frame, native.env_mask, env_getters)


def _fill_environment(
    computation: Computation, frame: NativeFrame, mask: int, getters: dict[int, EnvGetter]
) -> None:
    """Environment words the program reads, computed by the fork's own opcode logic (or read
    directly from what py-evm's logic function pushes: `getters`, lean/env.py)."""
    env_view = frame.env_view
    for getter, opcode, offset in _env_words(mask, getters):
        if getter is not None:
            value = getter(computation)
        else:
            computation.opcodes[opcode].logic_fn(computation)
            value = computation._stack.values.pop()
            if isinstance(value, bytes):
                value = int.from_bytes(value, "big")
        env_view[offset : offset + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")


_EnvWords = tuple[tuple[EnvGetter | None, int, int], ...]
# (env_mask, id(getters)) -> (getters, (getter or None, opcode, byte offset) of each environment
# word the mask has, in slot order); the getters dict is held so its id is not reused
_env_words_of: dict[tuple[int, int], tuple[dict[int, EnvGetter], _EnvWords]] = {}


def _env_words(mask: int, getters: dict[int, EnvGetter]) -> _EnvWords:
    entry = _env_words_of.get((mask, id(getters)))
    if entry is not None and entry[0] is getters:
        return entry[1]
    words = tuple(
        (getters.get(op), op, slot * WORD_BYTES) for op, slot in _ENV_OPS if mask >> slot & 1
    )
    if len(_env_words_of) >= 4096:  # masks and tables are few; bounded anyway
        _env_words_of.clear()
    _env_words_of[(mask, id(getters))] = (getters, words)
    return words


def _output(frame: NativeFrame) -> bytes:
    size = frame.ctx.exit_b
    if not size:
        return b""
    return frame.read_memory(frame.ctx.exit_a, size)


def _finish(
    computation: Computation, frame: NativeFrame, status: int, native: NativeProgram
) -> None:
    ctx = frame.ctx
    computation._gas_meter.gas_remaining = max(ctx.gas, 0)
    if status == _STOP:
        return
    if status == _RETURN:
        computation.output = _output(frame)
        return
    if status == _REVERT:
        computation.output = _output(frame)
        raise Revert(computation.output)
    if status == _FALLBACK:
        side_exits = native.side_exit
        if side_exits is not None:  # a region program: count its side exits, learn from some
            learn = side_exits.exit(ctx.exit_pc)
            if learn is not None:
                try:
                    _fall_back(computation, frame, learn)
                finally:
                    side_exits.ran(learn)
                return
        _fall_back(computation, frame)
        return
    if status == _FAIL:
        _fail_in_py_evm(computation, frame)
    if status == Status.OUT_OF_GAS or status == Status.MEMORY_ALLOCATION_FAILED:
        raise OutOfGas("out of gas in native code")
    if status == Status.INVALID_JUMP:
        raise _invalid_jump(computation, ctx.exit_a, ctx.exit_b)
    if status == Status.INVALID_INSTRUCTION:
        opcode = computation.code[ctx.exit_pc] if ctx.exit_pc < len(computation.code) else 0
        raise InvalidInstruction(f"Invalid opcode 0x{opcode:x} @ {ctx.exit_pc}")
    if status == Status.RETURNDATA_OUT_OF_BOUNDS:
        raise OutOfBoundsRead("Return data out of bounds")
    raise RuntimeError(f"native program returned unknown status {status}")


def _invalid_jump(computation: Computation, low: int, high: int) -> Exception:
    code = computation.code
    target = low & (2**64 - 1)
    if not high and target < len(code) and code[target] == JUMPDEST:
        return InvalidInstruction("Jump resulted in invalid instruction")
    return InvalidJumpDestination("Invalid Jump Destination")


def _fall_back(computation: Computation, frame: NativeFrame, learn: set[int] | None = None) -> None:
    """Hand the rest of the message to the interpreter from the failed block's start (recording
    what it runs into `learn`, when given)."""
    ctx = frame.ctx
    values = computation._stack.values
    values.clear()
    values.extend([frame.read_word(i) for i in range(ctx.stack_len)])
    computation.code.program_counter = ctx.exit_pc
    if learn is None:
        run_interpreter(computation)
    else:
        run_interpreter_learning(computation, learn)


def _fail_in_py_evm(computation: Computation, frame: NativeFrame) -> None:
    """The instruction at exit_pc failed natively: py-evm runs it on its inputs (the top of the
    native stack; the items below are placeholders, never read before it raises) and raises its
    own error. Should it not fail, native code and py-evm disagree: an internal error."""
    ctx = frame.ctx
    depth = ctx.stack_len
    count = min(HOST_ARITY[computation.msg.code[ctx.exit_pc]][0], depth)
    values = computation._stack.values
    values.clear()
    values.extend([0] * (depth - count))
    values.extend([frame.read_word(i) for i in range(depth - count, depth)])
    code = computation.code
    code.program_counter = ctx.exit_pc
    opcode = next(iter(code))  # a tracing code stream records the pc
    try:
        opcode_fn = computation.opcodes[opcode]
    except KeyError:
        opcode_fn = InvalidOpcode(opcode)
    try:
        opcode_fn(computation=computation)
    except Halt:
        pass
    raise RuntimeError(
        f"pyevm-jit: the instruction at pc {ctx.exit_pc} (0x{opcode:02x}) failed in native code "
        "but not in py-evm"
    )
