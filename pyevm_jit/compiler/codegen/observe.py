"""What native code records for observers of a message (see `pyevm_jit.evm.observe`).

Three logs in the context, each NULL unless Python attached a buffer for the running message:
- `trace`: the start pc of every block entered, written before the block's head checks (a
  JUMPDEST-only block that shares the checks of the block after it logs itself only; Python
  knows it runs on into that block). With the blocks of `analysis.build_blocks`, this and the
  pc where the program stopped determine the exact list of executed pcs, what a tracing
  `CodeStream` would have recorded.
- `gas_log`: (pc, amount) of every dynamic gas charge (memory expansion, copy and hash words,
  EXP bytes); static gas per pc follows from the trace.
- `sha3_log`: the hash and the 64 bytes hashed by every SHA3 of exactly 64 bytes.
Whether a log is on is read once per entry into the program; a site costs a branch on it and,
when on, a call to a small function of the module that appends (growing the buffer with
realloc; when that fails the log pointer is set to NULL, which Python reports as MemoryError).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyevm_jit.abi import FIELD_INDEX
from pyevm_jit.compiler.codegen.irtext import Function, FunctionType, IRBuilder, Type, Value
from pyevm_jit.compiler.codegen.types import (
    CONTEXT_PTR,
    CONTEXT_TYPE,
    FALSE,
    VOID,
    c32,
    c64,
    i8p,
    i32,
    i64,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.irtext import Block
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

TRACE_ITEM = 4
GAS_LOG_ITEM = 16
SHA3_LOG_ITEM = 96
_MIN_ITEMS = 256


class ObserveOps:
    """The logs of a program compiled for `<fork>.observed` (`ForkSpec.observed`); for any
    other program every hook emits nothing."""

    def __init__(self, pb: ProgramBuilder) -> None:
        self.pb = pb
        self.on = pb.spec.observed
        self._functions: dict[str, Function] = {}
        self._flags: dict[str, Value] = {}

    # --- the log functions of the module, defined on first use -----------------------------
    def _define(self, name: str, args: list[Type]) -> tuple[Function, IRBuilder]:
        fn = Function(self.pb.module, FunctionType(VOID, [CONTEXT_PTR, *args]), name)
        fn.linkage = "internal"
        fn.attributes.extend(("noinline", "nounwind"))
        self._functions[name] = fn
        return fn, IRBuilder(fn.append_basic_block("entry"))

    def _append(self, b: IRBuilder, fn: Function, log: str, item: int) -> Value:
        """In a log function: room for one more item (the function returns when the log is
        off or cannot grow); the builder ends where the item's bytes are written."""
        ctx = fn.args[0]

        def field(name: str) -> Value:
            return b.gep(
                ctx, [c32(0), c32(FIELD_INDEX[name])], inbounds=True, source_etype=CONTEXT_TYPE
            )

        buf_ptr, len_ptr, cap_ptr = field(log), field(f"{log}_len"), field(f"{log}_cap")
        buf = b.load(buf_ptr, typ=i8p)
        on, off = fn.append_basic_block("on"), fn.append_basic_block("off")
        b.cbranch(b.icmp_unsigned("!=", b.ptrtoint(buf, i64), c64(0)), on, off)
        b.position_at_end(off)
        b.ret_void()
        b.position_at_end(on)
        length = b.load(len_ptr, typ=i64)
        cap = b.load(cap_ptr, typ=i64)
        grow, write = fn.append_basic_block("grow"), fn.append_basic_block("write")
        b.cbranch(b.icmp_unsigned("==", length, cap), grow, write)
        b.position_at_end(grow)
        doubled = b.shl(cap, c64(1))
        new_cap = b.select(b.icmp_unsigned("<", doubled, c64(_MIN_ITEMS)), c64(_MIN_ITEMS), doubled)
        realloc = self.pb.module.declare("realloc", FunctionType(i8p, [i8p, i64]))
        grown = b.call(realloc, [buf, b.mul(new_cap, c64(item))])
        failed, ok = fn.append_basic_block("failed"), fn.append_basic_block("grown")
        b.cbranch(b.icmp_unsigned("==", b.ptrtoint(grown, i64), c64(0)), failed, ok)
        b.position_at_end(failed)
        b.store(Value(i8p, "null"), buf_ptr)  # the log stops: Python raises MemoryError
        b.ret_void()
        b.position_at_end(ok)
        b.store(grown, buf_ptr)
        b.store(new_cap, cap_ptr)
        b.branch(write)
        b.position_at_end(write)
        base = b.phi(i8p)
        base.add_incoming(buf, on)
        base.add_incoming(grown, ok)
        b.store(b.add(length, c64(1)), len_ptr)
        return b.gep(base, [b.mul(length, c64(item))], source_etype=_I8)

    def _function(self, name: str) -> Function:
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        if name == "log_block":
            fn, b = self._define(name, [i32])
            slot = self._append(b, fn, "trace", TRACE_ITEM)
            b.store(fn.args[1], slot, align=4)
        elif name == "log_gas":
            fn, b = self._define(name, [i64, i64])
            slot = self._append(b, fn, "gas_log", GAS_LOG_ITEM)
            b.store(fn.args[1], slot, align=8)
            b.store(fn.args[2], b.gep(slot, [c64(8)], source_etype=_I8), align=8)
        else:  # log_sha3(ctx, data, size, digest)
            fn, b = self._define(name, [i8p, i64, i8p])
            yes, no = fn.append_basic_block("size64"), fn.append_basic_block("other")
            b.cbranch(b.icmp_unsigned("==", fn.args[2], c64(64)), yes, no)
            b.position_at_end(no)
            b.ret_void()
            b.position_at_end(yes)
            slot = self._append(b, fn, "sha3_log", SHA3_LOG_ITEM)
            memcpy = self.pb.module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
            b.call(memcpy, [slot, fn.args[3], c64(32), FALSE])
            b.call(memcpy, [b.gep(slot, [c64(32)], source_etype=_I8), fn.args[1], c64(64), FALSE])
        b.ret_void()
        return fn

    def flag(self, log: str) -> Value:
        """Whether `log` is on (i1)."""
        pb = self.pb
        flag = self._flags.get(log)
        if flag is None:
            # read once per entry into the program (appended to the entry block, whose
            # terminator is written last): a log is attached for the whole message or not
            entry = IRBuilder(pb.entry_bb)
            ptr = entry.gep(
                pb.ctx, [c32(0), c32(FIELD_INDEX[log])], inbounds=True, source_etype=CONTEXT_TYPE
            )
            buf = entry.load(ptr, typ=i8p)
            flag = entry.icmp_unsigned("!=", entry.ptrtoint(buf, i64), c64(0))
            self._flags[log] = flag
        return flag

    def _if_on(self, log: str) -> Block:
        """Branch on whether `log` is on; the builder ends in the block where it is. Returns
        the block to continue in (the caller branches there)."""
        pb, b = self.pb, self.pb.b
        flag = self.flag(log)
        on = pb.fn.append_basic_block(f"{log}_on")
        done = pb.fn.append_basic_block(f"{log}_done")
        b.cbranch(flag, on, done)
        b.position_at_end(on)
        return done

    def _call_if_on(self, log: str, function: str, args: list[Value]) -> None:
        b = self.pb.b
        done = self._if_on(log)
        b.call(self._function(function), [self.pb.ctx, *args])
        b.branch(done)
        b.position_at_end(done)

    # --- hooks called by the code generator ----------------------------------------------------
    def block_entered(self, start_pc: int) -> None:
        """At a block's head, before its checks: log its start pc if the trace is on."""
        if self.on:
            self._call_if_on("trace", "log_block", [c32(start_pc)])

    def grow(self, gas: Value, end: Value, pc: int) -> Value:
        """`pyevmjit_mem_grow(ctx, gas, end)`, the charge logged at `pc` when it succeeded."""
        pb = self.pb
        if not self.on:
            return pb.b.call(pb.rt("pyevmjit_mem_grow"), [pb.ctx, gas, end])
        return pb.b.call(self._grow_function(), [pb.ctx, gas, end, c64(pc)])

    def _grow_function(self) -> Function:
        """i64 grow(ctx, gas, end, pc): one call at each expansion site, nothing inline."""
        fn = self._functions.get("grow")
        if fn is None:
            pb = self.pb
            fn = Function(pb.module, FunctionType(i64, [CONTEXT_PTR, i64, i64, i64]), "grow")
            fn.linkage = "internal"
            fn.attributes.extend(("noinline", "nounwind"))
            self._functions["grow"] = fn
            b = IRBuilder(fn.append_basic_block("entry"))
            ctx, gas, end, pc = fn.args
            left = b.call(pb.rt("pyevmjit_mem_grow"), [ctx, gas, end])
            ok, done = fn.append_basic_block("grown"), fn.append_basic_block("done")
            b.cbranch(b.icmp_signed("<", left, c64(0)), done, ok)
            b.position_at_end(ok)
            b.call(self._function("log_gas"), [ctx, pc, b.sub(gas, left)])
            b.branch(done)
            b.position_at_end(done)
            b.ret(left)
        return fn

    def log_block(self, start_pc: int) -> None:
        """Log a block's start pc (nothing happens when the trace is off)."""
        self.pb.b.call(self._function("log_block"), [self.pb.ctx, c32(start_pc)])

    def gas_charged(self, pc: int, amount: Value) -> None:
        """After a dynamic charge of `amount` (i64) at `pc` succeeded (a call, whose function
        does nothing when the log is off: charges come with copies, hashing or EXP's work)."""
        if self.on:
            self.pb.b.call(self._function("log_gas"), [self.pb.ctx, c64(pc), amount])

    def sha3_hashed(self, data: Value, size: Value, digest: Value) -> None:
        """After SHA3 of `size` (i64) bytes at `data` wrote its 32-byte `digest` (a call next
        to Keccak's, whose function does nothing when the log is off)."""
        if self.on:
            self.pb.b.call(self._function("log_sha3"), [self.pb.ctx, data, size, digest])


_I8 = i8p.pointee  # i8: byte offsets


__all__ = ["GAS_LOG_ITEM", "SHA3_LOG_ITEM", "TRACE_ITEM", "ObserveOps"]
