"""Memory, copies and Keccak: the EVM's byte-addressed operations, natively.

Memory is one buffer shared with Python (`ctx.memory`, `memory_len`, `memory_cap`); bytes past
`memory_len` up to `memory_cap` are always zero, so growing is a length bump unless the buffer
must be reallocated. Expansion gas follows py-evm's `extend_memory` exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ir

from pyevm_jit.abi import FIELD_INDEX, Status
from pyevm_jit.compiler.codegen.types import (
    CONTEXT_PTR,
    c8,
    c32,
    c64,
    c128,
    c256,
    constant_int,
    i1,
    i8,
    i8p,
    i64,
    i128,
    i256,
    i256p,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

GROW_OUT_OF_GAS = -1
GROW_ALLOC_FAILED = -2


class MemoryOps:
    def __init__(self, pb: ProgramBuilder):
        self.pb = pb
        module = pb.module
        self.realloc = ir.Function(module, ir.FunctionType(i8p, [i8p, i64]), "realloc")
        self.memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
        self.memmove = module.declare_intrinsic("llvm.memmove", [i8p, i8p, i64])
        self.memset = module.declare_intrinsic("llvm.memset", [i8p, i64])
        self.bswap = module.declare_intrinsic("llvm.bswap", [i256])
        self.grow_fn = self._define_grow()
        self.copy_fn = self._define_copy_padded()

    @property
    def b(self) -> ir.IRBuilder:
        return self.pb.b

    # --- helpers defined once per module ----------------------------------------------------
    def _define_grow(self) -> ir.Function:
        """i64 grow(ctx, gas, end): charge expansion to `end` bytes and make room.

        Returns the gas left, or GROW_OUT_OF_GAS / GROW_ALLOC_FAILED. Kept out of line: the
        common case (no expansion) is a comparison in the caller.
        """
        spec = self.pb.spec.gas
        fn = ir.Function(self.pb.module, ir.FunctionType(i64, [CONTEXT_PTR, i64, i128]), "grow")
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        fn.attributes.add("nounwind")
        ctx, gas, end = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))

        def field(name: str) -> ir.Value:
            return b.gep(ctx, [c32(0), c32(FIELD_INDEX[name])], inbounds=True)

        def cost(words: ir.Value) -> ir.Value:
            linear = b.mul(words, c128(spec.memory))
            quad = b.udiv(b.mul(words, words), c128(spec.memory_quad_denominator))
            return b.add(linear, quad)

        old_len = b.load(field("memory_len"))
        new_words = b.lshr(b.add(end, c128(31)), c128(5))
        old_words = b.zext(b.lshr(old_len, c64(5)), i128)
        fee = b.sub(cost(new_words), cost(old_words))
        oog = b.icmp_unsigned(">", fee, b.zext(gas, i128))
        fail_bb, ok_bb = fn.append_basic_block("oog"), fn.append_basic_block("ok")
        b.cbranch(oog, fail_bb, ok_bb)
        b.position_at_end(fail_bb)
        b.ret(c64(GROW_OUT_OF_GAS))
        b.position_at_end(ok_bb)
        gas_left = b.sub(gas, b.trunc(fee, i64))
        new_len = b.shl(b.trunc(new_words, i64), c64(5))
        cap = b.load(field("memory_cap"))
        need_bb, done_bb = fn.append_basic_block("realloc"), fn.append_basic_block("done")
        b.cbranch(b.icmp_unsigned(">", new_len, cap), need_bb, done_bb)

        b.position_at_end(need_bb)
        doubled = b.shl(cap, c64(1))
        new_cap = b.select(b.icmp_unsigned(">", doubled, new_len), doubled, new_len)
        new_ptr = b.call(self.realloc, [b.load(field("memory")), new_cap])
        null_bb, grown_bb = fn.append_basic_block("null"), fn.append_basic_block("grown")
        b.cbranch(b.icmp_unsigned("==", b.ptrtoint(new_ptr, i64), c64(0)), null_bb, grown_bb)
        b.position_at_end(null_bb)
        b.ret(c64(GROW_ALLOC_FAILED))
        b.position_at_end(grown_bb)
        # keep the invariant: everything past memory_len is zero
        tail = b.gep(new_ptr, [cap])
        b.call(self.memset, [tail, c8(0), b.sub(new_cap, cap), ir.Constant(i1, 0)])
        b.store(new_ptr, field("memory"))
        b.store(new_cap, field("memory_cap"))
        b.branch(done_bb)

        b.position_at_end(done_bb)
        b.store(new_len, field("memory_len"))
        b.ret(gas_left)
        return fn

    def _define_copy_padded(self) -> ir.Function:
        """void copy(dst, src, src_len, offset, size): dst[:size] = src[offset:offset+size],
        zero-padded past the end of src (CALLDATACOPY, CODECOPY, CALLDATALOAD)."""
        fn = ir.Function(
            self.pb.module, ir.FunctionType(ir.VoidType(), [i8p, i8p, i64, i256, i64]), "copy_pad"
        )
        fn.linkage = "internal"
        fn.attributes.add("nounwind")
        dst, src, src_len, offset, size = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        in_range = b.icmp_unsigned("<", offset, b.zext(src_len, i256))
        off64 = b.select(in_range, b.trunc(offset, i64), src_len)
        avail = b.sub(src_len, off64)
        n = b.select(b.icmp_unsigned("<", avail, size), avail, size)
        b.call(self.memcpy, [dst, b.gep(src, [off64]), n, ir.Constant(i1, 0)])
        b.call(self.memset, [b.gep(dst, [n]), c8(0), b.sub(size, n), ir.Constant(i1, 0)])
        b.ret_void()
        return fn

    # --- expansion -----------------------------------------------------------------------------
    def expand(self, offset: ir.Value, size: ir.Value, pc: int) -> None:
        """Charge for and perform memory expansion to cover [offset, offset + size)."""
        pb, b = self.pb, self.b
        const_size = constant_int(size)
        if const_size == 0:
            return
        done = pb.fn.append_basic_block(f"expanded{pc}")
        if const_size is None:
            work = pb.fn.append_basic_block(f"expand{pc}")
            b.cbranch(b.icmp_unsigned("==", size, c256(0)), done, work)
            b.position_at_end(work)
        too_big = b.icmp_unsigned("!=", b.lshr(b.or_(offset, size), c256(64)), c256(0))
        pb.exit_if(too_big, Status.OUT_OF_GAS, pc, "small")
        end = b.add(b.zext(b.trunc(offset, i64), i128), b.zext(b.trunc(size, i64), i128))
        cur = b.zext(pb.load_field("memory_len"), i128)
        grow_bb = pb.fn.append_basic_block(f"grow{pc}")
        b.cbranch(b.icmp_unsigned(">", end, cur), grow_bb, done)
        b.position_at_end(grow_bb)
        gas_left = b.call(self.grow_fn, [pb.ctx, b.load(pb.gas_var), end])
        failed = b.icmp_signed("<", gas_left, c64(0))
        fail_bb, ok_bb = pb.fn.append_basic_block(f"growfail{pc}"), pb.fn.append_basic_block("")
        b.cbranch(failed, fail_bb, ok_bb)
        b.position_at_end(fail_bb)
        status = b.select(
            b.icmp_signed("==", gas_left, c64(GROW_OUT_OF_GAS)),
            c32(int(Status.OUT_OF_GAS)),
            c32(int(Status.MEMORY_ALLOCATION_FAILED)),
        )
        pb.exit_dynamic(status, pc)
        b.position_at_end(ok_bb)
        b.store(gas_left, pb.gas_var)
        b.branch(done)
        b.position_at_end(done)

    def address(self, offset: ir.Value) -> ir.Value:
        """i8* into memory for an offset already covered by `expand`."""
        return self.b.gep(self.pb.load_field("memory"), [self.b.trunc(offset, i64)])

    def charge_words(self, size: ir.Value, per_word: int, pc: int) -> None:
        """Charge `per_word` gas per 32-byte word of `size` (already known to be < 2^64)."""
        if per_word == 0 or constant_int(size) == 0:
            return
        b = self.b
        words = b.lshr(b.add(b.trunc(size, i64), c64(31)), c64(5))
        self.pb.charge(b.mul(words, c64(per_word)), pc)

    def _if_nonzero(self, size: ir.Value, pc: int, name: str) -> tuple[ir.Block, ir.Block]:
        pb, b = self.pb, self.b
        body = pb.fn.append_basic_block(f"{name}{pc}")
        done = pb.fn.append_basic_block(f"{name}_done{pc}")
        b.cbranch(b.icmp_unsigned("!=", size, c256(0)), body, done)
        b.position_at_end(body)
        return body, done

    # --- operations ----------------------------------------------------------------------------
    def mload(self, offset: ir.Value, pc: int) -> ir.Value:
        self.expand(offset, c256(32), pc)
        ptr = self.b.bitcast(self.address(offset), i256p)
        return self.b.call(self.bswap, [self.b.load(ptr, align=1)])

    def mstore(self, offset: ir.Value, value: ir.Value, pc: int) -> None:
        self.expand(offset, c256(32), pc)
        ptr = self.b.bitcast(self.address(offset), i256p)
        self.b.store(self.b.call(self.bswap, [value]), ptr, align=1)

    def mstore8(self, offset: ir.Value, value: ir.Value, pc: int) -> None:
        self.expand(offset, c256(1), pc)
        self.b.store(self.b.trunc(value, i8), self.address(offset))

    def msize(self) -> ir.Value:
        return self.b.zext(self.pb.load_field("memory_len"), i256)

    def sha3(self, offset: ir.Value, size: ir.Value, pc: int) -> ir.Value:
        b = self.b
        self.expand(offset, size, pc)
        self.charge_words(size, self.pb.spec.gas.sha3_word, pc)
        empty = b.icmp_unsigned("==", size, c256(0))
        ptr = self.address(b.select(empty, c256(0), offset))
        out = b.bitcast(self.pb.scratch[0], i8p)
        b.call(self.pb.rt("pyevmjit_keccak256"), [ptr, b.trunc(size, i64), out])
        return b.call(self.bswap, [b.load(self.pb.scratch[0])])

    def copy_from(
        self, src_ptr: ir.Value, src_len: ir.Value, mem_off: ir.Value, src_off: ir.Value,
        size: ir.Value, pc: int,
    ) -> None:
        """CALLDATACOPY / CODECOPY: expansion, copy gas, zero-padded copy."""
        self.expand(mem_off, size, pc)
        self.charge_words(size, self.pb.spec.gas.copy_word, pc)
        _, done = self._if_nonzero(size, pc, "copy")
        dst = self.address(mem_off)
        self.b.call(self.copy_fn, [dst, src_ptr, src_len, src_off, self.b.trunc(size, i64)])
        self.b.branch(done)
        self.b.position_at_end(done)

    def load_padded_word(self, src_ptr: ir.Value, src_len: ir.Value, offset: ir.Value) -> ir.Value:
        """CALLDATALOAD: 32 bytes from `offset`, zero-padded, as a big-endian word."""
        b = self.b
        buf = b.bitcast(self.pb.scratch[0], i8p)
        b.call(self.copy_fn, [buf, src_ptr, src_len, offset, c64(32)])
        return b.call(self.bswap, [b.load(self.pb.scratch[0])])

    def returndatacopy(
        self, mem_off: ir.Value, data_off: ir.Value, size: ir.Value, pc: int
    ) -> None:
        pb, b = self.pb, self.b
        length = b.zext(pb.load_field("returndata_len"), i256)
        # py-evm checks the bounds before charging for memory
        out_of_bounds = b.or_(
            b.icmp_unsigned(">", data_off, length),
            b.icmp_unsigned(">", size, b.sub(length, data_off)),
        )
        pb.exit_if(out_of_bounds, Status.RETURNDATA_OUT_OF_BOUNDS, pc, "rd_in_bounds")
        self.expand(mem_off, size, pc)
        self.charge_words(size, pb.spec.gas.copy_word, pc)
        _, done = self._if_nonzero(size, pc, "rdcopy")
        src = b.gep(pb.load_field("returndata"), [b.trunc(data_off, i64)])
        b.call(self.memcpy, [self.address(mem_off), src, b.trunc(size, i64), ir.Constant(i1, 0)])
        b.branch(done)
        b.position_at_end(done)

    def mcopy(self, dst: ir.Value, src: ir.Value, size: ir.Value, pc: int) -> None:
        b = self.b
        self.expand(b.select(b.icmp_unsigned(">", dst, src), dst, src), size, pc)
        self.charge_words(size, self.pb.spec.gas.copy_word, pc)
        _, done = self._if_nonzero(size, pc, "mcopy")
        b.call(
            self.memmove,
            [self.address(dst), self.address(src), b.trunc(size, i64), ir.Constant(i1, 0)],
        )
        b.branch(done)
        b.position_at_end(done)


__all__ = ["MemoryOps", "i8p"]
