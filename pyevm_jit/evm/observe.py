"""Observers of a message: what native code must record so that nothing observing the message
can tell it did not run in py-evm's interpreter.

py-evm's interpreter exposes its execution through objects a framework can replace: the code
stream (a tracing one keeps every executed pc), the gas meter (a profiling one keeps gas per
pc) and the opcode table (hooks around SHA3, SSTORE, ...). Native code bypasses all of them, so
before a message runs natively its computation says what it needs (`jit_observe`):

- None: nothing beyond py-evm's own objects (`CodeStream`, `GasMeter`, py-evm's opcodes): the
  message runs natively as usual.
- an `Observation`: run natively and record what it asks for -- the executed pcs (appended to
  `trace` exactly as a tracing code stream appends them), gas per pc (added to `gas_used_of`
  exactly as a profiling gas meter adds it), the preimage of every 64-byte SHA3 (`on_sha3`).
- `interpret(reason)`: something observes the message in a way native code cannot honour; the
  interpreter runs it (counted Ineligible).

How it is recorded: observed messages run programs compiled for `<fork>.observed`
(`ForkSpec.observed`), which log the start pc of every block they enter, before the block's
head checks (see `compiler.codegen.observe`), every dynamic gas charge and every 64-byte SHA3;
other programs carry none of it. At each exit Python drains the logs, in order, before anything
else runs (a host operation, the interpreter, the end of the message): the blocks of
`analysis.build_blocks` turn block entries into pcs (a JUMPDEST-only block whose checks are
shared with the block after it runs on into that block: its entry stands for both); when the
program falls back or fails at pc X, the last block entered is cut before X (py-evm runs X
itself and appends it). A failing instruction is always run again by py-evm, so the trace, the
gas and the error at a failure are the interpreter's own.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from pyevm_jit.abi import Status
from pyevm_jit.evm.libc import free as _free
from pyevm_jit.evm.libc import realloc as _realloc
from pyevm_jit.lean.protocols import Computation
from pyevm_jit.opcodes import Kind, fork_spec

__all__ = ["Observation", "ObservedRun", "ProgramLayout", "interpret", "layout_for"]


_TRACE_ITEM, _GAS_ITEM, _SHA3_ITEM = 4, 16, 96
_INITIAL_ITEMS = 1024
_KEPT_LOG_BYTES = 1 << 20
_LOW64 = (1 << 64) - 1  # larger logs are freed when their message ends
# (field, bytes per item) of the three logs
_LOGS = (("trace", _TRACE_ITEM), ("gas_log", _GAS_ITEM), ("sha3_log", _SHA3_ITEM))
_CUT = (Status.FALLBACK, Status.FAIL)  # exits where py-evm runs exit_pc next


@dataclass(frozen=True)
class Observation:
    """What one message's observers need from native code (see the module docstring)."""

    #: executed pcs are appended here, in order, as a tracing code stream appends them
    trace: list[int] | None = None
    #: gas per pc is added here as a profiling gas meter adds it
    gas_used_of: dict[int, int] | None = None
    #: called with (hash, preimage) after every SHA3 of 64 bytes, in order
    on_sha3: Callable[[bytes, bytes], None] | None = None
    #: False: no state operation (SLOAD, SSTORE, TLOAD, TSTORE, LOG) is answered natively, so
    #: py-evm charges and refunds each one through the gas meter (a gas profile sees them)
    host_ops_native: bool = True
    #: non-empty: do not run native code for this message at all, for this reason
    interpret_reason: str = ""


_interpret_observations: dict[str, Observation] = {}


def interpret(reason: str) -> Observation:
    """The observation that makes a message run in the interpreter (counted Ineligible)."""
    observation = _interpret_observations.get(reason)
    if observation is None:
        observation = _interpret_observations.setdefault(
            reason, Observation(interpret_reason=reason or "observed")
        )
    return observation


class ProgramLayout:
    """What Python needs to turn a program's logs into pcs and gas: the pcs of each block by
    its start pc, and the static gas py-evm charges per pc for instructions run natively."""

    __slots__ = ("block_pcs", "static_gas", "code_len")

    def __init__(self, code: bytes, fork: str) -> None:
        from pyevm_jit.compiler.analysis import build_blocks
        from pyevm_jit.compiler.codegen.program import _is_stub

        spec = fork_spec(fork)
        blocks = build_blocks(code, spec)
        self.block_pcs: dict[int, tuple[int, ...]] = {}
        following: tuple[int, ...] = ()
        for index in range(len(blocks) - 1, -1, -1):
            block = blocks[index]
            pcs = tuple(instr.pc for instr in block.instructions)
            if index + 1 < len(blocks) and _is_stub(block):
                pcs += following  # runs on into the next block without logging it
            self.block_pcs[block.start_pc] = following = pcs
        # Host operations charge their own gas through the gas meter when py-evm runs them;
        # an invalid opcode charges nothing.
        self.static_gas: dict[int, int] = {}
        for block in blocks:
            for instr in block.instructions:
                kind = spec.kind(instr.opcode)
                if spec.is_valid(instr.opcode) and kind is not None and kind is not Kind.HOST:
                    self.static_gas[instr.pc] = spec.static_gas[instr.opcode]
        self.code_len = len(code)


_layouts: dict[tuple[bytes, str], ProgramLayout] = {}
_layouts_lock = threading.Lock()
_LAYOUTS_LIMIT = 1024


def layout_for(code: bytes, fork: str) -> ProgramLayout:
    key = (code, fork)
    layout = _layouts.get(key)
    if layout is None:
        layout = ProgramLayout(code, fork)
        with _layouts_lock:
            if len(_layouts) >= _LAYOUTS_LIMIT:
                _layouts.clear()
            _layouts[key] = layout
    return layout


