"""Native runtime library: 256-bit division and modular arithmetic, EXP, Keccak-256, memory
expansion, and the fast paths of the native state operations (SLOAD, SSTORE, TLOAD, TSTORE,
LOG0-4).

The library is generated as LLVM IR with llvmlite, compiled once per process
(`compile_rtlib_object`) and linked into the process-wide LLJIT by `pyevm_jit.compiler.link`.
Generated programs declare the exported functions with `declare_rtlib` and call them with
pointers to 256-bit words (LLVM's in-memory `i256`); results go through the last pointer.

Every exported function loads all of its inputs before it writes its output, so the output may
alias any input.

Division works on 64-bit limbs: a short division for one-limb divisors and Knuth's algorithm D
(TAOCP vol. 2, 4.3.1) otherwise, specialised per divisor length with the partial remainder in
registers, for dividends of up to 512 bits (the MULMOD product). Each quotient digit comes from
the `div` instruction on x86-64 (LLVM would call `__udivti3` for an i128 division); elsewhere
from a precomputed reciprocal and multiplications (Moller and Granlund, "Improved division by
invariant integers", 2011). DIV and MOD also have inline 64- and 128-bit fast paths.

Keccak-256 absorbs each 136-byte block inside the permutation function, which keeps the 25
lanes in registers across its 24 rounds.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

import llvmlite.binding as llvm
import llvmlite.ir as ir

if TYPE_CHECKING:
    from pyevm_jit.abi import SlotCacheLayout
    from pyevm_jit.state_rules import SstoreRule

i1 = ir.IntType(1)
i8 = ir.IntType(8)
i32 = ir.IntType(32)
i64 = ir.IntType(64)
i128 = ir.IntType(128)
i256 = ir.IntType(256)
i320 = ir.IntType(320)
i512 = ir.IntType(512)
VOID = ir.VoidType()
I8P = i8.as_pointer()
I64P = i64.as_pointer()
I32P = i32.as_pointer()
I256P = i256.as_pointer()

_WORD2 = ir.FunctionType(VOID, [I256P, I256P, I256P])
_WORD3 = ir.FunctionType(VOID, [I256P, I256P, I256P, I256P])
_KECCAK = ir.FunctionType(VOID, [I8P, i64, I8P])
# i64 grow(ctx, gas, end): see _Gen.mem_grow
_MEM_GROW = ir.FunctionType(i64, [I8P, i64, i64])
# void copy_padded(dst, src, src_len, offset, size)
_COPY_PADDED = ir.FunctionType(VOID, [I8P, I8P, i64, i64, i64])
# native state operations (see _Gen.state_ops): i1 op(ctx, gas*, stack_len*, ...)
_STATE_COST = ir.FunctionType(i1, [I8P, I64P, I64P, i64])  # SLOAD, TLOAD, TSTORE: warm cost
_SSTORE = ir.FunctionType(i1, [I8P, I64P, I64P, I64P])  # the rule: SSTORE_RULE_FIELDS
_LOG = ir.FunctionType(i1, [I8P, I64P, I64P, i64, i64, i64])  # topics, fixed cost, per byte
#: the i64 array an SSTORE call points to (`sstore_rule_words`)
SSTORE_RULE_FIELDS = ("net", "static_gas", "sload_gas", "set_gas", "reset_gas", "clears_refund",
                      "sentry")  # fmt: skip

SIGNATURES: dict[str, ir.FunctionType] = {
    "pyevmjit_udiv256": _WORD2,
    "pyevmjit_umod256": _WORD2,
    "pyevmjit_sdiv256": _WORD2,
    "pyevmjit_smod256": _WORD2,
    "pyevmjit_addmod256": _WORD3,
    "pyevmjit_mulmod256": _WORD3,
    "pyevmjit_exp256": _WORD2,
    "pyevmjit_keccak256": _KECCAK,
    "pyevmjit_mem_grow": _MEM_GROW,
    "pyevmjit_copy_padded": _COPY_PADDED,
    "pyevmjit_sload": _STATE_COST,
    "pyevmjit_tload": _STATE_COST,
    "pyevmjit_sstore": _SSTORE,
    "pyevmjit_tstore": _STATE_COST,
    "pyevmjit_log": _LOG,
}
EXPORTED_SYMBOLS: tuple[str, ...] = tuple(SIGNATURES)

# In-memory words are loaded and stored with this alignment: callers' buffers need only be
# 8-byte aligned (ctypes buffers, stack slots).
_WORD_ALIGN = 8
_MAX_U = 8  # dividend limbs (512-bit MULMOD product)
_MAX_V = 4  # divisor limbs


def _function(module: ir.Module, fnty: ir.FunctionType, name: str) -> ir.Function:
    """A function that touches only memory its pointer arguments point to, keeps none of
    them and does not unwind: callers may keep everything else in registers across calls."""
    fn = ir.Function(module, fnty, name)
    fn.attributes.add("nounwind")
    fn.attributes.add("argmemonly")
    for arg in fn.args:
        if isinstance(arg.type, ir.PointerType):
            arg.add_attribute("captures(none)")
    return fn


def _c(ty: ir.IntType, value: int) -> ir.Constant:
    return ir.Constant(ty, value % (1 << ty.width))


# --- Keccak constants (FIPS 202, computed rather than tabulated) --------------------------------

def _keccak_round_constants() -> list[int]:
    """Round constants from the degree-8 LFSR x^8 + x^6 + x^5 + x^4 + 1."""
    state = 1

    def rc_bit() -> int:
        nonlocal state
        bit = state & 1
        state <<= 1
        if state & 0x100:
            state ^= 0x171
        return bit

    constants = []
    for _ in range(24):
        rc = 0
        for j in range(7):
            if rc_bit():
                rc |= 1 << ((1 << j) - 1)
        constants.append(rc)
    return constants


def _keccak_rotations() -> dict[tuple[int, int], int]:
    """Rho offsets r[x, y]: walk (x, y) -> (y, 2x + 3y) from (1, 0)."""
    offsets = {(0, 0): 0}
    x, y = 1, 0
    for t in range(24):
        offsets[(x, y)] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return offsets


KECCAK_ROUND_CONSTANTS = _keccak_round_constants()
KECCAK_ROTATIONS = _keccak_rotations()
KECCAK_RATE = 136
_KECCAK_UNROLL = 2  # rounds per loop iteration (1, 2, 4 and 24 measure about the same)


# --- IR generation ------------------------------------------------------------------------------

class _Gen:
    def __init__(self, module: ir.Module, portable: bool):
        self.m = module
        # portable: no inline assembly, digits by reciprocal (Moller-Granlund) instead of `div`
        self.preinv = portable
        self.ctlz64 = ir.Function(module, ir.FunctionType(i64, [i64, i1]), "llvm.ctlz.i64")
        self.ctlz256 = ir.Function(module, ir.FunctionType(i256, [i256, i1]), "llvm.ctlz.i256")
        fsh = ir.FunctionType(i64, [i64, i64, i64])
        self.fshl64 = ir.Function(module, fsh, "llvm.fshl.i64")
        self.fshr64 = ir.Function(module, fsh, "llvm.fshr.i64")
        if self.preinv:
            self.reciprocal_fn = self._reciprocal_fn()
        self.divrem_fn = self._divrem()
        self.keccak_f = self._keccak_f()

    # -- helpers --------------------------------------------------------------------------------
    def define(self, name: str, fnty: ir.FunctionType, internal: bool = False) -> ir.Function:
        fn = _function(self.m, fnty, name)
        if internal:
            fn.linkage = "internal"
        return fn

    @staticmethod
    def elt(b: ir.IRBuilder, arr: ir.Value, index: ir.Value | int) -> ir.Value:
        idx = _c(i32, index) if isinstance(index, int) else index
        return b.gep(arr, [idx], inbounds=True)

    def div2by1(self, b: ir.IRBuilder, hi: ir.Value, lo: ir.Value, d: ir.Value
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
        b.branch(loop)
        b.position_at_end(loop)
        i = b.phi(i32, "i")
        rem = b.phi(i64, "rem")
        low = b.phi(i64, "low")
        quo = b.phi(i64, "quo")
        i.add_incoming(_c(i32, 0), entry)
        rem.add_incoming(not_d, entry)
        low.add_incoming(_c(i64, -1), entry)
        quo.add_incoming(_c(i64, 0), entry)
        carry = b.icmp_signed("<", rem, _c(i64, 0))  # the bit shifted out of rem
        shifted = b.or_(b.shl(rem, _c(i64, 1)), b.lshr(low, _c(i64, 63)))
        take = b.or_(carry, b.icmp_unsigned(">=", shifted, d))
        rem.add_incoming(b.select(take, b.sub(shifted, d), shifted), loop)
        low.add_incoming(b.shl(low, _c(i64, 1)), loop)
        quo2 = b.or_(b.shl(quo, _c(i64, 1)), b.zext(take, i64))
        quo.add_incoming(quo2, loop)
        i2 = b.add(i, _c(i32, 1))
        i.add_incoming(i2, loop)
        b.cbranch(b.icmp_unsigned("<", i2, _c(i32, 64)), loop, done)
        b.position_at_end(done)
        b.ret(quo2)
        return fn

    @staticmethod
    def hi64(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        return b.trunc(b.lshr(x, _c(x.type, 64)), i64)

    @staticmethod
    def limbs(b: ir.IRBuilder, x: ir.Value) -> list[ir.Value]:
        return [b.trunc(b.lshr(x, _c(x.type, 64 * k)), i64) if k else b.trunc(x, i64)
                for k in range(x.type.width // 64)]

    @staticmethod
    def join(b: ir.IRBuilder, parts: list[ir.Value], ty: ir.IntType) -> ir.Value:
        acc: ir.Value = b.zext(parts[0], ty)
        for k, part in enumerate(parts[1:], start=1):
            acc = b.or_(acc, b.shl(b.zext(part, ty), _c(ty, 64 * k)))
        return acc

    def store_limbs(self, b: ir.IRBuilder, arr: ir.Value, x: ir.Value, total: int) -> None:
        parts = self.limbs(b, x)
        for k in range(total):
            b.store(parts[k] if k < len(parts) else _c(i64, 0), self.elt(b, arr, k))

    def load_limbs(self, b: ir.IRBuilder, arr: ir.Value, count: int) -> list[ir.Value]:
        return [b.load(self.elt(b, arr, k)) for k in range(count)]

    def nlimbs(self, b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """Number of significant 64-bit limbs of x (as i32)."""
        lz = b.call(self.ctlz256 if x.type == i256 else self._ctlz(x.type), [x, _c(i1, 0)])
        used = b.sub(_c(x.type, x.type.width // 64), b.lshr(lz, _c(x.type, 6)))
        return b.trunc(used, i32)

    def _ctlz(self, ty: ir.IntType) -> ir.Function:
        name = f"llvm.ctlz.i{ty.width}"
        existing = self.m.globals.get(name)
        if isinstance(existing, ir.Function):
            return existing
        return ir.Function(self.m, ir.FunctionType(ty, [ty, i1]), name)

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

    def digit(self, b: ir.IRBuilder, u1: ir.Value, u0: ir.Value, d: ir.Value,
              dinv: ir.Value | None) -> tuple[ir.Value, ir.Value]:
        """(u1:u0) divided by d; requires u1 < d, and d normalised when dinv is given."""
        if dinv is None:
            return self.div2by1(b, u1, u0, d)
        return self.div2by1_preinv(b, u1, u0, d, dinv)

    def div2by1_preinv(self, b: ir.IRBuilder, u1: ir.Value, u0: ir.Value, d: ir.Value,
                       dinv: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(u1:u0) divided by the normalised d with reciprocal dinv; requires u1 < d."""
        prod = b.mul(b.zext(dinv, i128), b.zext(u1, i128))
        est = b.add(prod, b.or_(b.shl(b.zext(b.add(u1, _c(i64, 1)), i128), _c(i128, 64)),
                                b.zext(u0, i128)))
        q1 = self.hi64(b, est)
        q0 = b.trunc(est, i64)
        r = b.sub(u0, b.mul(q1, d))
        over = b.icmp_unsigned(">", r, q0)
        q1 = b.select(over, b.sub(q1, _c(i64, 1)), q1)
        r = b.select(over, b.add(r, d), r)
        again = b.icmp_unsigned(">=", r, d)
        q1 = b.select(again, b.add(q1, _c(i64, 1)), q1)
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
        un = b.gep(un_arr, [_c(i32, 0), _c(i32, 0)], inbounds=True)
        zero64 = _c(i64, 0)
        for k in range(_MAX_U):
            b.store(zero64, self.elt(b, q, k))
        short = fn.append_basic_block("short")
        wide = fn.append_basic_block("wide")
        b.cbranch(b.icmp_unsigned("==", vlen, _c(i32, 1)), short, wide)

        b.position_at_end(short)
        d = b.load(self.elt(b, v, 0))
        if not self.preinv:  # the hardware division needs no normalisation
            self._short_division(b, u, ulen, _c(i64, 0), d, None, _c(i64, 0), q, r)
        else:
            s = b.call(self.ctlz64, [d, _c(i1, 1)])
            self._normalise(b, u, un, s)
            dn = b.shl(d, s)
            rem0 = b.load(self.elt(b, un, ulen))
            self._short_division(b, un, ulen, rem0, dn, self.reciprocal(b, dn), s, q, r)

        # normalise: shift both operands left until the divisor's top bit is set
        b.position_at_end(wide)
        s = b.call(self.ctlz64, [b.load(self.elt(b, v, b.sub(vlen, _c(i32, 1)))), _c(i1, 1)])
        self._normalise(b, u, un, s)
        vl = self.load_limbs(b, v, _MAX_V)
        vn = [b.shl(vl[0], s)] + [b.call(self.fshl64, [vl[k], vl[k - 1], s])
                                  for k in range(1, _MAX_V)]
        blocks = {n: fn.append_basic_block(f"by{n}") for n in range(2, _MAX_V + 1)}
        switch = b.switch(vlen, blocks[_MAX_V])
        for n in range(2, _MAX_V):
            switch.add_case(_c(i32, n), blocks[n])
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
        b.store(b.call(self.fshl64, [_c(i64, 0), ul[_MAX_U - 1], s]), self.elt(b, un, _MAX_U))

    def _short_division(self, b: ir.IRBuilder, u: ir.Value, ulen: ir.Value, rem0: ir.Value,
                        d: ir.Value, dinv: ir.Value | None, s: ir.Value, q: ir.Value,
                        r: ir.Value) -> None:
        """Division of rem0:u[ulen-1 .. 0] by one limb d (rem0 < d); the remainder is >> s.

        With a reciprocal dinv, d and u must be normalised.
        """
        fn = b.function
        start = b.block
        top = b.sub(ulen, _c(i32, 1))
        loop = fn.append_basic_block("short_loop")
        done = fn.append_basic_block("short_done")
        b.branch(loop)
        b.position_at_end(loop)
        i = b.phi(i32, "i")
        rem = b.phi(i64, "rem")
        i.add_incoming(top, start)
        rem.add_incoming(rem0, start)
        digit, rem2 = self.digit(b, rem, b.load(self.elt(b, u, i)), d, dinv)
        b.store(digit, self.elt(b, q, i))
        i2 = b.sub(i, _c(i32, 1))
        i.add_incoming(i2, loop)
        rem.add_incoming(rem2, loop)
        b.cbranch(b.icmp_signed(">=", i2, _c(i32, 0)), loop, done)
        b.position_at_end(done)
        b.store(b.lshr(rem2, s), self.elt(b, r, 0))
        for k in range(1, _MAX_V):
            b.store(_c(i64, 0), self.elt(b, r, k))
        b.ret_void()

    def _knuth(self, b: ir.IRBuilder, n: int, un: ir.Value, ulen: ir.Value, vn: list[ir.Value],
               s: ir.Value, q: ir.Value, r: ir.Value) -> None:
        """Algorithm D for an n-limb normalised divisor vn (n >= 2), partial remainder in SSA.

        Step j divides the window un[j] plus the n-limb partial remainder R by vn; R starts
        as un[ulen-n+1 .. ulen] and ends as the normalised remainder.
        """
        fn = b.function
        start = b.block
        vtop, vsec = vn[n - 1], vn[n - 2]
        vinv = self.reciprocal(b, vtop)
        j0 = b.sub(ulen, _c(i32, n))
        r_init = [b.load(self.elt(b, un, b.add(j0, _c(i32, k + 1)))) for k in range(n)]
        loop = fn.append_basic_block(f"d{n}_step")
        addback = fn.append_basic_block(f"d{n}_addback")
        next_bb = fn.append_basic_block(f"d{n}_next")
        done = fn.append_basic_block(f"d{n}_done")
        b.branch(loop)

        b.position_at_end(loop)
        j = b.phi(i32, "j")
        j.add_incoming(j0, start)
        rem_phis = []
        for k in range(n):
            phi = b.phi(i64, f"r{k}")
            phi.add_incoming(r_init[k], start)
            rem_phis.append(phi)
        w = [b.load(self.elt(b, un, j))] + rem_phis  # n + 1 limbs
        hi, lo, lo2 = w[n], w[n - 1], w[n - 2]
        # estimate qhat from the top two limbs; hi == vtop gives qhat = 2^64 - 1 (hi > vtop
        # cannot happen since R < vn)
        big = b.icmp_unsigned(">=", hi, vtop)
        qd, rd = self.digit(b, b.select(big, _c(i64, 0), hi), lo, vtop, vinv)
        qhat0 = b.select(big, _c(i64, -1), qd)
        rhat0 = b.select(big, b.add(b.zext(lo, i128), b.zext(vtop, i128)), b.zext(rd, i128))
        two64 = _c(i128, 1 << 64)
        vsec128 = b.zext(vsec, i128)
        lo2_128 = b.zext(lo2, i128)

        def too_big(lhs: ir.Value, rh: ir.Value) -> ir.Value:
            """qhat * vsec > rh:lo2 (never when rh has 65 bits)."""
            fits = b.icmp_unsigned("<", rh, two64)
            rhs = b.or_(b.shl(rh, _c(i128, 64)), lo2_128)
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
        carry: ir.Value = _c(i64, 0)
        prod: list[ir.Value] = []
        for k in range(n):
            p = b.add(b.mul(qhat128, b.zext(vn[k], i128)), b.zext(carry, i128))
            prod.append(b.trunc(p, i64))
            carry = self.hi64(b, p)
        prod.append(carry)
        diff = b.sub(b.zext(self.join(b, w, wide), wider), b.zext(self.join(b, prod, wide), wider))
        negative = b.icmp_signed("<", diff, _c(wider, 0))
        low = b.trunc(diff, wide)
        sub = self.limbs(b, low)[:n]
        b.cbranch(negative, addback, next_bb)

        # qhat was one too large (probability about 2^-63): add the divisor back
        b.position_at_end(addback)
        added = self.limbs(b, b.add(low, self.join(b, vn, wide)))[:n]
        q_less = b.sub(qhat, _c(i64, 1))
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
        j2 = b.sub(j, _c(i32, 1))
        j.add_incoming(j2, next_bb)
        b.cbranch(b.icmp_signed(">=", j2, _c(i32, 0)), loop, done)

        b.position_at_end(done)
        for k in range(_MAX_V):
            if k < n - 1:
                limb = b.call(self.fshr64, [new_rem[k + 1], new_rem[k], s])
            elif k == n - 1:
                limb = b.lshr(new_rem[k], s)
            else:
                limb = _c(i64, 0)
            b.store(limb, self.elt(b, r, k))
        b.ret_void()

    # -- 256-bit division inside an exported function -------------------------------------------
    def scratch(self, b: ir.IRBuilder) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
        """Limb arrays (u[8], v[4], q[8], r[4]) for `divrem`, allocated in the entry block."""
        arrays = []
        for name, size in (("u", _MAX_U), ("v", _MAX_V), ("q", _MAX_U), ("r", _MAX_V)):
            arr = b.alloca(ir.ArrayType(i64, size), name=name)
            arrays.append(b.gep(arr, [_c(i32, 0), _c(i32, 0)], inbounds=True))
        return arrays[0], arrays[1], arrays[2], arrays[3]

    def call_divrem(self, b: ir.IRBuilder, scratch: tuple[ir.Value, ...], dividend: ir.Value,
                    divisor: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Quotient (low 256 bits) and remainder of dividend (<= 512 bits) by a nonzero word."""
        u, v, q, r = scratch
        self.store_limbs(b, u, dividend, _MAX_U)
        self.store_limbs(b, v, divisor, _MAX_V)
        b.call(self.divrem_fn, [u, self.nlimbs(b, dividend), v, self.nlimbs(b, divisor), q, r])
        quotient = self.join(b, self.load_limbs(b, q, 4), i256)
        remainder = self.join(b, self.load_limbs(b, r, 4), i256)
        return quotient, remainder

    def udivrem256(self, b: ir.IRBuilder, scratch: tuple[ir.Value, ...], a: ir.Value,
                   d: ir.Value) -> tuple[ir.Value, ir.Value]:
        """EVM DIV and MOD of two words: (0, 0) when d is zero."""
        fn = b.function
        start = b.block
        small_bb = fn.append_basic_block("div_small")
        word_bb = fn.append_basic_block("div_word")
        general_bb = fn.append_basic_block("div_general")
        done_bb = fn.append_basic_block("div_done")
        d_zero = b.icmp_unsigned("==", d, _c(i256, 0))
        trivial = b.or_(d_zero, b.icmp_unsigned("<", a, d))
        r_trivial = b.select(d_zero, _c(i256, 0), a)
        b.cbranch(trivial, done_bb, small_bb)

        b.position_at_end(small_bb)  # here 0 < d <= a
        incoming: list[tuple[ir.Value, ir.Value, ir.Block]] = []
        if self.preinv:
            b.cbranch(b.icmp_unsigned("<", a, _c(i256, 1 << 64)), word_bb, general_bb)
        else:
            # 128-bit dividend, 64-bit divisor: two hardware divisions, no call
            wide_bb = fn.append_basic_block("div_wide")
            double_bb = fn.append_basic_block("div_double")
            b.cbranch(b.icmp_unsigned("<", a, _c(i256, 1 << 64)), word_bb, wide_bb)
            b.position_at_end(wide_bb)
            double = b.and_(b.icmp_unsigned("<", a, _c(i256, 1 << 128)),
                            b.icmp_unsigned("<", d, _c(i256, 1 << 64)))
            b.cbranch(double, double_bb, general_bb)
            b.position_at_end(double_bb)
            d64 = b.trunc(d, i64)
            hi = b.trunc(b.lshr(a, _c(i256, 64)), i64)
            q_hi, r_hi = b.udiv(hi, d64), b.urem(hi, d64)
            q_lo, r_lo = self.div2by1(b, r_hi, b.trunc(a, i64), d64)
            q_double = self.join(b, [q_lo, q_hi], i256)
            incoming.append((q_double, b.zext(r_lo, i256), double_bb))
            b.branch(done_bb)

        b.position_at_end(word_bb)
        a64, d64 = b.trunc(a, i64), b.trunc(d, i64)
        q_word = b.zext(b.udiv(a64, d64), i256)
        r_word = b.zext(b.urem(a64, d64), i256)
        b.branch(done_bb)

        b.position_at_end(general_bb)
        q_gen, r_gen = self.call_divrem(b, scratch, a, d)
        general_end = b.block
        b.branch(done_bb)

        b.position_at_end(done_bb)
        qphi = b.phi(i256, "q")
        rphi = b.phi(i256, "r")
        qphi.add_incoming(_c(i256, 0), start)
        rphi.add_incoming(r_trivial, start)
        qphi.add_incoming(q_word, word_bb)
        rphi.add_incoming(r_word, word_bb)
        qphi.add_incoming(q_gen, general_end)
        rphi.add_incoming(r_gen, general_end)
        for q_in, r_in, block in incoming:
            qphi.add_incoming(q_in, block)
            rphi.add_incoming(r_in, block)
        return qphi, rphi

    # -- exported arithmetic --------------------------------------------------------------------
    def word_function(self, name: str) -> tuple[ir.IRBuilder, list[ir.Value], ir.Value]:
        """Start an exported word function: its builder, loaded inputs and output pointer."""
        fn = self.define(name, SIGNATURES[name])
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        *inputs, out = fn.args
        return b, [b.load(p, align=_WORD_ALIGN) for p in inputs], out

    def finish(self, b: ir.IRBuilder, value: ir.Value, out: ir.Value) -> None:
        b.store(value, out, align=_WORD_ALIGN)
        b.ret_void()

    def udiv_umod(self) -> None:
        for name, pick in (("pyevmjit_udiv256", 0), ("pyevmjit_umod256", 1)):
            b, (a, d), out = self.word_function(name)
            scratch = self.scratch(b)
            self.finish(b, self.udivrem256(b, scratch, a, d)[pick], out)

    def sdiv_smod(self) -> None:
        zero = _c(i256, 0)
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
        zero = _c(i256, 0)
        entry = b.block
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

        b.position_at_end(other_bb)
        b.cbranch(in_range, reduced_bb, nocarry_bb)

        b.position_at_end(reduced_bb)
        over = b.or_(carry, b.icmp_unsigned(">=", s, n))
        r_reduced = b.select(over, b.sub(s, n), s)
        b.branch(done_bb)

        b.position_at_end(nocarry_bb)
        word_bb = fn.append_basic_block("no_carry_div")
        b.cbranch(carry, carry_bb, word_bb)
        b.position_at_end(word_bb)
        _, r_small = self.udivrem256(b, scratch, s, n)
        small_end = b.block
        b.branch(done_bb)

        b.position_at_end(carry_bb)
        wide = b.or_(b.zext(s, i320), b.shl(_c(i320, 1), _c(i320, 256)))
        _, r_wide = self.call_divrem(b, scratch, wide, n)
        carry_end = b.block
        b.branch(done_bb)

        b.position_at_end(done_bb)
        phi = b.phi(i256)
        phi.add_incoming(zero, entry)
        phi.add_incoming(r_reduced, reduced_bb)
        phi.add_incoming(r_small, small_end)
        phi.add_incoming(r_wide, carry_end)
        self.finish(b, phi, out)

    def mulmod(self) -> None:
        b, (a, c, n), out = self.word_function("pyevmjit_mulmod256")
        scratch = self.scratch(b)
        fn = b.function
        zero = _c(i256, 0)
        entry = b.block
        nonzero_bb = fn.append_basic_block("nonzero")
        narrow_bb = fn.append_basic_block("narrow")
        wide_bb = fn.append_basic_block("wide")
        done_bb = fn.append_basic_block("done")
        b.cbranch(b.icmp_unsigned("==", n, zero), done_bb, nonzero_bb)

        b.position_at_end(nonzero_bb)
        product = b.mul(b.zext(a, i512), b.zext(c, i512))
        high = b.trunc(b.lshr(product, _c(i512, 256)), i256)
        b.cbranch(b.icmp_unsigned("==", high, zero), narrow_bb, wide_bb)

        b.position_at_end(narrow_bb)
        _, r_narrow = self.udivrem256(b, scratch, b.trunc(product, i256), n)
        narrow_end = b.block
        b.branch(done_bb)

        b.position_at_end(wide_bb)
        _, r_wide = self.call_divrem(b, scratch, product, n)
        wide_end = b.block
        b.branch(done_bb)

        b.position_at_end(done_bb)
        phi = b.phi(i256)
        phi.add_incoming(zero, entry)
        phi.add_incoming(r_narrow, narrow_end)
        phi.add_incoming(r_wide, wide_end)
        self.finish(b, phi, out)

    def exp(self) -> None:
        b, (base, exponent), out = self.word_function("pyevmjit_exp256")
        fn = b.function
        entry = b.block
        loop = fn.append_basic_block("loop")
        body = fn.append_basic_block("body")
        done = fn.append_basic_block("done")
        b.branch(loop)
        b.position_at_end(loop)
        result = b.phi(i256, "result")
        power = b.phi(i256, "power")
        e = b.phi(i256, "e")
        result.add_incoming(_c(i256, 1), entry)
        power.add_incoming(base, entry)
        e.add_incoming(exponent, entry)
        b.cbranch(b.icmp_unsigned("==", e, _c(i256, 0)), done, body)
        b.position_at_end(body)
        odd = b.trunc(e, i1)
        result.add_incoming(b.select(odd, b.mul(result, power), result), body)
        power.add_incoming(b.mul(power, power), body)
        e.add_incoming(b.lshr(e, _c(i256, 1)), body)
        b.branch(loop)
        b.position_at_end(done)
        self.finish(b, result, out)

    # -- Keccak ---------------------------------------------------------------------------------
    def _keccak_f(self) -> ir.Function:
        """absorb(i64* state, i8* block): xor one 136-byte block into the state, then
        Keccak-f[1600] (lanes little-endian), all 25 lanes kept in registers."""
        fnty = ir.FunctionType(VOID, [I64P, I8P])
        fn = self.define("pyevmjit_keccak_absorb", fnty, internal=True)
        state, block = fn.args
        rc_type = ir.ArrayType(i64, 24)
        rc_table = ir.GlobalVariable(self.m, rc_type, "pyevmjit_keccak_rc")
        rc_table.linkage = "internal"
        rc_table.global_constant = True
        rc_table.initializer = ir.Constant(rc_type, [_c(i64, v) for v in KECCAK_ROUND_CONSTANTS])
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("rounds")
        done = fn.append_basic_block("done")
        b = ir.IRBuilder(entry)
        lanes0 = self.load_limbs(b, state, 25)
        for idx in range(KECCAK_RATE // 8):
            src = b.bitcast(b.gep(block, [_c(i64, 8 * idx)], inbounds=True), I64P)
            lanes0[idx] = b.xor(lanes0[idx], b.load(src, align=1))
        b.branch(loop)

        b.position_at_end(loop)
        rnd = b.phi(i32, "round")
        rnd.add_incoming(_c(i32, 0), entry)
        phis = []
        for idx in range(25):
            phi = b.phi(i64, f"a{idx}")
            phi.add_incoming(lanes0[idx], entry)
            phis.append(phi)

        def rot(x: ir.Value, n: int) -> ir.Value:
            return x if n == 0 else b.call(self.fshl64, [x, x, _c(i64, n)])

        A = {(x, y): phis[x + 5 * y] for x in range(5) for y in range(5)}
        for step in range(_KECCAK_UNROLL):
            # theta
            C = []
            for x in range(5):
                acc = A[(x, 0)]
                for y in range(1, 5):
                    acc = b.xor(acc, A[(x, y)])
                C.append(acc)
            D = [b.xor(C[(x - 1) % 5], rot(C[(x + 1) % 5], 1)) for x in range(5)]
            A = {(x, y): b.xor(A[(x, y)], D[x]) for x in range(5) for y in range(5)}
            # rho and pi
            B: dict[tuple[int, int], ir.Value] = {}
            for x in range(5):
                for y in range(5):
                    B[(y, (2 * x + 3 * y) % 5)] = rot(A[(x, y)], KECCAK_ROTATIONS[(x, y)])
            # chi
            A = {(x, y): b.xor(B[(x, y)],
                               b.and_(b.not_(B[((x + 1) % 5, y)]), B[((x + 2) % 5, y)]))
                 for x in range(5) for y in range(5)}
            # iota
            index = b.add(rnd, _c(i32, step)) if step else rnd
            rc = b.load(b.gep(rc_table, [_c(i32, 0), index], inbounds=True))
            A[(0, 0)] = b.xor(A[(0, 0)], rc)
        rnd2 = b.add(rnd, _c(i32, _KECCAK_UNROLL))
        rnd.add_incoming(rnd2, loop)
        for idx in range(25):
            phis[idx].add_incoming(A[(idx % 5, idx // 5)], loop)
        b.cbranch(b.icmp_unsigned("<", rnd2, _c(i32, 24)), loop, done)

        b.position_at_end(done)
        for idx in range(25):
            b.store(A[(idx % 5, idx // 5)], self.elt(b, state, idx))
        b.ret_void()
        return fn

    def keccak256(self) -> None:
        fn = self.define("pyevmjit_keccak256", _KECCAK)
        data, length, out = fn.args
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        state_arr = b.alloca(ir.ArrayType(i64, 25), name="state")
        state = b.gep(state_arr, [_c(i32, 0), _c(i32, 0)], inbounds=True)
        lanes = KECCAK_RATE // 8
        last_arr = b.alloca(ir.ArrayType(i64, lanes), name="last")
        last = b.gep(last_arr, [_c(i32, 0), _c(i32, 0)], inbounds=True)
        for idx in range(25):
            b.store(_c(i64, 0), self.elt(b, state, idx))
        for idx in range(lanes):
            b.store(_c(i64, 0), self.elt(b, last, idx))

        # absorb full blocks
        absorb_head = fn.append_basic_block("absorb_head")
        absorb_body = fn.append_basic_block("absorb_body")
        tail = fn.append_basic_block("tail")
        b.branch(absorb_head)
        b.position_at_end(absorb_head)
        ptr = b.phi(I8P, "p")
        left = b.phi(i64, "left")
        ptr.add_incoming(data, entry)
        left.add_incoming(length, entry)
        b.cbranch(b.icmp_unsigned(">=", left, _c(i64, KECCAK_RATE)), absorb_body, tail)
        b.position_at_end(absorb_body)
        b.call(self.keccak_f, [state, ptr])
        ptr.add_incoming(b.gep(ptr, [_c(i64, KECCAK_RATE)], inbounds=True), absorb_body)
        left.add_incoming(b.sub(left, _c(i64, KECCAK_RATE)), absorb_body)
        b.branch(absorb_head)

        # the last, padded block: whole lanes, then the bytes of the last lane plus padding
        b.position_at_end(tail)
        words_head = fn.append_basic_block("words_head")
        words_body = fn.append_basic_block("words_body")
        bytes_head = fn.append_basic_block("bytes_head")
        bytes_body = fn.append_basic_block("bytes_body")
        finish = fn.append_basic_block("finish")
        b.branch(words_head)
        b.position_at_end(words_head)
        wp = b.phi(I8P, "wp")
        wleft = b.phi(i64, "wleft")
        lane = b.phi(i32, "lane")
        wp.add_incoming(ptr, tail)
        wleft.add_incoming(left, tail)
        lane.add_incoming(_c(i32, 0), tail)
        b.cbranch(b.icmp_unsigned(">=", wleft, _c(i64, 8)), words_body, bytes_head)
        b.position_at_end(words_body)
        b.store(b.load(b.bitcast(wp, I64P), align=1), self.elt(b, last, lane))
        wp.add_incoming(b.gep(wp, [_c(i64, 8)], inbounds=True), words_body)
        wleft.add_incoming(b.sub(wleft, _c(i64, 8)), words_body)
        lane.add_incoming(b.add(lane, _c(i32, 1)), words_body)
        b.branch(words_head)

        b.position_at_end(bytes_head)
        nbytes = wleft  # 0..7
        bi = b.phi(i64, "bi")
        word = b.phi(i64, "word")
        bi.add_incoming(_c(i64, 0), words_head)
        word.add_incoming(_c(i64, 0), words_head)
        b.cbranch(b.icmp_unsigned("<", bi, nbytes), bytes_body, finish)
        b.position_at_end(bytes_body)
        byte = b.zext(b.load(b.gep(wp, [bi], inbounds=True)), i64)
        bi.add_incoming(b.add(bi, _c(i64, 1)), bytes_body)
        word.add_incoming(b.or_(word, b.shl(byte, b.mul(bi, _c(i64, 8)))), bytes_body)
        b.branch(bytes_head)

        b.position_at_end(finish)
        pad = b.shl(_c(i64, 1), b.mul(nbytes, _c(i64, 8)))  # 0x01 after the message
        b.store(b.or_(word, pad), self.elt(b, last, lane))
        final = self.elt(b, last, lanes - 1)
        b.store(b.or_(b.load(final), _c(i64, 1 << 63)), final)  # 0x80 in the last byte
        b.call(self.keccak_f, [state, b.bitcast(last, I8P)])
        for idx in range(4):
            out_lane = b.bitcast(b.gep(out, [_c(i64, 8 * idx)], inbounds=True), I64P)
            b.store(b.load(self.elt(b, state, idx)), out_lane, align=1)
        b.ret_void()

    # -- memory (programs call these out of line) ------------------------------------------------
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
            return b.gep(fields, [_c(i32, FIELD_INDEX[name])], inbounds=True)

        def cost(words: ir.Value) -> ir.Value:
            linear = b.mul(words, _c(i128, eth_constants.GAS_MEMORY))
            denominator = eth_constants.GAS_MEMORY_QUADRATIC_DENOMINATOR
            square = b.mul(words, words)
            if denominator & (denominator - 1) == 0:  # 512: a shift (no i128 division)
                quad = b.lshr(square, _c(i128, denominator.bit_length() - 1))
            else:
                quad = b.udiv(square, _c(i128, denominator))
            return b.add(linear, quad)

        old_len = b.load(field("memory_len"))
        new_words = b.lshr(b.add(b.zext(end, i128), _c(i128, 31)), _c(i128, 5))
        old_words = b.zext(b.lshr(old_len, _c(i64, 5)), i128)
        fee = b.sub(cost(new_words), cost(old_words))
        oog = b.icmp_unsigned(">", fee, b.zext(gas, i128))
        fail_bb, ok_bb = fn.append_basic_block("oog"), fn.append_basic_block("ok")
        b.cbranch(oog, fail_bb, ok_bb)
        b.position_at_end(fail_bb)
        b.ret(_c(i64, -int(Status.OUT_OF_GAS)))
        b.position_at_end(ok_bb)
        gas_left = b.sub(gas, b.trunc(fee, i64))
        new_len = b.shl(b.trunc(new_words, i64), _c(i64, 5))
        cap = b.load(field("memory_cap"))
        need_bb, done_bb = fn.append_basic_block("realloc"), fn.append_basic_block("done")
        b.cbranch(b.icmp_unsigned(">", new_len, cap), need_bb, done_bb)

        b.position_at_end(need_bb)
        doubled = b.shl(cap, _c(i64, 1))
        new_cap = b.select(b.icmp_unsigned(">", doubled, new_len), doubled, new_len)
        memory_ptr = b.bitcast(field("memory"), I8P.as_pointer())
        new_ptr = b.call(realloc, [b.load(memory_ptr), new_cap])
        null_bb, grown_bb = fn.append_basic_block("null"), fn.append_basic_block("grown")
        b.cbranch(b.icmp_unsigned("==", b.ptrtoint(new_ptr, i64), _c(i64, 0)), null_bb, grown_bb)
        b.position_at_end(null_bb)
        b.ret(_c(i64, -int(Status.MEMORY_ALLOCATION_FAILED)))
        b.position_at_end(grown_bb)
        # keep the invariant: everything past memory_len is zero
        tail = b.gep(new_ptr, [cap])
        b.call(memset, [tail, _c(i8, 0), b.sub(new_cap, cap), _c(i1, 0)])
        b.store(new_ptr, memory_ptr)
        b.store(new_cap, field("memory_cap"))
        b.branch(done_bb)

        b.position_at_end(done_bb)
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
        b.call(memcpy, [dst, b.gep(src, [off]), n, _c(i1, 0)])
        b.call(memset, [b.gep(dst, [n]), _c(i8, 0), b.sub(size, n), _c(i1, 0)])
        b.ret_void()

    # -- native state operations (SLOAD, SSTORE, TLOAD, TSTORE, LOG0-4) ------------------------
    # Programs flush their stack and call these with pointers to their gas and stack length;
    # true: done (gas, stack and the frame's caches updated), false: nothing changed, suspend
    # to py-evm's opcode. See `pyevm_jit.compiler.codegen.state` for when the fast path runs.
    def _state_function(self, name: str) -> tuple[ir.IRBuilder, list[ir.Value], _StateAccess]:
        fn = ir.Function(self.m, SIGNATURES[name], name)
        fn.attributes.add("nounwind")
        for arg in fn.args:
            if isinstance(arg.type, ir.PointerType):
                arg.add_attribute("captures(none)")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        return b, list(fn.args), _StateAccess(b, fn.args[0], fn.args[2])

    @staticmethod
    def _fast_or_fail(b: ir.IRBuilder, ok: ir.Value, name: str) -> None:
        """Continue in a new block when `ok`; return false otherwise."""
        fn = b.function
        fast, fail = fn.append_basic_block(name), fn.append_basic_block(f"not_{name}")
        b.cbranch(ok, fast, fail)
        b.position_at_end(fail)
        b.ret(_c(i1, 0))
        b.position_at_end(fast)

    def state_ops(self) -> None:
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        for name, layout, field, flag in (
            ("pyevmjit_sload", abi.STORAGE_CACHE, "storage_cache", StateFlag.SLOAD),
            ("pyevmjit_tload", abi.TRANSIENT_CACHE, "transient_cache", StateFlag.TLOAD),
        ):
            self._load_op(name, layout, field, int(flag))
        self._sstore_op()
        self._tstore_op()
        self._log_op()

    def _load_op(self, name: str, layout: SlotCacheLayout, field: str, flag: int) -> None:
        """i1 load(ctx, gas*, len*, cost): a slot this frame already read or wrote, at the warm
        cost: the top of the stack (the key) becomes its value."""
        b, (_, gas_p, _, cost), st = self._state_function(name)
        gas = b.load(gas_p)
        ok = b.and_(st.flag(flag), b.and_(st.height_at_least(1), b.icmp_signed(">=", gas, cost)))
        self._fast_or_fail(b, ok, "go")
        top = st.slot(1)
        entry = _CacheEntry(b, st, layout, field, b.load(top, align=_WORD_ALIGN))
        self._fast_or_fail(b, entry.hit, "hit")
        b.store(b.sub(gas, cost), gas_p)
        b.store(b.load(entry.value_ptr, align=_WORD_ALIGN), top, align=_WORD_ALIGN)
        b.ret(_c(i1, 1))

    def _sstore_op(self) -> None:
        """i1 pyevmjit_sstore(ctx, gas*, len*, rule*): py-evm's `sstore` (Frontier) or
        `net_sstore` (EIP-1283/2200) for a cached slot, `rule` as in SSTORE_RULE_FIELDS (the
        sentry: the EIP-2200 stipend, or -2^63 for none)."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        b, (_, gas_p, _, rule_p), st = self._state_function("pyevmjit_sstore")
        rule = {name: b.load(b.gep(rule_p, [_c(i32, k)], inbounds=True))
                for k, name in enumerate(SSTORE_RULE_FIELDS)}  # fmt: skip
        self._fast_or_fail(b, b.and_(st.flag(int(StateFlag.SSTORE)), st.height_at_least(2)), "go")
        key_slot, value_slot = st.slot(1), st.slot(2)
        key = b.load(key_slot, align=_WORD_ALIGN)
        value = b.load(value_slot, align=_WORD_ALIGN)
        entry = _CacheEntry(b, st, abi.STORAGE_CACHE, "storage_cache", key)
        self._fast_or_fail(b, entry.hit, "hit")
        current = b.load(entry.value_ptr, align=_WORD_ALIGN)
        assert entry.original_ptr is not None
        original = b.load(entry.original_ptr, align=_WORD_ALIGN)
        cost, refund = self._sstore_gas(b, rule, current, original, value)
        gas = b.load(gas_p)
        after_static = b.sub(gas, rule["static_gas"])
        ok = b.and_(b.icmp_signed(">=", after_static, cost),
                    b.icmp_signed(">", after_static, rule["sentry"]))  # fmt: skip
        self._fast_or_fail(b, ok, "paid")
        b.store(b.sub(after_static, cost), gas_p)
        refund_p = st.field("refund")
        b.store(b.add(b.load(refund_p), refund), refund_p)
        b.store(value, entry.value_ptr, align=_WORD_ALIGN)
        entry.mark_dirty("dirty_count")
        st.pop(2)
        b.ret(_c(i1, 1))

    @staticmethod
    def _sstore_gas(b: ir.IRBuilder, rule: dict[str, ir.Value], current: ir.Value,
                    original: ir.Value, value: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(cost, refund) as i64: py-evm's `sstore` (Frontier) or `net_sstore`."""
        zero64 = _c(i64, 0)

        def is_zero(x: ir.Value) -> ir.Value:
            return b.icmp_unsigned("==", x, _c(i256, 0))

        def pick(cond: ir.Value, yes: ir.Value, no: ir.Value) -> ir.Value:
            return b.select(cond, yes, no)

        set_gas, reset_gas, sload_gas = rule["set_gas"], rule["reset_gas"], rule["sload_gas"]
        clears = rule["clears_refund"]
        cur0, val0, orig0 = is_zero(current), is_zero(value), is_zero(original)
        # Frontier (eth.vm.logic.storage.sstore)
        frontier_cost = pick(b.and_(cur0, b.not_(val0)), set_gas, reset_gas)
        frontier_refund = pick(b.and_(b.not_(cur0), val0), clears, zero64)
        # EIP-1283 / EIP-2200 net metering (eth.vm.logic.storage.net_sstore)
        unchanged = b.icmp_unsigned("==", current, value)
        clean = b.icmp_unsigned("==", original, current)
        clean_cost = pick(orig0, set_gas, reset_gas)
        net_cost = pick(unchanged, sload_gas, pick(clean, clean_cost, sload_gas))
        clean_refund = pick(b.and_(b.not_(orig0), val0), clears, zero64)
        dirty_clear = b.sub(
            pick(b.and_(b.not_(orig0), val0), clears, zero64),
            pick(b.and_(b.not_(orig0), cur0), clears, zero64),
        )
        restored = pick(orig0, b.sub(set_gas, sload_gas), b.sub(reset_gas, sload_gas))
        dirty_refund = b.add(
            dirty_clear, pick(b.icmp_unsigned("==", original, value), restored, zero64)
        )
        net_refund = pick(unchanged, zero64, pick(clean, clean_refund, dirty_refund))
        net = b.icmp_unsigned("!=", rule["net"], zero64)
        return pick(net, net_cost, frontier_cost), pick(net, net_refund, frontier_refund)

    def _tstore_op(self) -> None:
        """i1 pyevmjit_tstore(ctx, gas*, len*, cost): write the transient slot into the cache;
        an entry dirty with another key fails."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        b, (_, gas_p, _, cost), st = self._state_function("pyevmjit_tstore")
        gas = b.load(gas_p)
        ok = b.and_(st.flag(int(StateFlag.TSTORE)),
                    b.and_(st.height_at_least(2), b.icmp_signed(">=", gas, cost)))  # fmt: skip
        self._fast_or_fail(b, ok, "go")
        key = b.load(st.slot(1), align=_WORD_ALIGN)
        value = b.load(st.slot(2), align=_WORD_ALIGN)
        entry = _CacheEntry(b, st, abi.TRANSIENT_CACHE, "transient_cache", key)
        clean = b.icmp_unsigned("==", b.and_(entry.flags, _c(i8, _DIRTY)), _c(i8, 0))
        self._fast_or_fail(b, b.or_(entry.hit, clean), "usable")
        b.store(b.sub(gas, cost), gas_p)
        b.store(key, entry.key_ptr, align=_WORD_ALIGN)
        b.store(value, entry.value_ptr, align=_WORD_ALIGN)
        entry.mark_dirty("tdirty_count")
        st.pop(2)
        b.ret(_c(i1, 1))

    def _log_op(self) -> None:
        """i1 pyevmjit_log(ctx, gas*, len*, topics, fixed, per_byte): append a record to the
        frame's log buffer (layout in `abi.LOG_RECORD_HEADER`). Memory expansion as py-evm
        charges it, after the topic and data gas; a LOG that cannot pay for it fails (nothing
        changed), and py-evm's opcode reports the error."""
        from pyevm_jit import abi
        from pyevm_jit.abi import StateFlag

        memcpy = self.m.declare_intrinsic("llvm.memcpy", [I8P, I8P, i64])
        mem_grow = self.m.get_global("pyevmjit_mem_grow")
        b, (_, gas_p, _, topics, fixed, per_byte), st = self._state_function("pyevmjit_log")
        fn = b.function
        go = b.and_(st.flag(int(StateFlag.LOG)),
                    st.height_at_least(b.add(topics, _c(i64, 2))))  # fmt: skip
        self._fast_or_fail(b, go, "go")
        offset = b.load(st.slot(1), align=_WORD_ALIGN)
        size = b.load(st.slot(2), align=_WORD_ALIGN)
        small = b.icmp_unsigned("<", size, _c(i256, abi.LOG_MAX_DATA))
        size64 = b.trunc(size, i64)
        padded = b.and_(b.add(size64, _c(i64, 7)), _c(i64, -8))
        record = b.add(padded, b.add(b.mul(topics, _c(i64, 32)), _c(i64, abi.LOG_RECORD_HEADER)))
        log_len_p = st.field("log_len")
        used = b.load(log_len_p)
        fits = b.icmp_unsigned("<=", b.add(used, record), b.load(st.field("log_cap")))
        cost = b.add(b.mul(size64, per_byte), fixed)
        gas = b.load(gas_p)
        self._fast_or_fail(b, b.and_(b.and_(small, fits), b.icmp_signed(">=", gas, cost)), "fits")
        # memory expansion (py-evm charges it after the topic and data gas): offsets at or
        # above 2^63 can never be paid for
        empty = b.icmp_unsigned("==", size64, _c(i64, 0))
        huge = b.icmp_unsigned(">", offset, _c(i256, (1 << 63) - 1))
        self._fast_or_fail(b, b.or_(empty, b.not_(huge)), "payable")
        offset64 = b.select(empty, _c(i64, 0), b.trunc(offset, i64))
        end = b.add(offset64, size64)
        after_log = b.sub(gas, cost)
        entry = b.block
        grow_bb, paid_bb = fn.append_basic_block("grow"), fn.append_basic_block("paid")
        b.cbranch(b.icmp_unsigned(">", end, b.load(st.field("memory_len"))), grow_bb, paid_bb)
        b.position_at_end(grow_bb)
        grown = b.call(mem_grow, [b.function.args[0], after_log, end])
        self._fast_or_fail(b, b.icmp_signed(">=", grown, _c(i64, 0)), "grown")
        grown_bb = b.block
        b.branch(paid_bb)
        b.position_at_end(paid_bb)
        gas_left = b.phi(i64, "gas_left")
        gas_left.add_incoming(after_log, entry)
        gas_left.add_incoming(grown, grown_bb)
        b.store(gas_left, gas_p)
        at = b.gep(st.pointer_field("log_buf", I8P), [used])
        header = b.bitcast(at, I64P)
        b.store(record, header, align=8)
        b.store(topics, b.gep(header, [_c(i64, 1)]), align=8)
        b.store(size64, b.gep(header, [_c(i64, 2)]), align=8)
        topic_words = b.bitcast(b.gep(at, [_c(i64, abi.LOG_RECORD_HEADER)]), I256P)
        # topic k is the stack item 3 + k from the top
        start = b.block
        loop, copied = fn.append_basic_block("topics"), fn.append_basic_block("topics_done")
        b.cbranch(b.icmp_unsigned("==", topics, _c(i64, 0)), copied, loop)
        b.position_at_end(loop)
        k = b.phi(i64, "k")
        k.add_incoming(_c(i64, 0), start)
        word = b.load(st.slot(b.add(k, _c(i64, 3))), align=_WORD_ALIGN)
        b.store(word, b.gep(topic_words, [k]), align=_WORD_ALIGN)
        k_next = b.add(k, _c(i64, 1))
        k.add_incoming(k_next, loop)
        b.cbranch(b.icmp_unsigned("<", k_next, topics), loop, copied)
        b.position_at_end(copied)
        data = b.gep(at, [b.add(b.mul(topics, _c(i64, 32)), _c(i64, abi.LOG_RECORD_HEADER))])
        source = b.gep(st.pointer_field("memory", I8P), [offset64])
        b.call(memcpy, [data, source, size64, _c(i1, 0)])
        b.store(b.add(used, record), log_len_p)
        b.store(_c(i64, 1), st.field("pending"))
        st.pop(b.add(topics, _c(i64, 2)))
        b.ret(_c(i1, 1))


_VALID, _DIRTY = 1, 2


class _StateAccess:
    """The context fields and the EVM stack, as a state operation sees them."""

    def __init__(self, b: ir.IRBuilder, ctx: ir.Value, len_p: ir.Value) -> None:
        from pyevm_jit.abi import FIELD_INDEX

        self.b = b
        self.index = FIELD_INDEX
        self.fields = b.bitcast(ctx, I64P)
        self.len_p = len_p
        self.height = b.load(len_p)
        self._stack: ir.Value | None = None

    def field(self, name: str) -> ir.Value:
        """Pointer to an i64 field."""
        return self.b.gep(self.fields, [_c(i32, self.index[name])], inbounds=True)

    def pointer_field(self, name: str, ty: ir.PointerType) -> ir.Value:
        return self.b.load(self.b.bitcast(self.field(name), ty.as_pointer()))

    def flag(self, flag: int) -> ir.Value:
        flags = self.b.load(self.field("state_flags"))
        return self.b.icmp_unsigned("!=", self.b.and_(flags, _c(i64, flag)), _c(i64, 0))

    def height_at_least(self, count: int | ir.Value) -> ir.Value:
        n = _c(i64, count) if isinstance(count, int) else count
        return self.b.icmp_unsigned(">=", self.height, n)

    def slot(self, depth: int | ir.Value) -> ir.Value:
        """Pointer to the stack item `depth` from the top (1: the top)."""
        b = self.b
        if self._stack is None:
            self._stack = self.pointer_field("stack", I256P)
        d = _c(i64, depth) if isinstance(depth, int) else depth
        return b.gep(self._stack, [b.sub(self.height, d)])

    def pop(self, count: int | ir.Value) -> None:
        n = _c(i64, count) if isinstance(count, int) else count
        self.b.store(self.b.sub(self.height, n), self.len_p)


class _CacheEntry:
    """The cache entry of a key (`abi.SlotCacheLayout`): pointers to its key, value, original
    value and flag byte, and whether it holds the key."""

    def __init__(self, b: ir.IRBuilder, st: _StateAccess, layout: SlotCacheLayout, field: str,
                 key: ir.Value) -> None:  # fmt: skip
        self.b, self.st, self.layout = b, st, layout
        x = b.xor(key, b.lshr(key, _c(i256, 128)))
        x = b.trunc(b.xor(x, b.lshr(x, _c(i256, 64))), i64)
        x = b.xor(x, b.lshr(x, _c(i64, 32)))
        x = b.xor(x, b.lshr(x, _c(i64, 16)))
        self.index = b.and_(x, _c(i64, layout.entries - 1))
        self.base = st.pointer_field(field, I8P)
        words = b.bitcast(self.base, I256P)
        self.key_ptr = b.gep(words, [self.index])
        self.value_ptr = b.gep(words, [b.add(self.index, _c(i64, layout.entries))])
        self.original_ptr = (
            b.gep(words, [b.add(self.index, _c(i64, 2 * layout.entries))])
            if layout.with_original
            else None
        )
        self.flag_ptr = b.gep(self.base, [b.add(self.index, _c(i64, layout.flags_offset))])
        self.flags = b.load(self.flag_ptr)
        valid = b.icmp_unsigned("!=", b.and_(self.flags, _c(i8, _VALID)), _c(i8, 0))
        same = b.icmp_unsigned("==", b.load(self.key_ptr, align=_WORD_ALIGN), key)
        self.hit = b.and_(valid, same)

    def mark_dirty(self, count_field: str) -> None:
        """Set the dirty bit; a newly dirty entry joins the dirty list."""
        b, st = self.b, self.st
        was_dirty = b.icmp_unsigned("!=", b.and_(self.flags, _c(i8, _DIRTY)), _c(i8, 0))
        b.store(b.or_(self.flags, _c(i8, _VALID | _DIRTY)), self.flag_ptr)
        count_p = st.field(count_field)
        count = b.load(count_p)
        dirty_list = b.bitcast(b.gep(self.base, [_c(i64, self.layout.dirty_offset)]), I32P)
        # the list has one spare element, so this store stays in bounds when nothing is added
        b.store(b.trunc(self.index, i32), b.gep(dirty_list, [count]))
        b.store(b.select(was_dirty, count, b.add(count, _c(i64, 1))), count_p)
        b.store(_c(i64, 1), st.field("pending"))


def sstore_rule_words(rule: SstoreRule) -> list[int]:
    """The i64 words of SSTORE_RULE_FIELDS for a rule (what `pyevmjit_sstore` reads)."""
    sentry = -(1 << 63) if rule.sentry is None else rule.sentry
    words = {
        "net": int(rule.family != "frontier"), "static_gas": rule.static_gas,
        "sload_gas": rule.sload_gas, "set_gas": rule.set_gas, "reset_gas": rule.reset_gas,
        "clears_refund": rule.clears_refund, "sentry": sentry,
    }  # fmt: skip
    return [words[name] for name in SSTORE_RULE_FIELDS]


def build_rtlib_module(triple: str | None = None, *, portable: bool | None = None) -> ir.Module:
    """The runtime library as an llvmlite IR module (for `triple`, default: this process).

    `portable` code has no inline assembly: quotient digits come from a precomputed reciprocal
    and multiplications instead of the x86-64 `div` instruction (the default off x86-64 only).
    """
    if triple is None:
        triple = llvm.get_process_triple()
    if portable is None:
        portable = not triple.startswith(("x86_64", "amd64"))
    module = ir.Module(name="pyevmjit_rtlib")
    module.triple = triple
    gen = _Gen(module, portable=portable)
    gen.udiv_umod()
    gen.sdiv_smod()
    gen.addmod()
    gen.mulmod()
    gen.exp()
    gen.keccak256()
    gen.mem_grow()
    gen.copy_padded()
    gen.state_ops()
    return module


def emit_rtlib_object(module: ir.Module, tm: llvm.TargetMachine) -> bytes:
    """Parse, verify, optimise and emit a runtime-library module for `tm` (not cached)."""
    from pyevm_jit.compiler.target import optimise_module

    # the 128-by-64-bit division step is inline assembly on x86-64: emitting object code for
    # it needs the target's assembly parser (LLVM aborts the process without it)
    llvm.initialize_native_asmparser()
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    optimise_module(parsed, 3)
    return bytes(tm.emit_object(parsed))


class ObjectCache(Protocol):
    """Where built runtime-library objects persist beyond this process, by (triple, data
    layout) within this engine (`runtime.rtlib_cache` keeps them in artifact stores). `load`
    answers only an object it has verified; neither method raises."""

    def load(self, key: tuple[str, str]) -> bytes | None: ...

    def save(self, key: tuple[str, str], data: bytes) -> None: ...


_cache_lock = threading.Lock()
_object_cache: dict[tuple[str, str], bytes] = {}
#: persistent caches `compile_rtlib_object` reads before building and writes after (the
#: runtime adds one per artifact store a backend starts with)
object_caches: list[ObjectCache] = []
#: runtime libraries this process built (not found in memory or in `object_caches`)
builds = 0


def compile_rtlib_object(tm: llvm.TargetMachine) -> bytes:
    """Object code of the runtime library for `tm`: built once per process, or found in one of
    `object_caches` (and written to them once built)."""
    global builds
    key = (tm.triple, str(tm.target_data))
    with _cache_lock:
        cached = _object_cache.get(key)
        if cached is None:
            cached = next(filter(None, (c.load(key) for c in object_caches)), None)
            if cached is None:
                cached = emit_rtlib_object(build_rtlib_module(tm.triple), tm)
                builds += 1
                for cache in object_caches:
                    cache.save(key, cached)
            _object_cache[key] = cached
        return cached


def declare_rtlib(module: ir.Module) -> dict[str, ir.Function]:
    """Declare every exported runtime function in `module` (idempotent)."""
    functions: dict[str, ir.Function] = {}
    for name, fnty in SIGNATURES.items():
        existing = module.globals.get(name)
        if isinstance(existing, ir.Function):
            functions[name] = existing
            continue
        functions[name] = _function(module, fnty, name)
    return functions
