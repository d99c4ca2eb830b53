"""`RuntimeConfig.debug_assertions`: the context contract checked at every return from native
code.

With the setting on, every linked program is wrapped in a `CheckedProgram`: each call of
`run(ctx)` (the first entry and every resume after a host operation) compares the context the
program hands back with what `abi.py` promises -- a known status, a stack depth within the
limit, gas that only went down, memory and the log buffer within their allocations, code and
calldata untouched, an output range inside memory, a suspension at a host opcode of the code
-- and raises
`ContextAssertionError` on the first breach, naming the program, the field and the values. A
breach means a code generator or runtime-library bug; without the checks it would show up
later, if at all, as a wrong result. The checks cost a few microseconds per call, so they are
for tests, fuzzing and debugging.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from pyevm_jit.abi import STACK_LIMIT, WORD_BYTES, ExecutionContext, Status
from pyevm_jit.opcodes import OPCODES, Kind

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.link import NativeProgram

_STATUSES = frozenset(int(status) for status in Status)
# (environment opcodes suspend in programs for `<fork>.hostenv`: `ForkSpec.host_env`)
_HOST_OPCODES = frozenset(op for op, i in OPCODES.items() if i.kind in (Kind.HOST, Kind.ENV))
#: statuses whose exit_pc names an instruction of the code
_AT_INSTRUCTION = frozenset({int(Status.SUSPEND), int(Status.INVALID_INSTRUCTION)})


class ContextAssertionError(AssertionError):
    """Native code handed back a context that breaks the contract of `abi.py`."""


class CheckedProgram:
    """A linked program whose every return is checked (see the module docstring). Looks like
    the `NativeProgram` it wraps, and keeps it (and so its machine code) alive."""

    __slots__ = ("program", "entry_symbol", "address", "env_mask", "code_size")

    def __init__(self, program: NativeProgram) -> None:
        self.program = program
        self.entry_symbol = program.entry_symbol
        self.address = program.address
        self.env_mask = program.env_mask
        self.code_size = program.code_size

    def run(self, ctx_ref: Any) -> int:
        """Call the program with `ctypes.byref(context)`, as `NativeProgram.run` is called."""
        ctx: ExecutionContext = ctx_ref._obj
        before = (ctx.gas, ctx.code, ctx.code_len, ctx.calldata, ctx.calldata_len)
        status = int(self.program.run(ctx_ref))
        problem = context_problem(ctx, status, before)
        if problem is not None:
            raise ContextAssertionError(f"{self.entry_symbol}: {problem}")
        return status


def context_problem(
    ctx: ExecutionContext, status: int, before: tuple[int, int, int, int, int]
) -> str | None:
    """What is wrong with `ctx` after a call that returned `status` (None when nothing is).
    `before` is (gas, code, code_len, calldata, calldata_len) at the call."""
    gas, code, code_len, calldata, calldata_len = before
    if status not in _STATUSES:
        return f"unknown status {status}"
    if not 0 <= ctx.stack_len <= STACK_LIMIT:
        return f"stack_len {ctx.stack_len} outside 0..{STACK_LIMIT}"
    if ctx.gas > gas:
        return f"gas went up from {gas} to {ctx.gas}"
    if ctx.gas < 0 and status != Status.OUT_OF_GAS:
        return f"gas {ctx.gas} below zero with status {Status(status).name}"
    if ctx.memory_len % WORD_BYTES or not 0 <= ctx.memory_len <= ctx.memory_cap:
        return f"memory_len {ctx.memory_len} not a word multiple within memory_cap {ctx.memory_cap}"
    if not 0 <= ctx.log_len <= ctx.log_cap:
        return f"log_len {ctx.log_len} outside the log buffer of {ctx.log_cap} bytes"
    if (ctx.code or 0, ctx.code_len, ctx.calldata or 0, ctx.calldata_len) != (
        code or 0,
        code_len,
        calldata or 0,
        calldata_len,
    ):
        return "code or calldata pointer or length changed"
    if status in (Status.RETURN, Status.REVERT) and ctx.exit_b:
        if ctx.exit_a < 0 or ctx.exit_b < 0 or ctx.exit_a + ctx.exit_b > ctx.memory_len:
            return f"output {ctx.exit_a}+{ctx.exit_b} outside memory of {ctx.memory_len} bytes"
    if status in _AT_INSTRUCTION and not 0 <= ctx.exit_pc < code_len:
        return f"exit_pc {ctx.exit_pc} outside the code ({code_len} bytes)"
    if status == Status.SUSPEND:
        if ctx.exit_op not in _HOST_OPCODES:
            return f"suspended for opcode 0x{ctx.exit_op:02x}, not a host operation"
        at_pc = ctypes.string_at(ctx.code + ctx.exit_pc, 1)[0]
        if at_pc != ctx.exit_op:
            return f"suspended for 0x{ctx.exit_op:02x} at pc {ctx.exit_pc}, code has 0x{at_pc:02x}"
    return None


def checked_linker(
    linker: Callable[[ObjectCode], NativeProgram],
) -> Callable[[ObjectCode], NativeProgram]:
    """`linker` whose programs check every return."""

    def link(obj: ObjectCode) -> NativeProgram:
        return cast("NativeProgram", CheckedProgram(linker(obj)))

    return link
