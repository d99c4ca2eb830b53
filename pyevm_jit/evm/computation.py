"""The JIT computation: py-evm's message loop with a native fast path.

`JitComputationMixin.apply_computation` keeps py-evm's prologue (contracts created, initcode
gas, precompiles) and then asks the backend for a program compiled for (code hash, fork). On a
hit the native program runs; on a miss the stock interpreter loop runs.

The boundary between native code and py-evm (see `abi.py`):
- SUSPEND: a host operation (storage, calls, logs, ...). Its stack inputs move into the
  computation's own py-evm stack, py-evm's opcode for this fork runs against the computation,
  its outputs move back, and the program is called again at its resume point. Native frames
  never stay on the C stack while a child message runs.
- FALLBACK: a prepaid block check failed (or an invalid or unknown opcode was reached). The
  whole stack moves to py-evm and the interpreter finishes the message from that block's start
  (or that opcode), so errors and their classes are exactly the interpreter's.
- FAIL: an instruction failed (out of gas, memory, return data bounds). py-evm runs that one
  instruction on its inputs and raises its own error, with its own message.
- Observers (a tracing code stream, a profiling gas meter, opcode hooks): the computation's
  `jit_observe` says what native code must record for them, or that it must not run
  (`pyevm_jit.evm.observe`).
- Memory is one malloc'd buffer owned by the frame and shared through `NativeMemory`, the
  computation's `MemoryAPI`, so both sides see the same bytes without copying.
- The native state path (`evm.state_path`): SLOAD, SSTORE, TLOAD, TSTORE and LOG run natively
  against the frame's caches where they can; what they changed is handed to py-evm before every
  host operation, fallback and exit.

The opcode table is checked where it is used: every message looks at the table of the
computation actually running it (`computation.opcodes`: a class patched after `jit_vm`, a
subclass, a table set per instance) and derives from it, cached per table and contents, whether
compiled code may run and which state operations it may run natively (`TablePlan`).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from eth.abc import (
    ComputationAPI,
    MemoryAPI,
    MessageAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth.exceptions import (
    Halt,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfBoundsRead,
    OutOfGas,
    Revert,
)
from eth.vm.code_stream import CodeStream
from eth.vm.gas_meter import GasMeter
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth_utils import ValidationError

from pyevm_jit.abi import (
    STACK_LIMIT,
    WORD_BYTES,
    ExecutionContext,
    Status,
)
from pyevm_jit.evm import messages
from pyevm_jit.evm.codehash import code_hash
from pyevm_jit.evm.libc import free as _free
from pyevm_jit.evm.libc import realloc as _realloc
from pyevm_jit.evm.observe import (
    Observation,
    ObservedRun,
    free_log_buffers,
    interpret,
    layout_for,
)
from pyevm_jit.evm.state_path import StateBuffers, StatePlan, flush, state_plan
from pyevm_jit.opcodes import (
    ENV_SLOT,
    JUMPDEST,
    OBSERVED,
    OPCODES,
    SLOAD,
    SSTORE,
    TLOAD,
    TSTORE,
    fork_opcodes,
    opcode_table_differences,
    opcodes_where,
)
from pyevm_jit.runtime.types import InterpretReason, LookupRequest, RuntimeCacheKey

if TYPE_CHECKING:
    from pyevm_jit.compiler.link import NativeProgram

# Messages with more gas than the native signed 64-bit counter holds are interpreted.
MAX_NATIVE_GAS = 2**63 - 1


_ENV_BYTES = WORD_BYTES * (max(ENV_SLOT.values()) + 1)
# (opcode, slot) for every environment opcode, in slot order
_ENV_OPS = sorted(ENV_SLOT.items(), key=lambda item: item[1])
_HOST_ARITY = {op: (info.inputs, info.outputs) for op, info in OPCODES.items()}
# Host operations that run a child message: the return data buffer is new afterwards.
_CALLS_AND_CREATES = opcodes_where(child=True)
log = logging.getLogger("pyevm_jit.evm.vm")


# Memory kept by a pooled frame between messages; larger buffers are freed after use.
_POOLED_MEMORY_LIMIT = 1 << 20
_PooledMemory = ctypes.c_char * _POOLED_MEMORY_LIMIT
# zeros to clear used memory with (calloc'd by CPython: pages are mapped only when read)
_ZERO_MEMORY = memoryview(bytes(_POOLED_MEMORY_LIMIT))


class NativeFrame:
    """The native state of one running message: context, stack and memory buffers.

    Frames are pooled per thread of use; the stack buffer and memory capacity are reused.
    Invariant: bytes of memory past `memory_len` up to `memory_cap` are zero.
    """

    __slots__ = (
        "ctx", "ctx_ref", "stack_buf", "stack_view", "env_buf", "env_view", "state", "keep",
        "log_buffers", "memory", "memory_view", "memory_view_address",
    )  # fmt: skip

    def __init__(self) -> None:
        self.ctx = ExecutionContext()
        self.ctx_ref = ctypes.byref(self.ctx)
        self.stack_buf = (ctypes.c_char * (STACK_LIMIT * WORD_BYTES))()
        self.stack_view = memoryview(self.stack_buf).cast("B")
        self.env_buf = (ctypes.c_char * _ENV_BYTES)()
        self.env_view = memoryview(self.env_buf).cast("B")
        self.ctx.stack = ctypes.addressof(self.stack_buf)
        self.ctx.env = ctypes.addressof(self.env_buf)
        self.state = StateBuffers(self.ctx)  # storage and transient caches, log buffer
        self.keep: list[Any] = []  # Python objects whose buffers the context points into
        #: (address, capacity) of the observation logs while detached (evm/observe.py)
        self.log_buffers: list[tuple[int, int]] = [(0, 0), (0, 0), (0, 0)]
        #: py-evm's view of the memory buffer (it holds only the context)
        self.memory = NativeMemory(self.ctx)
        #: a writable view of _POOLED_MEMORY_LIMIT bytes at memory_view_address (0: none)
        self.memory_view: memoryview | None = None
        self.memory_view_address = 0

    def reset_memory(self) -> None:
        """Zero the used part of memory so the buffer can serve the next message.

        The buffer's capacity is at most _POOLED_MEMORY_LIMIT here (larger ones are freed), so
        a view of that many bytes at its address covers every used byte; only the used bytes
        are written, from a shared zero buffer, by a slice assignment (no foreign call). The
        view is made again when native code or `NativeMemory.extend` moved the buffer."""
        ctx = self.ctx
        used = ctx.memory_len
        if used:
            self.memory_bytes()[:used] = _ZERO_MEMORY[:used]
            ctx.memory_len = 0

    def memory_bytes(self) -> memoryview:
        """A writable view of _POOLED_MEMORY_LIMIT bytes at the memory buffer's address: its
        first `memory_cap` bytes are the buffer (only those may be touched; call only while
        the capacity is at most _POOLED_MEMORY_LIMIT). Made again when the buffer moved."""
        address = self.ctx.memory
        view = self.memory_view
        if view is None or address != self.memory_view_address:
            view = self.memory_view = memoryview(_PooledMemory.from_address(address)).cast("B")
            self.memory_view_address = address
        return view

    def read_memory(self, start: int, size: int) -> bytes:
        """memory[start : start + size] (within memory_len) as bytes."""
        ctx = self.ctx
        if start + size <= ctx.memory_cap <= _POOLED_MEMORY_LIMIT:
            return self.memory_bytes()[start : start + size].tobytes()
        return ctypes.string_at(ctx.memory + start, size)

    def release_buffers(self) -> None:
        self.memory_view = None
        self.memory_view_address = 0
        if self.ctx.memory:
            _free(self.ctx.memory)
        self.ctx.memory = None
        self.ctx.memory_len = 0
        self.ctx.memory_cap = 0
        free_log_buffers(self.log_buffers)

    def __del__(self) -> None:
        # a frame dropped with its pool (a garbage-collected jit_vm class) frees its memory
        try:
            self.release_buffers()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free with
            pass

    # --- stack words (little-endian 256-bit) ------------------------------------------------
    def read_word(self, index: int) -> int:
        offset = index * WORD_BYTES
        return int.from_bytes(self.stack_view[offset : offset + WORD_BYTES], "little")

    def write_word(self, index: int, value: int) -> None:
        offset = index * WORD_BYTES
        self.stack_view[offset : offset + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")


class FramePool:
    """Frames for nested messages: one per active depth, reused across messages."""

    def __init__(self) -> None:
        self._free: list[NativeFrame] = []

    def acquire(self) -> NativeFrame:
        frame = self._free.pop() if self._free else NativeFrame()
        frame.state.reset(frame.ctx)
        return frame

    def release(self, frame: NativeFrame) -> None:
        frame.keep.clear()
        if frame.ctx.memory_cap > _POOLED_MEMORY_LIMIT:
            frame.release_buffers()
        else:
            frame.reset_memory()
        self._free.append(frame)


class NativeMemory(MemoryAPI):
    """py-evm's view of a native frame's memory (the same bytes, no copies)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: ExecutionContext) -> None:
        self._ctx = ctx

    def __len__(self) -> int:
        return int(self._ctx.memory_len)

    def extend(self, start_position: int, size: int) -> None:
        if size == 0:
            return
        new_size = (start_position + size + 31) // 32 * 32
        ctx = self._ctx
        if new_size <= ctx.memory_len:
            return
        if new_size > ctx.memory_cap:
            capacity = max(new_size, 2 * ctx.memory_cap, 1024)
            address = _realloc(ctx.memory, capacity)
            if not address:
                raise MemoryError("cannot grow EVM memory")
            ctypes.memset(address + ctx.memory_cap, 0, capacity - ctx.memory_cap)
            ctx.memory = address
            ctx.memory_cap = capacity
        ctx.memory_len = new_size

    def _check(self, start_position: int, size: int) -> None:
        if start_position < 0 or size < 0 or start_position + size > self._ctx.memory_len:
            raise ValidationError(
                f"memory access [{start_position}, +{size}) beyond {self._ctx.memory_len}"
            )

    def write(self, start_position: int, size: int, value: bytes) -> None:
        if size:
            if len(value) != size:
                raise ValidationError(f"memory write of {len(value)} bytes, expected {size}")
            self._check(start_position, size)
            ctypes.memmove(self._ctx.memory + start_position, bytes(value), size)

    def read(self, start_position: int, size: int) -> memoryview:
        return memoryview(self.read_bytes(start_position, size))

    def read_bytes(self, start_position: int, size: int) -> bytes:
        if not size:
            return b""
        self._check(start_position, size)
        return ctypes.string_at(self._ctx.memory + start_position, size)

    def copy(self, destination: int, source: int, length: int) -> None:  # type: ignore[override]
        if length:
            self._check(max(destination, source), length)
            base = self._ctx.memory
            ctypes.memmove(base + destination, base + source, length)

    def snapshot(self) -> Memory:
        """A stock py-evm Memory with the same contents, for after the frame is gone."""
        memory = Memory()
        length = self._ctx.memory_len
        if length:
            memory._bytes = bytearray(ctypes.string_at(self._ctx.memory, length))
        return memory


