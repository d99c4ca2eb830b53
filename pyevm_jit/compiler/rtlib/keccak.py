"""Keccak-256: each 136-byte block is absorbed inside the permutation function, which keeps the
25 lanes in registers across its 24 rounds."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.compiler.irflow import enter_loop
from pyevm_jit.compiler.rtlib.limbs import LibraryBase
from pyevm_jit.compiler.rtlib.signatures import _KECCAK, I8P, I64P, VOID, const, i32, i64

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


class Keccak(LibraryBase):
    """Keccak-f[1600] (internal) and the exported `pyevmjit_keccak256`."""

    keccak_f: ir.Function

    def define_keccak_f(self) -> None:
        self.keccak_f = self._keccak_f()

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
        rc_table.initializer = ir.Constant(rc_type, [const(i64, v) for v in KECCAK_ROUND_CONSTANTS])
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("rounds")
        done = fn.append_basic_block("done")
        b = ir.IRBuilder(entry)
        lanes0 = self.load_limbs(b, state, 25)
        for idx in range(KECCAK_RATE // 8):
            src = b.bitcast(b.gep(block, [const(i64, 8 * idx)], inbounds=True), I64P)
            lanes0[idx] = b.xor(lanes0[idx], b.load(src, align=1))
        rnd, *phis = enter_loop(
            b, loop, (i32, "round", const(i32, 0)), *((i64, f"a{k}", lanes0[k]) for k in range(25))
        )

        def rot(x: ir.Value, n: int) -> ir.Value:
            return x if n == 0 else b.call(self.fshl64, [x, x, const(i64, n)])

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
            A = {
                (x, y): b.xor(B[(x, y)], b.and_(b.not_(B[((x + 1) % 5, y)]), B[((x + 2) % 5, y)]))
                for x in range(5)
                for y in range(5)
            }
            # iota
            index = b.add(rnd, const(i32, step)) if step else rnd
            rc = b.load(b.gep(rc_table, [const(i32, 0), index], inbounds=True))
            A[(0, 0)] = b.xor(A[(0, 0)], rc)
        rnd2 = b.add(rnd, const(i32, _KECCAK_UNROLL))
        rnd.add_incoming(rnd2, loop)
        for idx in range(25):
            phis[idx].add_incoming(A[(idx % 5, idx // 5)], loop)
        b.cbranch(b.icmp_unsigned("<", rnd2, const(i32, 24)), loop, done)

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
        state = b.gep(state_arr, [const(i32, 0), const(i32, 0)], inbounds=True)
        lanes = KECCAK_RATE // 8
        last_arr = b.alloca(ir.ArrayType(i64, lanes), name="last")
        last = b.gep(last_arr, [const(i32, 0), const(i32, 0)], inbounds=True)
        for idx in range(25):
            b.store(const(i64, 0), self.elt(b, state, idx))
        for idx in range(lanes):
            b.store(const(i64, 0), self.elt(b, last, idx))

        # absorb full blocks
        absorb_head = fn.append_basic_block("absorb_head")
        absorb_body = fn.append_basic_block("absorb_body")
        tail = fn.append_basic_block("tail")
        ptr, left = enter_loop(b, absorb_head, (I8P, "p", data), (i64, "left", length))
        b.cbranch(b.icmp_unsigned(">=", left, const(i64, KECCAK_RATE)), absorb_body, tail)
        b.position_at_end(absorb_body)
        b.call(self.keccak_f, [state, ptr])
        ptr.add_incoming(b.gep(ptr, [const(i64, KECCAK_RATE)], inbounds=True), absorb_body)
        left.add_incoming(b.sub(left, const(i64, KECCAK_RATE)), absorb_body)
        b.branch(absorb_head)

        # the last, padded block: whole lanes, then the bytes of the last lane plus padding
        b.position_at_end(tail)
        words_head = fn.append_basic_block("words_head")
        words_body = fn.append_basic_block("words_body")
        bytes_head = fn.append_basic_block("bytes_head")
        bytes_body = fn.append_basic_block("bytes_body")
        finish = fn.append_basic_block("finish")
        wp, wleft, lane = enter_loop(
            b, words_head, (I8P, "wp", ptr), (i64, "wleft", left), (i32, "lane", const(i32, 0))
        )
        b.cbranch(b.icmp_unsigned(">=", wleft, const(i64, 8)), words_body, bytes_head)
        b.position_at_end(words_body)
        b.store(b.load(b.bitcast(wp, I64P), align=1), self.elt(b, last, lane))
        wp.add_incoming(b.gep(wp, [const(i64, 8)], inbounds=True), words_body)
        wleft.add_incoming(b.sub(wleft, const(i64, 8)), words_body)
        lane.add_incoming(b.add(lane, const(i32, 1)), words_body)
        b.branch(words_head)

        b.position_at_end(bytes_head)
        nbytes = wleft  # 0..7
        bi = b.phi(i64, "bi")
        word = b.phi(i64, "word")
        bi.add_incoming(const(i64, 0), words_head)
        word.add_incoming(const(i64, 0), words_head)
        b.cbranch(b.icmp_unsigned("<", bi, nbytes), bytes_body, finish)
        b.position_at_end(bytes_body)
        byte = b.zext(b.load(b.gep(wp, [bi], inbounds=True)), i64)
        bi.add_incoming(b.add(bi, const(i64, 1)), bytes_body)
        word.add_incoming(b.or_(word, b.shl(byte, b.mul(bi, const(i64, 8)))), bytes_body)
        b.branch(bytes_head)

        b.position_at_end(finish)
        pad = b.shl(const(i64, 1), b.mul(nbytes, const(i64, 8)))  # 0x01 after the message
        b.store(b.or_(word, pad), self.elt(b, last, lane))
        final = self.elt(b, last, lanes - 1)
        b.store(b.or_(b.load(final), const(i64, 1 << 63)), final)  # 0x80 in the last byte
        b.call(self.keccak_f, [state, b.bitcast(last, I8P)])
        for idx in range(4):
            out_lane = b.bitcast(b.gep(out, [const(i64, 8 * idx)], inbounds=True), I64P)
            b.store(b.load(self.elt(b, state, idx)), out_lane, align=1)
        b.ret_void()
