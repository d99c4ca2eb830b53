"""Memory, copies and Keccak: the EVM's byte-addressed operations, natively.

Memory is one buffer shared with Python (`ctx.memory`, `memory_len`, `memory_cap`); bytes past
`memory_len` up to `memory_cap` are always zero, so growing is a length bump unless the buffer
must be reallocated. Expansion gas follows py-evm's `extend_memory` exactly; it is charged by the
runtime library's `pyevmjit_mem_grow`, called only when an access reaches past `memory_len`:
inline, an access costs one comparison and a branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyevm_jit.abi import Status
from pyevm_jit.compiler.codegen.irtext import Block as IRBlock
from pyevm_jit.compiler.codegen.irtext import Value, constant_int
from pyevm_jit.compiler.codegen.types import (
    FALSE,
    c8,
    c32,
    c64,
    c256,
    i1,
    i8,
    i8p,
    i64,
    i256,
    i256p,
)
from pyevm_jit.compiler.codegen.vstack import Split, narrow64, resize, widen

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.irtext import IRBuilder
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

# Offsets and sizes at or above 2^63 can never be paid for (the native gas counter is below 2^63
# and such an expansion costs more): out of gas, as py-evm decides.
_HUGE = (1 << 63) - 1


class MemoryOps:
    def __init__(self, pb: ProgramBuilder):
        self.pb = pb
        module = pb.module
        self.memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, i64])
        self.memmove = module.declare_intrinsic("llvm.memmove", [i8p, i8p, i64])
        self.bswap = module.declare_intrinsic("llvm.bswap", [i256])
        #: within the current EVM block: memory is known to be at least this long (an access
        #: with constant bounds checked it), and the buffer's address when already loaded
        self.covered = 0
        self.base: Value | None = None

    @property
    def b(self) -> IRBuilder:
        return self.pb.b

    def _is_huge(self, *values: Value | Split) -> Value:
        """Whether any of the values is at least 2^63 (i1).

        A 256-bit value is tested as its low 64 bits and whether the bits above are zero: a
        256-bit comparison with 2^63 - 1 costs instruction selection about twice as much."""
        b = self.b
        combined: Value | None = None
        high: Value | None = None
        for v in values:
            if isinstance(v, Split):
                above = v.high(b)
                high = above if high is None else b.or_(high, above)
                combined = v.low if combined is None else b.or_(combined, v.low)
                continue
            low = narrow64(b, v)
            if low is None:
                low = b.trunc(v, i64)
                above = b.icmp_unsigned("!=", b.lshr(v, c256(64)), c256(0))
                high = above if high is None else b.or_(high, above)
            combined = low if combined is None else b.or_(combined, low)
        assert combined is not None
        huge = b.icmp_unsigned(">", combined, c64(_HUGE))
        return huge if high is None else b.or_(huge, high)

    def nonzero(self, value: Value | Split) -> Value:
        """i1: whether a value is not zero."""
        if isinstance(value, Split):
            return value.nonzero(self.b)
        return self.b.icmp_unsigned("!=", widen(self.b, value), c256(0))

    def low64(self, value: Value | Split) -> Value:
        """The low 64 bits of a value (i64)."""
        if isinstance(value, Split):
            return value.low
        narrow = narrow64(self.b, value)
        return narrow if narrow is not None else self.b.trunc(value, i64)

    # --- expansion -----------------------------------------------------------------------------
    def expand(self, offset: Value | Split, size: Value | Split, pc: int) -> Value:
        """Charge for and perform memory expansion to cover [offset, offset + size).

        Afterwards offset and size are known to be below 2^63 (or size is zero). Returns the
        offset's low 64 bits (the offset itself when the access is in memory)."""
        pb, b = self.pb, self.b
        low = self.low64(offset)
        const_size = constant_int(size) if isinstance(size, Value) else None
        if const_size == 0:
            return low
        const_offset = constant_int(offset) if isinstance(offset, Value) else None
        if const_offset is not None and const_size is not None:
            if const_offset + const_size <= self.covered:
                return low  # an earlier access of this block reached as far
            self.covered = const_offset + const_size
        huge = self._is_huge(offset, size)
        if const_size is not None:
            end = b.add(low, c64(const_size))
        else:
            end = b.add(low, self.low64(size))
        need = b.or_(huge, b.icmp_unsigned(">", end, pb.load_field("memory_len")))
        if const_size is None:
            need = b.and_(need, self.nonzero(size))
        if constant_int(need) == 0:
            return low
        self.base = None  # growing may move the buffer
        grow_bb = pb.fn.append_basic_block(f"grow{pc}")
        done = pb.fn.append_basic_block(f"mem{pc}")
        b.cbranch(need, grow_bb, done)
        b.position_at_end(grow_bb)
        end = b.select(huge, c64(-1), end)
        gas_left = pb.observe.grow(b.load(pb.gas_var), end, pc)
        # failed (out of gas, or no memory): py-evm runs the instruction and raises
        grown = pb.fn.append_basic_block(f"grown{pc}")
        b.cbranch(b.icmp_signed("<", gas_left, c64(0)), pb.fail_block(pc), grown)
        b.position_at_end(grown)
        b.store(gas_left, pb.gas_var)
        b.branch(done)
        b.position_at_end(done)
        return low

    def start_block(self) -> None:
        """A new EVM block: nothing is known about memory at its head (it is entered from
        elsewhere)."""
        self.covered = 0
        self.base = None

    def address(self, offset: Value) -> Value:
        """Pointer into memory for an offset already covered by `expand` (the buffer's address
        read afresh: usable off the block's main path)."""
        return self.b.gep(self.pb.load_field("memory"), [self.low64(offset)])

    def at(self, low: Value) -> Value:
        """Pointer into memory at an i64 offset already covered by `expand`, on the block's
        main path (the buffer's address is read once until memory may grow)."""
        if self.base is None:
            self.base = self.pb.load_field("memory")
        return self.b.gep(self.base, [low])

    def charge_words(self, size: Value, per_word: int, pc: int) -> None:
        """Charge `per_word` gas per 32-byte word of `size` (already known to be < 2^63)."""
        if per_word == 0 or constant_int(size) == 0:
            return
        b = self.b
        words = b.lshr(b.add(self.low64(size), c64(31)), c64(5))
        self.pb.charge(b.mul(words, c64(per_word)), pc)

    def _if_nonzero(self, size: Value, pc: int, name: str) -> tuple[IRBlock, IRBlock]:
        pb, b = self.pb, self.b
        body = pb.fn.append_basic_block(f"{name}{pc}")
        done = pb.fn.append_basic_block(f"{name}_done{pc}")
        b.cbranch(b.icmp_unsigned("!=", self.low64(size), c64(0)), body, done)
        b.position_at_end(body)
        return body, done

    # --- operations ----------------------------------------------------------------------------
    def mload(self, offset: Value | Split, pc: int) -> Value:
        low = self.expand(offset, c256(32), pc)
        ptr = self.b.bitcast(self.at(low), i256p)
        return self.b.call(self.bswap, [self.b.load(ptr, align=1)])

    def mstore(self, offset: Value | Split, value: Value, pc: int) -> None:
        low = self.expand(offset, c256(32), pc)
        ptr = self.b.bitcast(self.at(low), i256p)
        self.b.store(self.b.call(self.bswap, [widen(self.b, value)]), ptr, align=1)

    def mstore8(self, offset: Value | Split, value: Value, pc: int) -> None:
        low = self.expand(offset, c256(1), pc)
        self.b.store(resize(self.b, value, i8), self.at(low))

    def msize(self) -> Value:
        return self.pb.load_field("memory_len")  # i64

    def sha3(self, offset: Value, size: Value, pc: int) -> Value:
        b = self.b
        self.expand(offset, size, pc)
        self.charge_words(size, self.pb.spec.gas.sha3_word, pc)
        size64 = self.low64(size)
        empty = b.icmp_unsigned("==", size64, c64(0))
        ptr = self.address(b.select(empty, c64(0), self.low64(offset)))
        out = self.pb.scratch[0]
        b.call(self.pb.rt("pyevmjit_keccak256"), [ptr, size64, out])
        self.pb.observe.sha3_hashed(ptr, size64, out)
        return b.call(self.bswap, [b.load(out, typ=i256)])

    def _source_offset(self, offset: Value) -> Value:
        """An offset into a source buffer as i64, saturated (every offset past the end reads
        zeros)."""
        b = self.b
        narrow = narrow64(b, offset)
        if narrow is not None:
            return narrow
        high = b.icmp_unsigned("!=", b.lshr(offset, c256(64)), c256(0))
        return b.select(high, c64(-1), b.trunc(offset, i64))

    def copy_from(
        self,
        src_ptr: Value,
        src_len: Value,
        mem_off: Value,
        src_off: Value,
        size: Value,
        pc: int,
    ) -> None:
        """CALLDATACOPY / CODECOPY: expansion, copy gas, zero-padded copy."""
        self.expand(mem_off, size, pc)
        self.charge_words(size, self.pb.spec.gas.copy_word, pc)
        _, done = self._if_nonzero(size, pc, "copy")
        dst = self.address(mem_off)
        self.b.call(
            self.pb.rt("pyevmjit_copy_padded"),
            [dst, src_ptr, src_len, self._source_offset(src_off), self.low64(size)],
        )
        self.b.branch(done)
        self.b.position_at_end(done)

    def load_padded_word(self, src_ptr: Value, src_len: Value, offset: Value) -> Value:
        """CALLDATALOAD: 32 bytes from `offset`, zero-padded, as a big-endian word."""
        b = self.b
        out = self.pb.scratch[0]
        b.call(
            self.pb.rt("pyevmjit_copy_padded"),
            [out, src_ptr, src_len, self._source_offset(offset), c64(32)],
        )
        return b.call(self.bswap, [b.load(out, typ=i256)])

    def returndatacopy(self, mem_off: Value, data_off: Value, size: Value, pc: int) -> None:
        pb, b = self.pb, self.b
        length = b.zext(pb.load_field("returndata_len"), i256)
        data_off, size = widen(b, data_off), widen(b, size)
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
        b.call(self.memcpy, [self.address(mem_off), src, b.trunc(size, i64), FALSE])
        b.branch(done)
        b.position_at_end(done)

    def mcopy(self, dst: Value, src: Value, size: Value, pc: int) -> None:
        b = self.b
        dst, src = widen(b, dst), widen(b, src)
        self.expand(b.select(b.icmp_unsigned(">", dst, src), dst, src), size, pc)
        self.charge_words(size, self.pb.spec.gas.copy_word, pc)
        _, done = self._if_nonzero(size, pc, "mcopy")
        b.call(self.memmove, [self.address(dst), self.address(src), self.low64(size), FALSE])
        b.branch(done)
        b.position_at_end(done)


__all__ = ["MemoryOps", "c8", "c32", "i1", "i8p"]