def _buffer_offset() -> int | None:
    """Offset of a bytes object's buffer from its address (CPython's PyBytesObject layout), or
    None when this interpreter's objects are laid out otherwise (then ctypes is asked)."""
    offset = sys.getsizeof(b"") - 1
    for sample in (b"\x01", b"pyevm-jit" * 9):
        if ctypes.cast(ctypes.c_char_p(sample), ctypes.c_void_p).value != id(sample) + offset:
            return None
    return offset


_BYTES_BUFFER_OFFSET = _buffer_offset() if sys.implementation.name == "cpython" else None


def _address_of(data: bytes, frame: NativeFrame) -> int:
    """Address of an immutable bytes object's buffer, kept alive by the frame."""
    if not data:
        return 0
    frame.keep.append(data)
    if _BYTES_BUFFER_OFFSET is not None and data.__class__ is bytes:
        return id(data) + _BYTES_BUFFER_OFFSET
    return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0


@dataclass(frozen=True)
class TablePlan:
    """What messages of one opcode table may do natively."""

    unsupported: str  # why compiled code cannot run them (empty: it can)
    state: StatePlan
    lean: messages.LeanPlan = messages.NO_LEAN_PLAN  # lean calls and environment words


# (computation class, reason) already warned about
_warned: set[tuple[str, str]] = set()


