"""Memory: expansion (gas and room, `pyevmjit_mem_grow`) and zero-padded copies
(`pyevmjit_copy_padded`); programs call these out of line."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.compiler.rtlib.limbs import LibraryBase
from pyevm_jit.compiler.rtlib.signatures import (
    _COPY_PADDED,
    _MEM_GROW,
    I8P,
    I64P,
    const,
    i1,
    i8,
    i32,
    i64,
    i128,
)  # fmt: skip


class Memory(LibraryBase):
    def mem_grow(self) -> None:
        """i64 pyevmjit_mem_grow(ctx, gas, end): charge memory expansion to `end` bytes (an
        unsigned byte count, rounded up to words) and make room.

        Returns the gas left, or minus the status to leave with (out of gas, allocation failed).
        Expansion gas is py-evm's `extend_memory`: words * GAS_MEMORY + words^2 / quadratic
        denominator, new size minus old size. Bytes past memory_len are zero, always (a newly
        allocated tail is cleared).
        """
        from eth import constants as eth_constants

        from pyevm_jit.abi import FIELD_INDEX, Status

        fn = ir.Function(self.m, _MEM_GROW, "pyevmjit_mem_grow")
        fn.attributes.add("nounwind")
        ctx, gas, end = fn.args
        realloc = ir.Function(self.m, ir.FunctionType(I8P, [I8P, i64]), "realloc")
        memset = self.m.declare_intrinsic("llvm.memset", [I8P, i64])
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        fields = b.bitcast(ctx, I64P)

        def field(name: str) -> ir.Value:
            return b.gep(fields, [const(i32, FIELD_INDEX[name])], inbounds=True)

        def cost(words: ir.Value) -> ir.Value:
            linear = b.mul(words, const(i128, eth_constants.GAS_MEMORY))
            denominator = eth_constants.GAS_MEMORY_QUADRATIC_DENOMINATOR
            square = b.mul(words, words)
            if denominator & (denominator - 1) == 0:  # 512: a shift (no i128 division)
                quad = b.lshr(square, const(i128, denominator.bit_length() - 1))
            else:
                quad = b.udiv(square, const(i128, denominator))
            return b.add(linear, quad)

        old_len = b.load(field("memory_len"))
        new_words = b.lshr(b.add(b.zext(end, i128), const(i128, 31)), const(i128, 5))
        old_words = b.zext(b.lshr(old_len, const(i64, 5)), i128)
        fee = b.sub(cost(new_words), cost(old_words))
        oog = b.icmp_unsigned(">", fee, b.zext(gas, i128))
        with b.if_then(oog):
            b.ret(const(i64, -int(Status.OUT_OF_GAS)))
        gas_left = b.sub(gas, b.trunc(fee, i64))
        new_len = b.shl(b.trunc(new_words, i64), const(i64, 5))
        cap = b.load(field("memory_cap"))
        with b.if_then(b.icmp_unsigned(">", new_len, cap)):  # realloc
            doubled = b.shl(cap, const(i64, 1))
            new_cap = b.select(b.icmp_unsigned(">", doubled, new_len), doubled, new_len)
            memory_ptr = b.bitcast(field("memory"), I8P.as_pointer())
            new_ptr = b.call(realloc, [b.load(memory_ptr), new_cap])
            with b.if_then(b.icmp_unsigned("==", b.ptrtoint(new_ptr, i64), const(i64, 0))):
                b.ret(const(i64, -int(Status.MEMORY_ALLOCATION_FAILED)))
            # keep the invariant: everything past memory_len is zero
            tail = b.gep(new_ptr, [cap])
            b.call(memset, [tail, const(i8, 0), b.sub(new_cap, cap), const(i1, 0)])
            b.store(new_ptr, memory_ptr)
            b.store(new_cap, field("memory_cap"))
        b.store(new_len, field("memory_len"))
        b.ret(gas_left)

    def copy_padded(self) -> None:
        """void pyevmjit_copy_padded(dst, src, src_len, offset, size):
        dst[:size] = src[offset:offset+size], zero-padded past the end of src (CALLDATACOPY,
        CODECOPY, CALLDATALOAD). `offset` is saturated by the caller (any offset past the end
        reads zeros)."""
        fn = self.define("pyevmjit_copy_padded", _COPY_PADDED)
        memcpy = self.m.declare_intrinsic("llvm.memcpy", [I8P, I8P, i64])
        memset = self.m.declare_intrinsic("llvm.memset", [I8P, i64])
        dst, src, src_len, offset, size = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        in_range = b.icmp_unsigned("<", offset, src_len)
        off = b.select(in_range, offset, src_len)
        avail = b.sub(src_len, off)
        n = b.select(b.icmp_unsigned("<", avail, size), avail, size)
        b.call(memcpy, [dst, b.gep(src, [off]), n, const(i1, 0)])
        b.call(memset, [b.gep(dst, [n]), const(i8, 0), b.sub(size, n), const(i1, 0)])
        b.ret_void()
