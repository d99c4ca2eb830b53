"""256-bit division: a short division for one-limb divisors and Knuth's algorithm D (TAOCP
vol. 2, 4.3.1) otherwise, specialised per divisor length with the partial remainder in
registers, for dividends of up to 512 bits (the MULMOD product). Each quotient digit comes from
the `div` instruction on x86-64 (LLVM would call `__udivti3` for an i128 division); elsewhere
from a precomputed reciprocal and multiplications (Moller and Granlund, "Improved division by
invariant integers", 2011)."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.compiler.irflow import Merge, enter_loop
from pyevm_jit.compiler.rtlib.limbs import LibraryBase
from pyevm_jit.compiler.rtlib.signatures import I64P, VOID, const, i1, i32, i64, i128, i256

_MAX_U = 8  # dividend limbs (512-bit MULMOD product)
_MAX_V = 4  # divisor limbs


class Division(LibraryBase):
    """The division routines (an internal `divrem` and the helpers exported functions inline)."""

    reciprocal_fn: ir.Function  # (portable code only)
    divrem_fn: ir.Function

    def define_division(self) -> None:
        """Define the internal division functions (before any function that calls them)."""
        if self.preinv:
            self.reciprocal_fn = self._reciprocal_fn()
        self.divrem_fn = self._divrem()

    def div2by1(
        self, b: ir.IRBuilder, hi: ir.Value, lo: ir.Value, d: ir.Value
    ) -> tuple[ir.Value, ir.Value]:
        """(hi:lo) divided by d, requires hi < d: (quotient, remainder), both 64-bit.

        The x86-64 `div` instruction (an i128 `udiv` would call `__udivti3`).
        """
        assert not self.preinv, "no hardware division in portable code"
        fnty = ir.FunctionType(ir.LiteralStructType([i64, i64]), [i64, i64, i64])
        divq = ir.InlineAsm(fnty, "divq $4", "={rax},={rdx},{rax},{rdx},r,~{flags}")
        res = b.call(divq, [lo, hi, d], attrs=("readnone", "nounwind"))
        return b.extract_value(res, 0), b.extract_value(res, 1)

    def _reciprocal_fn(self) -> ir.Function:
        """reciprocal(d) for a normalised d, by 64 steps of shift-and-subtract division of
        (~d):(2^64 - 1) by d (portable code: no library call, once per division)."""
        fn = self.define("pyevmjit_reciprocal", ir.FunctionType(i64, [i64]), internal=True)
        (d,) = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        done = fn.append_basic_block("done")
        b = ir.IRBuilder(entry)
        not_d = b.not_(d)
        i, rem, low, quo = enter_loop(
            b, loop, (i32, "i", const(i32, 0)), (i64, "rem", not_d), (i64, "low", const(i64, -1)),
            (i64, "quo", const(i64, 0)),
        )  # fmt: skip
        carry = b.icmp_signed("<", rem, const(i64, 0))  # the bit shifted out of rem
        shifted = b.or_(b.shl(rem, const(i64, 1)), b.lshr(low, const(i64, 63)))
        take = b.or_(carry, b.icmp_unsigned(">=", shifted, d))
        rem.add_incoming(b.select(take, b.sub(shifted, d), shifted), loop)
        low.add_incoming(b.shl(low, const(i64, 1)), loop)
        quo2 = b.or_(b.shl(quo, const(i64, 1)), b.zext(take, i64))
        quo.add_incoming(quo2, loop)
        i2 = b.add(i, const(i32, 1))
        i.add_incoming(i2, loop)
        b.cbranch(b.icmp_unsigned("<", i2, const(i32, 64)), loop, done)
        b.position_at_end(done)
        b.ret(quo2)
        return fn

    # -- division by invariant integers (Moller & Granlund, "Improved division by invariant
    # integers", 2011): one hardware division per divisor, multiplications for every digit ---
    def reciprocal(self, b: ir.IRBuilder, d: ir.Value) -> ir.Value | None:
        """floor((2^128 - 1) / d) - 2^64 for a normalised d (top bit set).

        None when dividing with the hardware instruction instead (x86-64 by default: `div` is
        faster than the multiplications on current processors, Ice Lake and Zen 2 onwards).
        """
        if not self.preinv:
            return None
        return b.call(self.reciprocal_fn, [d])

    def digit(
        self, b: ir.IRBuilder, u1: ir.Value, u0: ir.Value, d: ir.Value, dinv: ir.Value | None
    ) -> tuple[ir.Value, ir.Value]:
        """(u1:u0) divided by d; requires u1 < d, and d normalised when dinv is given."""
        if dinv is None:
            return self.div2by1(b, u1, u0, d)
        return self.div2by1_preinv(b, u1, u0, d, dinv)

    def div2by1_preinv(
        self, b: ir.IRBuilder, u1: ir.Value, u0: ir.Value, d: ir.Value, dinv: ir.Value
    ) -> tuple[ir.Value, ir.Value]:
        """(u1:u0) divided by the normalised d with reciprocal dinv; requires u1 < d."""
        prod = b.mul(b.zext(dinv, i128), b.zext(u1, i128))
        est = b.add(
            prod,
            b.or_(b.shl(b.zext(b.add(u1, const(i64, 1)), i128), const(i128, 64)), b.zext(u0, i128)),
        )
        q1 = self.hi64(b, est)
        q0 = b.trunc(est, i64)
        r = b.sub(u0, b.mul(q1, d))
        over = b.icmp_unsigned(">", r, q0)
        q1 = b.select(over, b.sub(q1, const(i64, 1)), q1)
        r = b.select(over, b.add(r, d), r)
        again = b.icmp_unsigned(">=", r, d)
        q1 = b.select(again, b.add(q1, const(i64, 1)), q1)
        r = b.select(again, b.sub(r, d), r)
        return q1, r

    # -- general division -----------------------------------------------------------------------
    def _divrem(self) -> ir.Function:
        """divrem(u[8], ulen, v[4], vlen, q[8], r[4]).

        Requires 1 <= vlen <= ulen <= 8, v[vlen-1] != 0, u limbs at and above ulen zero and v
        limbs at and above vlen zero. Writes all 8 quotient limbs and all 4 remainder limbs.
        """
        fnty = ir.FunctionType(VOID, [I64P, i32, I64P, i32, I64P, I64P])
        fn = self.define("pyevmjit_divrem_internal", fnty, internal=True)
        u, ulen, v, vlen, q, r = fn.args
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        un_arr = b.alloca(ir.ArrayType(i64, _MAX_U + 1), name="un")
        un = b.gep(un_arr, [const(i32, 0), const(i32, 0)], inbounds=True)
        zero64 = const(i64, 0)
        for k in range(_MAX_U):
            b.store(zero64, self.elt(b, q, k))
        short = fn.append_basic_block("short")
        wide = fn.append_basic_block("wide")
        b.cbranch(b.icmp_unsigned("==", vlen, const(i32, 1)), short, wide)

        b.position_at_end(short)
        d = b.load(self.elt(b, v, 0))
        if not self.preinv:  # the hardware division needs no normalisation
            self._short_division(b, u, ulen, const(i64, 0), d, None, const(i64, 0), q, r)
        else:
            s = b.call(self.ctlz64, [d, const(i1, 1)])
            self._normalise(b, u, un, s)
            dn = b.shl(d, s)
            rem0 = b.load(self.elt(b, un, ulen))
            self._short_division(b, un, ulen, rem0, dn, self.reciprocal(b, dn), s, q, r)

        # normalise: shift both operands left until the divisor's top bit is set
        b.position_at_end(wide)
        s = b.call(self.ctlz64, [b.load(self.elt(b, v, b.sub(vlen, const(i32, 1)))), const(i1, 1)])
        self._normalise(b, u, un, s)
        vl = self.load_limbs(b, v, _MAX_V)
        vn = [b.shl(vl[0], s)] + [
            b.call(self.fshl64, [vl[k], vl[k - 1], s]) for k in range(1, _MAX_V)
        ]
        blocks = {n: fn.append_basic_block(f"by{n}") for n in range(2, _MAX_V + 1)}
        switch = b.switch(vlen, blocks[_MAX_V])
        for n in range(2, _MAX_V):
            switch.add_case(const(i32, n), blocks[n])
        for n in range(2, _MAX_V + 1):
            b.position_at_end(blocks[n])
            self._knuth(b, n, un, ulen, vn[:n], s, q, r)
        return fn

    def _normalise(self, b: ir.IRBuilder, u: ir.Value, un: ir.Value, s: ir.Value) -> None:
        """un[0 .. 8] = u[0 .. 7] << s."""
        ul = self.load_limbs(b, u, _MAX_U)
        b.store(b.shl(ul[0], s), self.elt(b, un, 0))
        for k in range(1, _MAX_U):
            b.store(b.call(self.fshl64, [ul[k], ul[k - 1], s]), self.elt(b, un, k))
        b.store(b.call(self.fshl64, [const(i64, 0), ul[_MAX_U - 1], s]), self.elt(b, un, _MAX_U))

    def _short_division(
        self,
        b: ir.IRBuilder,
        u: ir.Value,
        ulen: ir.Value,
        rem0: ir.Value,
        d: ir.Value,
        dinv: ir.Value | None,
        s: ir.Value,
        q: ir.Value,
        r: ir.Value,
    ) -> None:
        """Division of rem0:u[ulen-1 .. 0] by one limb d (rem0 < d); the remainder is >> s.

        With a reciprocal dinv, d and u must be normalised.
        """
        fn = b.function
        top = b.sub(ulen, const(i32, 1))
        loop = fn.append_basic_block("short_loop")
        done = fn.append_basic_block("short_done")
        i, rem = enter_loop(b, loop, (i32, "i", top), (i64, "rem", rem0))
        digit, rem2 = self.digit(b, rem, b.load(self.elt(b, u, i)), d, dinv)
        b.store(digit, self.elt(b, q, i))
        i2 = b.sub(i, const(i32, 1))
        i.add_incoming(i2, loop)
        rem.add_incoming(rem2, loop)
        b.cbranch(b.icmp_signed(">=", i2, const(i32, 0)), loop, done)
        b.position_at_end(done)
        b.store(b.lshr(rem2, s), self.elt(b, r, 0))
        for k in range(1, _MAX_V):
            b.store(const(i64, 0), self.elt(b, r, k))
        b.ret_void()

    def _knuth(
        self,
        b: ir.IRBuilder,
        n: int,
        un: ir.Value,
        ulen: ir.Value,
        vn: list[ir.Value],
        s: ir.Value,
        q: ir.Value,
        r: ir.Value,
    ) -> None:
        """Algorithm D for an n-limb normalised divisor vn (n >= 2), partial remainder in SSA.

        Step j divides the window un[j] plus the n-limb partial remainder R by vn; R starts
        as un[ulen-n+1 .. ulen] and ends as the normalised remainder.
        """
        fn = b.function
        vtop, vsec = vn[n - 1], vn[n - 2]
        vinv = self.reciprocal(b, vtop)
        j0 = b.sub(ulen, const(i32, n))
        r_init = [b.load(self.elt(b, un, b.add(j0, const(i32, k + 1)))) for k in range(n)]
        loop = fn.append_basic_block(f"d{n}_step")
        addback = fn.append_basic_block(f"d{n}_addback")
        next_bb = fn.append_basic_block(f"d{n}_next")
        done = fn.append_basic_block(f"d{n}_done")
        j, *rem_phis = enter_loop(
            b, loop, (i32, "j", j0), *((i64, f"r{k}", r_init[k]) for k in range(n))
        )
        w = [b.load(self.elt(b, un, j))] + rem_phis  # n + 1 limbs
        hi, lo, lo2 = w[n], w[n - 1], w[n - 2]
        # estimate qhat from the top two limbs; hi == vtop gives qhat = 2^64 - 1 (hi > vtop
        # cannot happen since R < vn)
        big = b.icmp_unsigned(">=", hi, vtop)
        qd, rd = self.digit(b, b.select(big, const(i64, 0), hi), lo, vtop, vinv)
        qhat0 = b.select(big, const(i64, -1), qd)
        rhat0 = b.select(big, b.add(b.zext(lo, i128), b.zext(vtop, i128)), b.zext(rd, i128))
        two64 = const(i128, 1 << 64)
        vsec128 = b.zext(vsec, i128)
        lo2_128 = b.zext(lo2, i128)

        def too_big(lhs: ir.Value, rh: ir.Value) -> ir.Value:
            """qhat * vsec > rh:lo2 (never when rh has 65 bits)."""
            fits = b.icmp_unsigned("<", rh, two64)
            rhs = b.or_(b.shl(rh, const(i128, 64)), lo2_128)
            return b.and_(fits, b.icmp_unsigned(">", lhs, rhs))

        # both correction tests at once: the second one is for qhat - 1 and rhat + vtop
        prod0 = b.mul(b.zext(qhat0, i128), vsec128)
        c1 = too_big(prod0, rhat0)
        c2 = b.and_(c1, too_big(b.sub(prod0, vsec128), b.add(rhat0, b.zext(vtop, i128))))
        qhat = b.sub(b.sub(qhat0, b.zext(c1, i64)), b.zext(c2, i64))

        # multiply and subtract: w -= qhat * vn, as one wide subtraction (a borrow chain)
        wide = ir.IntType(64 * (n + 1))
        wider = ir.IntType(64 * (n + 2))
        qhat128 = b.zext(qhat, i128)
        carry: ir.Value = const(i64, 0)
        prod: list[ir.Value] = []
        for k in range(n):
            p = b.add(b.mul(qhat128, b.zext(vn[k], i128)), b.zext(carry, i128))
            prod.append(b.trunc(p, i64))
            carry = self.hi64(b, p)
        prod.append(carry)
        diff = b.sub(b.zext(self.join(b, w, wide), wider), b.zext(self.join(b, prod, wide), wider))
        negative = b.icmp_signed("<", diff, const(wider, 0))
        low = b.trunc(diff, wide)
        sub = self.limbs(b, low)[:n]
        b.cbranch(negative, addback, next_bb)

        # qhat was one too large (probability about 2^-63): add the divisor back
        b.position_at_end(addback)
        added = self.limbs(b, b.add(low, self.join(b, vn, wide)))[:n]
        q_less = b.sub(qhat, const(i64, 1))
        b.branch(next_bb)

        b.position_at_end(next_bb)
        qfinal = b.phi(i64, "qdigit")
        qfinal.add_incoming(qhat, loop)
        qfinal.add_incoming(q_less, addback)
        new_rem = []
        for k in range(n):
            phi = b.phi(i64, f"nr{k}")
            phi.add_incoming(sub[k], loop)
            phi.add_incoming(added[k], addback)
            new_rem.append(phi)
            rem_phis[k].add_incoming(phi, next_bb)
        b.store(qfinal, self.elt(b, q, j))
        j2 = b.sub(j, const(i32, 1))
        j.add_incoming(j2, next_bb)
        b.cbranch(b.icmp_signed(">=", j2, const(i32, 0)), loop, done)

        b.position_at_end(done)
        for k in range(_MAX_V):
            if k < n - 1:
                limb = b.call(self.fshr64, [new_rem[k + 1], new_rem[k], s])
            elif k == n - 1:
                limb = b.lshr(new_rem[k], s)
            else:
                limb = const(i64, 0)
            b.store(limb, self.elt(b, r, k))
        b.ret_void()

    # -- 256-bit division inside an exported function -------------------------------------------
    def scratch(self, b: ir.IRBuilder) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
        """Limb arrays (u[8], v[4], q[8], r[4]) for `divrem`, allocated in the entry block."""
        arrays = []
        for name, size in (("u", _MAX_U), ("v", _MAX_V), ("q", _MAX_U), ("r", _MAX_V)):
            arr = b.alloca(ir.ArrayType(i64, size), name=name)
            arrays.append(b.gep(arr, [const(i32, 0), const(i32, 0)], inbounds=True))
        return arrays[0], arrays[1], arrays[2], arrays[3]

    def call_divrem(
        self, b: ir.IRBuilder, scratch: tuple[ir.Value, ...], dividend: ir.Value, divisor: ir.Value
    ) -> tuple[ir.Value, ir.Value]:
        """Quotient (low 256 bits) and remainder of dividend (<= 512 bits) by a nonzero word."""
        u, v, q, r = scratch
        self.store_limbs(b, u, dividend, _MAX_U)
        self.store_limbs(b, v, divisor, _MAX_V)
        b.call(self.divrem_fn, [u, self.nlimbs(b, dividend), v, self.nlimbs(b, divisor), q, r])
        quotient = self.join(b, self.load_limbs(b, q, 4), i256)
        remainder = self.join(b, self.load_limbs(b, r, 4), i256)
        return quotient, remainder

    def udivrem256(
        self, b: ir.IRBuilder, scratch: tuple[ir.Value, ...], a: ir.Value, d: ir.Value
    ) -> tuple[ir.Value, ir.Value]:
        """EVM DIV and MOD of two words: (0, 0) when d is zero."""
        fn = b.function
        small_bb = fn.append_basic_block("div_small")
        word_bb = fn.append_basic_block("div_word")
        general_bb = fn.append_basic_block("div_general")
        done_bb = fn.append_basic_block("div_done")
        d_zero = b.icmp_unsigned("==", d, const(i256, 0))
        trivial = b.or_(d_zero, b.icmp_unsigned("<", a, d))
        r_trivial = b.select(d_zero, const(i256, 0), a)
        b.cbranch(trivial, done_bb, small_bb)
        done = Merge(b, done_bb)
        done.arrived(const(i256, 0), r_trivial)

        b.position_at_end(small_bb)  # here 0 < d <= a
        double: tuple[ir.Value, ...] = ()
        if self.preinv:
            b.cbranch(b.icmp_unsigned("<", a, const(i256, 1 << 64)), word_bb, general_bb)
        else:
            # 128-bit dividend, 64-bit divisor: two hardware divisions, no call
            wide_bb = fn.append_basic_block("div_wide")
            double_bb = fn.append_basic_block("div_double")
            b.cbranch(b.icmp_unsigned("<", a, const(i256, 1 << 64)), word_bb, wide_bb)
            b.position_at_end(wide_bb)
            double = b.and_(
                b.icmp_unsigned("<", a, const(i256, 1 << 128)),
                b.icmp_unsigned("<", d, const(i256, 1 << 64)),
            )
            b.cbranch(double, double_bb, general_bb)
            b.position_at_end(double_bb)
            d64 = b.trunc(d, i64)
            hi = b.trunc(b.lshr(a, const(i256, 64)), i64)
            q_hi, r_hi = b.udiv(hi, d64), b.urem(hi, d64)
            q_lo, r_lo = self.div2by1(b, r_hi, b.trunc(a, i64), d64)
            double = (self.join(b, [q_lo, q_hi], i256), b.zext(r_lo, i256))
            b.branch(done_bb)  # (its phi incomings come last)

        b.position_at_end(word_bb)
        a64, d64 = b.trunc(a, i64), b.trunc(d, i64)
        done.arrive(b.zext(b.udiv(a64, d64), i256), b.zext(b.urem(a64, d64), i256))

        b.position_at_end(general_bb)
        done.arrive(*self.call_divrem(b, scratch, a, d))
        if double:
            done.arrived(*double, block=double_bb)
        qphi, rphi = done.phis(i256, "q", "r")
        return qphi, rphi