def _native_state_enabled(backend: Any) -> bool:
    tuning = getattr(getattr(backend, "config", None), "tuning", None)
    return bool(getattr(tuning, "native_state", True))


def table_plan(computation_class: Any, opcodes: dict[int, Any]) -> TablePlan:
    """Check `opcodes` (the table a message runs with) against the fork's py-evm table."""
    fork = computation_class.jit_fork
    differences = computation_class.jit_table_differences(opcodes)
    unsupported = "; ".join(differences[:4]) + (" ..." if len(differences) > 4 else "")
    if unsupported:
        warn_unsupported(computation_class.__name__, fork, unsupported)
        return TablePlan(unsupported, StatePlan.disabled())
    enabled = _native_state_enabled(computation_class.jit_backend)
    lean = messages.lean_plan(computation_class, opcodes, computation_class.jit_lean)
    return TablePlan("", state_plan(opcodes, fork_opcodes(fork), enabled), lean)


def warn_unsupported(name: str, fork: str, unsupported: str) -> None:
    if (name, unsupported) in _warned:
        return
    _warned.add((name, unsupported))
    log.warning(
        "pyevm-jit: %s differs from py-evm's %s opcode table (%s): its messages are interpreted",
        name,
        fork,
        unsupported,
    )


class JitComputationMixin:
    """Mixed in front of a fork's Computation class by `pyevm_jit.evm.vm.jit_vm`."""

    jit_backend: ClassVar[Any] = None
    jit_fork: ClassVar[str] = ""
    #: why compiled code cannot run the class's own table as `jit_vm` found it (empty: it can);
    #: messages check the table they actually run with (`_jit_plan`)
    jit_unsupported: ClassVar[str] = ""
    #: whether messages use the lean paths of evm/messages.py where their table allows
    jit_lean: ClassVar[bool] = False
    _jit_pool: ClassVar[FramePool]
    #: (table, a copy of its contents, plan) of the table last checked for this class
    _jit_table_entry: ClassVar[tuple[Any, dict[int, Any], TablePlan] | None] = None

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        with cls(state, message, transaction_context) as computation:  # type: ignore[call-arg,attr-defined]
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)  # type: ignore[attr-defined]
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)

            precompile = computation.precompiles.get(message.code_address, None)
            if precompile is not None:
                if not message.is_delegation:
                    precompile(computation)
                return computation

            code = message.code
            if not code or message.gas > MAX_NATIVE_GAS:
                if not code and cls.jit_lean and messages.runs_nothing(computation.opcodes):
                    return computation  # py-evm's loop would run its STOP
                _interpret(computation)
                return computation
            # the table this message runs with, checked where it is used: the same object with
            # the same contents as last time (one C-level dict comparison, about 2 us for a
            # fork's table) reuses the plan; tables are never copied or wrapped, so a patch
            # to any of them (py-evm's own fork table included) is seen by the next message
            opcodes = computation.opcodes
            entry = cls._jit_table_entry
            if entry is not None and entry[0] is opcodes and opcodes == entry[1]:
                plan = entry[2]
            else:
                plan = cls._jit_plan(opcodes)
            observation = computation.jit_observe()
            if observation is not None and observation.interpret_reason:
                cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE)
                _interpret(computation)
                return computation
            program = cls._jit_program(message, plan, observation is not None)
            if program is None:
                _interpret(computation)
            elif observation is None:
                _run_native(computation, program.native, cls._jit_pool, plan)
            else:
                layout = layout_for(bytes(code), cls.jit_fork)
                observed = ObservedRun(observation, layout, computation)
                _run_native(computation, program.native, cls._jit_pool, plan, observed)
        return computation

    def jit_observe(self) -> Observation | None:
        """What native code must record for whatever observes this message (see
        `pyevm_jit.evm.observe`). py-evm's own code stream and gas meter need nothing; any
        other one might observe execution in ways native code would bypass, so such messages
        are interpreted unless a subclass (an integration that knows them) says otherwise."""
        if type(self.code) is CodeStream and type(self._gas_meter) is GasMeter:  # type: ignore[attr-defined]
            return None
        return interpret("a code stream or gas meter other than py-evm's")

    @classmethod
    def jit_table_differences(cls, opcodes: dict[int, Any]) -> list[str]:
        """How a table departs from py-evm's for the fork in ways compiled code would not
        honour (`opcodes.opcode_table_differences`). A subclass whose `jit_observe` records
        what some hooks would have seen leaves those out."""
        return opcode_table_differences(cls.jit_fork, opcodes)

    @classmethod
    def _jit_plan(cls, opcodes: Any) -> TablePlan:
        """The plan of the table a message runs with, cached while a table with the same
        contents comes back (the class's own, or one set per instance with equal entries)."""
        entry = cls._jit_table_entry
        if entry is not None and opcodes == entry[1]:
            plan = entry[2]
        else:
            plan = table_plan(cls, opcodes)
        cls._jit_table_entry = (opcodes, dict(opcodes), plan)
        return plan

    @classmethod
    def _jit_program(cls, message: MessageAPI, plan: TablePlan, observed: bool = False) -> Any:
        """The program for the message's code, compiled for the fork, or for
        `<fork>.observed` (with the logs observers need, `ForkSpec.observed`)."""
        if plan.unsupported:
            cls.jit_backend.count_interpreted(InterpretReason.INELIGIBLE)
            return None
        fork = cls.jit_fork + OBSERVED if observed else cls.jit_fork
        decision = cls.jit_backend.lookup(_lookup_request(message.code, fork))
        return decision.program if decision.is_compiled else None