class ObservedRun:
    """One message running natively under an `Observation`: attaches the logs to its frame,
    drains them at every exit, detaches them at the end (buffers stay with the frame)."""

    __slots__ = ("observation", "layout", "computation", "ctx", "_on")

    def __init__(self, observation: Observation, layout: ProgramLayout, computation: Computation):
        self.observation = observation
        self.layout = layout
        self.computation = computation
        self.ctx: Any = None
        self._on = (
            observation.trace is not None or observation.gas_used_of is not None,
            observation.gas_used_of is not None,
            observation.on_sha3 is not None,
        )

    def attach(self, frame: Any) -> None:
        ctx = self.ctx = frame.ctx
        if not self.observation.host_ops_native:
            ctx.state_flags = 0  # every state operation suspends to py-evm's opcode
        buffers = frame.log_buffers
        for (field, item), on, index in zip(_LOGS, self._on, range(3), strict=True):
            if not on:
                continue
            address, capacity = buffers[index]
            if not address:
                address = _realloc(None, _INITIAL_ITEMS * item)
                if not address:
                    raise MemoryError("pyevm-jit: cannot allocate an observation log")
                capacity = _INITIAL_ITEMS
            setattr(ctx, field, address)
            setattr(ctx, field + "_cap", capacity)
            setattr(ctx, field + "_len", 0)
            buffers[index] = (0, 0)  # owned by the context while attached

    def detach(self, frame: Any) -> None:
        ctx = frame.ctx
        buffers = frame.log_buffers
        for (field, item), on, index in zip(_LOGS, self._on, range(3), strict=True):
            if not on:
                continue
            address = getattr(ctx, field) or 0
            capacity = getattr(ctx, field + "_cap")
            if address and capacity * item > _KEPT_LOG_BYTES:
                _free(address)  # a long message's log: not kept for the next one
                address = 0
            buffers[index] = (address, capacity if address else 0)
            setattr(ctx, field, None)

    def exited(self, status: int) -> None:
        """Drain the logs after the program returned `status` (before anything else runs)."""
        ctx = self.ctx
        trace_on, gas_on, sha3_on = self._on
        if trace_on:
            new_pcs = self._drain_trace(ctx, status)
            if gas_on:
                self._drain_gas(ctx, new_pcs)
        if sha3_on:
            self._drain_sha3(ctx)
        if status == Status.INVALID_JUMP:
            # py-evm's JUMP/JUMPI leaves the code stream at the target (native code keeps its
            # low 64 bits and whether it is larger: 2^64 + the low bits stands for a target of
            # 2^64 or more, exact below 2^65)
            self.computation.code.program_counter = (ctx.exit_a & _LOW64) + (ctx.exit_b << 64)
        elif status != Status.SUSPEND and status not in _CUT:
            # where py-evm's code stream would stand after the last instruction
            exit_pc = ctx.exit_pc
            code = self.computation.code
            code.program_counter = exit_pc if exit_pc >= self.layout.code_len else exit_pc + 1

    def _drain_trace(self, ctx: Any, status: int) -> list[int]:
        if not ctx.trace:
            raise MemoryError("pyevm-jit: cannot grow the trace log")
        count = ctx.trace_len
        if not count:
            return []
        starts = memoryview(ctypes.string_at(ctx.trace, count * _TRACE_ITEM)).cast("I")
        ctx.trace_len = 0
        block_pcs = self.layout.block_pcs
        if status in _CUT:
            # py-evm continues at exit_pc: the last block entered ran up to before it
            last = block_pcs[starts[count - 1]]
            new_pcs = list(chain.from_iterable(map(block_pcs.__getitem__, starts[: count - 1])))
            new_pcs.extend(last[: last.index(ctx.exit_pc)])
        else:
            new_pcs = list(chain.from_iterable(map(block_pcs.__getitem__, starts)))
        trace = self.observation.trace
        if trace is not None:
            trace.extend(new_pcs)
        return new_pcs

    def _drain_gas(self, ctx: Any, new_pcs: list[int]) -> None:
        used = self.observation.gas_used_of
        assert used is not None
        if not ctx.gas_log:
            raise MemoryError("pyevm-jit: cannot grow the gas log")
        static = self.layout.static_gas
        for pc in new_pcs:
            gas = static.get(pc)
            if gas is not None:
                used[pc] = used.get(pc, 0) + gas
        count = ctx.gas_log_len
        if count:
            events = memoryview(ctypes.string_at(ctx.gas_log, count * _GAS_ITEM)).cast("q")
            ctx.gas_log_len = 0
            for index in range(0, 2 * count, 2):
                pc = events[index]
                used[pc] = used.get(pc, 0) + events[index + 1]

    def _drain_sha3(self, ctx: Any) -> None:
        if not ctx.sha3_log:
            raise MemoryError("pyevm-jit: cannot grow the SHA3 log")
        count = ctx.sha3_log_len
        if not count:
            return
        data = ctypes.string_at(ctx.sha3_log, count * _SHA3_ITEM)
        ctx.sha3_log_len = 0
        on_sha3 = self.observation.on_sha3
        assert on_sha3 is not None
        for offset in range(0, len(data), _SHA3_ITEM):
            on_sha3(data[offset : offset + 32], data[offset + 32 : offset + _SHA3_ITEM])


def free_log_buffers(buffers: list[tuple[int, int]]) -> None:
    for index, (address, _) in enumerate(buffers):
        if address:
            _free(address)
        buffers[index] = (0, 0)
