"""The exported arithmetic: DIV, MOD, SDIV, SMOD, ADDMOD, MULMOD and EXP on 256-bit words
(programs inline 64-bit fast paths and call these for the rest)."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.compiler.irflow import Merge, enter_loop
from pyevm_jit.compiler.rtlib.division import Division
from pyevm_jit.compiler.rtlib.signatures import SIGNATURES, WORD_ALIGN, const, i1, i256, i320, i512


class Arithmetic(Division):
    def word_function(self, name: str) -> tuple[ir.IRBuilder, list[ir.Value], ir.Value]:
        """Start an exported word function: its builder, loaded inputs and output pointer."""
        fn = self.define(name, SIGNATURES[name])
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        *inputs, out = fn.args
        return b, [b.load(p, align=WORD_ALIGN) for p in inputs], out

    def finish(self, b: ir.IRBuilder, value: ir.Value, out: ir.Value) -> None:
        b.store(value, out, align=WORD_ALIGN)
        b.ret_void()

    def udiv_umod(self) -> None:
        for name, pick in (("pyevmjit_udiv256", 0), ("pyevmjit_umod256", 1)):
            b, (a, d), out = self.word_function(name)
            scratch = self.scratch(b)
            self.finish(b, self.udivrem256(b, scratch, a, d)[pick], out)

    def sdiv_smod(self) -> None:
        zero = const(i256, 0)
        for name in ("pyevmjit_sdiv256", "pyevmjit_smod256"):
            b, (a, d), out = self.word_function(name)
            scratch = self.scratch(b)
            neg_a = b.icmp_signed("<", a, zero)
            neg_d = b.icmp_signed("<", d, zero)
            abs_a = b.select(neg_a, b.sub(zero, a), a)
            abs_d = b.select(neg_d, b.sub(zero, d), d)
            q, r = self.udivrem256(b, scratch, abs_a, abs_d)
            if name == "pyevmjit_sdiv256":
                result = b.select(b.xor(neg_a, neg_d), b.sub(zero, q), q)
            else:
                result = b.select(neg_a, b.sub(zero, r), r)
            self.finish(b, result, out)

    def addmod(self) -> None:
        b, (a, c, n), out = self.word_function("pyevmjit_addmod256")
        scratch = self.scratch(b)
        fn = b.function
        zero = const(i256, 0)
        reduced_bb = fn.append_basic_block("reduced")  # a < n and b < n: one subtraction
        other_bb = fn.append_basic_block("other")
        nocarry_bb = fn.append_basic_block("no_carry")
        carry_bb = fn.append_basic_block("carry")
        done_bb = fn.append_basic_block("done")
        s = b.add(a, c)
        carry = b.icmp_unsigned("<", s, a)
        n_zero = b.icmp_unsigned("==", n, zero)
        in_range = b.and_(b.icmp_unsigned("<", a, n), b.icmp_unsigned("<", c, n))
        b.cbranch(n_zero, done_bb, other_bb)
        done = Merge(b, done_bb)
        done.arrived(zero)

        b.position_at_end(other_bb)
        b.cbranch(in_range, reduced_bb, nocarry_bb)

        b.position_at_end(reduced_bb)
        over = b.or_(carry, b.icmp_unsigned(">=", s, n))
        done.arrive(b.select(over, b.sub(s, n), s))

        b.position_at_end(nocarry_bb)
        word_bb = fn.append_basic_block("no_carry_div")
        b.cbranch(carry, carry_bb, word_bb)
        b.position_at_end(word_bb)
        done.arrive(self.udivrem256(b, scratch, s, n)[1])

        b.position_at_end(carry_bb)
        wide = b.or_(b.zext(s, i320), b.shl(const(i320, 1), const(i320, 256)))
        done.arrive(self.call_divrem(b, scratch, wide, n)[1])
        self.finish(b, done.phis(i256)[0], out)

    def mulmod(self) -> None:
        b, (a, c, n), out = self.word_function("pyevmjit_mulmod256")
        scratch = self.scratch(b)
        fn = b.function
        zero = const(i256, 0)
        nonzero_bb = fn.append_basic_block("nonzero")
        narrow_bb = fn.append_basic_block("narrow")
        wide_bb = fn.append_basic_block("wide")
        done_bb = fn.append_basic_block("done")
        b.cbranch(b.icmp_unsigned("==", n, zero), done_bb, nonzero_bb)
        done = Merge(b, done_bb)
        done.arrived(zero)

        b.position_at_end(nonzero_bb)
        product = b.mul(b.zext(a, i512), b.zext(c, i512))
        high = b.trunc(b.lshr(product, const(i512, 256)), i256)
        b.cbranch(b.icmp_unsigned("==", high, zero), narrow_bb, wide_bb)

        b.position_at_end(narrow_bb)
        done.arrive(self.udivrem256(b, scratch, b.trunc(product, i256), n)[1])

        b.position_at_end(wide_bb)
        done.arrive(self.call_divrem(b, scratch, product, n)[1])
        self.finish(b, done.phis(i256)[0], out)

    def exp(self) -> None:
        b, (base, exponent), out = self.word_function("pyevmjit_exp256")
        fn = b.function
        loop = fn.append_basic_block("loop")
        body = fn.append_basic_block("body")
        done = fn.append_basic_block("done")
        result, power, e = enter_loop(
            b, loop, (i256, "result", const(i256, 1)), (i256, "power", base), (i256, "e", exponent)
        )
        b.cbranch(b.icmp_unsigned("==", e, const(i256, 0)), done, body)
        b.position_at_end(body)
        odd = b.trunc(e, i1)
        result.add_incoming(b.select(odd, b.mul(result, power), result), body)
        power.add_incoming(b.mul(power, power), body)
        e.add_incoming(b.lshr(e, const(i256, 1)), body)
        b.branch(loop)
        b.position_at_end(done)
        self.finish(b, result, out)