# id(code) -> (code, fork, request): the same code object asks with the same request (its
# hash, key and request objects built once); the code is held so its id is not reused.
_requests: dict[int, tuple[bytes, str, LookupRequest]] = {}
_REQUESTS_LIMIT = 4096


def _lookup_request(code: bytes, fork: str) -> LookupRequest:
    entry = _requests.get(id(code))
    if entry is not None and entry[0] is code and entry[1] == fork:
        return entry[2]
    request = LookupRequest(RuntimeCacheKey(code_hash(code), fork), code)
    if len(_requests) >= _REQUESTS_LIMIT:
        _requests.clear()
    _requests[id(code)] = (code, fork, request)
    return request


# --- the stock loop, from a given program counter -----------------------------------------------
def _interpret(computation: Any) -> None:
    opcode_lookup = computation.opcodes
    for opcode in computation.code:
        try:
            opcode_fn = opcode_lookup[opcode]
        except KeyError:
            opcode_fn = InvalidOpcode(opcode)
        try:
            opcode_fn(computation=computation)
        except Halt:
            break


# --- the native path ------------------------------------------------------------------------------
def _run_native(
    computation: Any,
    native: NativeProgram,
    pool: FramePool,
    table: TablePlan,
    observed: ObservedRun | None = None,
) -> None:
    frame = pool.acquire()
    ctx = frame.ctx
    initial_memory = computation._memory
    computation._memory = frame.memory
    buffers = frame.state
    plan = table.state
    lean_calls = table.lean.calls
    lean_sload = table.lean.sload
    try:
        _enter(computation, native, frame, table.lean.env)
        ctx.state_flags = plan.static_flags if computation.msg.is_static else plan.flags
        if observed is not None:
            observed.attach(frame)
        run = native.run
        ctx_ref = frame.ctx_ref
        status = run(ctx_ref)
        while status == Status.SUSPEND:
            if observed is not None:
                observed.exited(status)
            # native writes, refunds and logs reach py-evm before any Python code runs
            if ctx.pending:
                flush(computation, ctx, buffers)
            try:
                op = ctx.exit_op
                if op == SLOAD:
                    if not (lean_sload and _run_lean_sload(computation, frame, plan)):
                        _run_host_op(computation, frame, plan)
                else:
                    reader = lean_calls.get(op) if lean_calls else None
                    if reader is None or not _run_lean_call(computation, frame, reader):
                        _run_host_op(computation, frame, plan)
            except Halt:
                return
            status = run(ctx_ref)
        if observed is not None:
            observed.exited(status)
        if ctx.pending:
            flush(computation, ctx, buffers)
        _finish(computation, frame, status)
    finally:
        if observed is not None:
            observed.detach(frame)
        # the contents go to the computation's own memory, as the interpreter leaves it, when
        # that is py-evm's Memory, untouched (anything else gets a new one)
        if type(initial_memory) is Memory and not initial_memory._bytes:
            length = ctx.memory_len
            if length:
                initial_memory._bytes = bytearray(frame.read_memory(0, length))
            computation._memory = initial_memory
        else:
            computation._memory = frame.memory.snapshot()
        pool.release(frame)


def _enter(
    computation: Any, native: NativeProgram, frame: NativeFrame, env_getters: dict[int, Any]
) -> None:
    ctx = frame.ctx
    msg = computation.msg
    code = bytes(msg.code)
    data = bytes(msg.data)
    ctx.gas = computation._gas_meter.gas_remaining
    ctx.stack_len = 0
    ctx.code = _address_of(code, frame)
    ctx.code_len = len(code)
    ctx.calldata = _address_of(data, frame)
    ctx.calldata_len = len(data)
    ctx.returndata = 0
    ctx.returndata_len = 0
    ctx.resume = 0
    if native.env_mask:
        _fill_environment(computation, frame, native.env_mask, env_getters)


def _fill_environment(
    computation: Any, frame: NativeFrame, mask: int, getters: dict[int, Any]
) -> None:
    """Environment words the program reads, computed by the fork's own opcode logic (or read
    directly from what py-evm's logic function pushes: `getters`, evm/messages.py)."""
    values = computation._stack.values
    opcodes = computation.opcodes
    env_view = frame.env_view
    for opcode, offset in _env_words(mask):
        getter = getters.get(opcode)
        if getter is not None:
            value = getter(computation)
        else:
            opcodes[opcode].logic_fn(computation)
            value = values.pop()
            if isinstance(value, bytes):
                value = int.from_bytes(value, "big")
        env_view[offset : offset + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")


# env_mask -> (opcode, byte offset) of each environment word it has, in slot order
_env_words_of: dict[int, tuple[tuple[int, int], ...]] = {}


def _env_words(mask: int) -> tuple[tuple[int, int], ...]:
    words = _env_words_of.get(mask)
    if words is None:
        words = tuple((op, slot * WORD_BYTES) for op, slot in _ENV_OPS if mask >> slot & 1)
        if len(_env_words_of) < 4096:  # masks are few (one per program); bounded anyway
            _env_words_of[mask] = words
    return words


def _run_host_op(computation: Any, frame: NativeFrame, plan: StatePlan) -> None:
    """Run py-evm's own opcode for the suspended host operation, syncing gas and stack."""
    ctx = frame.ctx
    opcode = ctx.exit_op
    arity, _ = _HOST_ARITY[opcode]
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
            _sync_return_data(computation, frame)
    elif opcode == SLOAD or opcode == SSTORE:
        # py-evm's own opcode ran: the slot's value is known and (from Berlin on) it is warm
        _remember_slot(computation, frame, plan, inputs[-1],
                       output if opcode == SLOAD else inputs[-2])  # fmt: skip
    elif opcode == TLOAD:
        frame.state.transient.remember(inputs[-1], output)
    elif opcode == TSTORE:
        frame.state.transient.remember(inputs[-1], inputs[-2])


def _remember_slot(
    computation: Any, frame: NativeFrame, plan: StatePlan, key: int, value: int
) -> None:
    """Fill the storage cache after py-evm's own SLOAD or SSTORE of `key` (with, for net
    metering, the original value read as py-evm's `net_sstore` reads it)."""
    original = 0
    if plan.needs_original:
        original = computation.state.get_storage(
            computation.msg.storage_address, key, from_journal=False
        )
    frame.state.storage.remember(key, value, original)


def _run_lean_sload(computation: Any, frame: NativeFrame, plan: StatePlan) -> bool:
    """A SLOAD miss through `messages.sload`: py-evm's steps on the slot word of the native
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
    computation.code.program_counter = ctx.exit_pc + 1
    try:
        value = messages.sload(computation, key)
    finally:
        ctx.gas = gas_meter.gas_remaining
    if value is None:
        return False
    view[at : at + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")
    if SLOAD in plan.keep:
        _remember_slot(computation, frame, plan, key, value)
    else:
        frame.state.clear_caches()  # as after any opcode outside the plan (a replaced SSTORE)
    return True


def _run_lean_call(computation: Any, frame: NativeFrame, reader: Any) -> bool:
    """A call opcode through `messages.call`: py-evm's steps on the native frame's words (see
    evm/messages.py). False when the stack is short: py-evm's opcode raises the exact error."""
    ctx = frame.ctx
    opcode = ctx.exit_op
    depth = ctx.stack_len
    base = depth - _HOST_ARITY[opcode][0]
    if base < 0:
        return False
    view = frame.stack_view
    from_bytes = int.from_bytes
    inputs = [
        from_bytes(view[offset : offset + WORD_BYTES], "little")
        for offset in range(base * WORD_BYTES, depth * WORD_BYTES, WORD_BYTES)
    ]
    gas_meter = computation._gas_meter
    gas_meter.gas_remaining = ctx.gas
    computation.code.program_counter = ctx.exit_pc + 1
    try:
        pushed = messages.call(computation, computation.opcodes[opcode], reader, inputs)
    finally:
        ctx.gas = gas_meter.gas_remaining
    offset = base * WORD_BYTES
    view[offset : offset + WORD_BYTES] = pushed.to_bytes(WORD_BYTES, "little")
    ctx.stack_len = base + 1
    frame.state.clear_caches()  # a child message may have written this account's storage
    _sync_return_data(computation, frame)
    return True


def _sync_return_data(computation: Any, frame: NativeFrame) -> None:
    data = computation.return_data
    if data:
        data = bytes(data)
        frame.ctx.returndata = _address_of(data, frame)
        frame.ctx.returndata_len = len(data)
    else:
        frame.ctx.returndata = 0
        frame.ctx.returndata_len = 0


def _output(frame: NativeFrame) -> bytes:
    size = frame.ctx.exit_b
    if not size:
        return b""
    return frame.read_memory(frame.ctx.exit_a, size)


def _finish(computation: Any, frame: NativeFrame, status: int) -> None:
    ctx = frame.ctx
    computation._gas_meter.gas_remaining = max(ctx.gas, 0)
    if status == Status.STOP:
        return
    if status == Status.RETURN:
        computation.output = _output(frame)
        return
    if status == Status.REVERT:
        computation.output = _output(frame)
        raise Revert(computation.output)
    if status == Status.FALLBACK:
        _fall_back(computation, frame)
        return
    if status == Status.FAIL:
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


def _invalid_jump(computation: Any, low: int, high: int) -> Exception:
    code = computation.code
    target = low & (2**64 - 1)
    if not high and target < len(code) and code[target] == JUMPDEST:
        return InvalidInstruction("Jump resulted in invalid instruction")
    return InvalidJumpDestination("Invalid Jump Destination")


def _fall_back(computation: Any, frame: NativeFrame) -> None:
    """Hand the rest of the message to the interpreter from the failed block's start."""
    ctx = frame.ctx
    values = computation._stack.values
    values.clear()
    values.extend([frame.read_word(i) for i in range(ctx.stack_len)])
    computation.code.program_counter = ctx.exit_pc
    _interpret(computation)


def _fail_in_py_evm(computation: Any, frame: NativeFrame) -> None:
    """The instruction at exit_pc failed natively: py-evm runs it on its inputs (the top of the
    native stack; the items below are placeholders, never read before it raises) and raises its
    own error. Should it not fail, native code and py-evm disagree: an internal error."""
    ctx = frame.ctx
    depth = ctx.stack_len
    count = min(_HOST_ARITY[computation.msg.code[ctx.exit_pc]][0], depth)
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
