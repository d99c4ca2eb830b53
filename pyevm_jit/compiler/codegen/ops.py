"""Native instructions: arithmetic, comparisons, bitwise ops, stack, memory and data reads.

Semantics follow py-evm's logic functions (eth/vm/logic/*.py); LLVM's undefined cases (shifts
of 256 or more, division by zero) are guarded explicitly.

Narrow values (see vstack): comparisons leave an i1, sizes and other small results an i64;
operations that can work on the narrow form do (a comparison of a selector, ISZERO of a
comparison, AND of two flags), which spares code generation most of the 256-bit work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pyevm_jit.compiler.analysis import Instruction
from pyevm_jit.compiler.codegen.irtext import IRBuilder, Value, constant_int
from pyevm_jit.compiler.codegen.types import (
    FALSE,
    TRUE,
    c64,
    c256,
    i1,
    i64,
    i256,
)
from pyevm_jit.compiler.codegen.vstack import VirtualStack, narrow64, widen
from pyevm_jit.compiler.irflow import Merge
from pyevm_jit.opcodes import BY_NAME, OPCODES

if TYPE_CHECKING:
    from pyevm_jit.compiler.codegen.program import ProgramBuilder

Emitter = Callable[["ProgramBuilder", Instruction, VirtualStack, int], None]
_EMITTERS: dict[int, Emitter] = {}


def _op(*names: str) -> Callable[[Emitter], Emitter]:
    """Register an emitter for the opcodes of these names (`opcodes.OPCODES`; every opcode of
    kind NATIVE has exactly one emitter: tests/compiler/test_emitters.py)."""

    def register(fn: Emitter) -> Emitter:
        for name in names:
            op = BY_NAME[name]
            if op in _EMITTERS or OPCODES[op].name != name:
                raise ValueError(f"emitter for {name}: registered twice or not the table's name")
            _EMITTERS[op] = fn
        return fn

    return register


def emitters() -> dict[str, Emitter]:
    """The registered emitters by opcode name."""
    return {OPCODES[op].name: fn for op, fn in _EMITTERS.items()}


def _name(instr: Instruction) -> str:
    return OPCODES[instr.opcode].name


def emit(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, gas_after: int) -> None:
    _EMITTERS[instr.opcode](pb, instr, vs, gas_after)


def truth(b: IRBuilder, value: Value) -> Value:
    """i1: whether a stack value is non-zero."""
    if value.type is i1:
        return value
    return b.icmp_unsigned("!=", value, _zero(value))


def _zero(value: Value) -> Value:
    return c64(0) if value.type is i64 else c256(0)


def _same_width(b: IRBuilder, x: Value, y: Value) -> tuple[Value, Value]:
    """Both as i64 when both are known to be below 2^64, else both as i256."""
    nx, ny = _as64(b, x), _as64(b, y)
    if nx is not None and ny is not None:
        return nx, ny
    return widen(b, x), widen(b, y)


def _as64(b: IRBuilder, value: Value) -> Value | None:
    return narrow64(b, value)


# --- arithmetic --------------------------------------------------------------------------------
@_op("ADD", "MUL", "SUB")
def _add_mul_sub(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    a, b_ = vs.pop(), vs.pop()
    build = {"ADD": pb.b.add, "MUL": pb.b.mul, "SUB": pb.b.sub}[_name(instr)]
    vs.push(build(a, b_))


def _fits64(b: IRBuilder, *values: Value) -> Value:
    combined = values[0]
    for v in values[1:]:
        combined = b.or_(combined, v)
    return b.icmp_unsigned("==", b.lshr(combined, c256(64)), c256(0))


def _divmod64(b: IRBuilder, a64: Value, d64: Value, is_div: bool) -> Value:
    zero = b.icmp_unsigned("==", d64, c64(0))
    safe = b.select(zero, c64(1), d64)
    q = b.udiv(a64, safe) if is_div else b.urem(a64, safe)
    return b.select(zero, c64(0), q)


def _unsigned_divmod(pb: ProgramBuilder, a: Value, d: Value, is_div: bool) -> Value:
    """DIV / MOD with a 64-bit fast path; the 256-bit case calls the runtime library."""
    b = pb.b
    na, nd = _as64(b, a), _as64(b, d)
    if na is not None and nd is not None:
        return _divmod64(b, na, nd, is_div)
    a, d = widen(b, a), widen(b, d)
    fast = pb.fn.append_basic_block("div64")
    slow = pb.fn.append_basic_block("div256")
    done = Merge(b, pb.fn.append_basic_block("div_done"))
    b.cbranch(_fits64(b, a, d), fast, slow)

    b.position_at_end(fast)
    done.arrive(b.zext(_divmod64(b, b.trunc(a, i64), b.trunc(d, i64), is_div), i256))

    b.position_at_end(slow)
    done.arrive(pb.call_rt_words("pyevmjit_udiv256" if is_div else "pyevmjit_umod256", a, d))
    return done.phis(i256)[0]


@_op("DIV", "MOD")
def _div_mod(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    a, d = vs.pop_any(), vs.pop_any()
    const_d = constant_int(d)
    if const_d is not None and const_d and const_d & (const_d - 1) == 0:
        # power of two divisor: a shift or a mask
        shift = const_d.bit_length() - 1
        a = widen(pb.b, a)
        if _name(instr) == "DIV":
            vs.push(pb.b.lshr(a, c256(shift)))
        else:
            vs.push(pb.b.and_(a, c256(const_d - 1)))
        return
    vs.push(_unsigned_divmod(pb, a, d, _name(instr) == "DIV"))


@_op("SDIV", "SMOD")
def _sdiv_smod(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    a, d = vs.pop(), vs.pop()
    vs.push(
        pb.call_rt_words("pyevmjit_sdiv256" if _name(instr) == "SDIV" else "pyevmjit_smod256", a, d)
    )


@_op("ADDMOD", "MULMOD")
def _addmod_mulmod(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    a, b_, n = vs.pop(), vs.pop(), vs.pop()
    name = "pyevmjit_addmod256" if _name(instr) == "ADDMOD" else "pyevmjit_mulmod256"
    vs.push(pb.call_rt_words(name, a, b_, n))


@_op("EXP")
def _exp(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    base, exponent = vs.pop(), vs.pop()
    per_byte = pb.spec.gas.exp_byte
    if per_byte:
        ctlz = pb.module.declare_intrinsic("llvm.ctlz", [i256])
        bits = b.sub(c256(256), b.call(ctlz, [exponent, FALSE]))
        nbytes = b.trunc(b.lshr(b.add(bits, c256(7)), c256(3)), i64)
        pb.charge(b.mul(nbytes, c64(per_byte)), instr.pc)
    const_e = constant_int(exponent)
    const_base = constant_int(base)
    if const_e is not None and const_e < 4:
        result: Value = c256(1)
        for _ in range(const_e):
            result = b.mul(result, base)
        vs.push(result)
    elif const_base is not None and const_base > 1 and const_base & (const_base - 1) == 0:
        # (2^k)^e = 1 << (k*e), zero once the shift reaches 256
        k = const_base.bit_length() - 1
        shift = b.mul(exponent, c256(k))
        big = b.or_(
            b.icmp_unsigned(">=", exponent, c256(256)),
            b.icmp_unsigned(">=", shift, c256(256)),
        )
        safe = b.select(big, c256(0), shift)
        vs.push(b.select(big, c256(0), b.shl(c256(1), safe)))
    else:
        vs.push(pb.call_rt_words("pyevmjit_exp256", base, exponent))


@_op("SIGNEXTEND")
def _signextend(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    byte_index, value = vs.pop(), vs.pop()
    small = b.icmp_unsigned("<", byte_index, c256(31))
    shift = b.select(small, b.sub(c256(248), b.mul(byte_index, c256(8))), c256(0))
    extended = b.ashr(b.shl(value, shift), shift)
    vs.push(b.select(small, extended, value))


# --- comparison and bitwise --------------------------------------------------------------------
_CMP = {
    "LT": ("<", False),
    "GT": (">", False),
    "SLT": ("<", True),
    "SGT": (">", True),
    "EQ": ("==", False),
}


@_op(*_CMP)
def _compare(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    a, b_ = vs.pop_any(), vs.pop_any()
    op, signed = _CMP[_name(instr)]
    if signed:
        vs.push(b.icmp_signed(op, widen(b, a), widen(b, b_)))
        return
    x, y = _same_width(b, a, b_)
    vs.push(b.icmp_unsigned(op, x, y))


@_op("ISZERO")
def _iszero(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    value = vs.pop_any()
    if value.type is i1:
        vs.push(pb.b.xor(value, TRUE))
    else:
        vs.push(pb.b.icmp_unsigned("==", value, _zero(value)))


_BITWISE = {"AND": "and_", "OR": "or_", "XOR": "xor"}


@_op(*_BITWISE)
def _bitwise(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    a, b_ = vs.pop_any(), vs.pop_any()
    build = getattr(b, _BITWISE[_name(instr)])
    if a.type is i1 and b_.type is i1:
        vs.push(build(a, b_))
        return
    if _name(instr) == "AND":
        # AND with a value below 2^64 is below 2^64
        na, nb = _as64(b, a), _as64(b, b_)
        if na is not None or nb is not None:
            x = na if na is not None else b.trunc(widen(b, a), i64)
            y = nb if nb is not None else b.trunc(widen(b, b_), i64)
            vs.push(b.and_(x, y))
            return
    x, y = _same_width(b, a, b_)
    vs.push(build(x, y))


@_op("CLZ")
def _clz(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    """CLZ (EIP-7939, Osaka): the leading zero bits of the word, 256 for zero (LLVM's ctlz with
    zero defined); the count fits 64 bits."""
    value = vs.pop()
    known = constant_int(value)
    if known is not None:
        vs.push(c64(256 - known.bit_length()))
        return
    ctlz = pb.module.declare_intrinsic("llvm.ctlz", [i256])
    vs.push(pb.b.trunc(pb.b.call(ctlz, [value, FALSE]), i64))


@_op("NOT")
def _not(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(pb.b.not_(vs.pop()))


@_op("BYTE")
def _byte(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    index, value = vs.pop(), vs.pop()
    const_index = constant_int(index)
    if const_index is not None:
        if const_index >= 32:
            vs.push(c64(0))
        else:
            byte = b.and_(b.lshr(value, c256(248 - 8 * const_index)), c256(0xFF))
            vs.push(b.trunc(byte, i64))
        return
    inside = b.icmp_unsigned("<", index, c256(32))
    shift = b.select(inside, b.sub(c256(248), b.mul(index, c256(8))), c256(0))
    byte = b.trunc(b.and_(b.lshr(value, shift), c256(0xFF)), i64)
    vs.push(b.select(inside, byte, c64(0)))


@_op("SHL", "SHR", "SAR")
def _shift(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    b = pb.b
    shift, value = vs.pop(), vs.pop()
    name = _name(instr)
    const_shift = constant_int(shift)
    if const_shift is not None:
        if const_shift >= 256:
            vs.push(b.ashr(value, c256(255)) if name == "SAR" else c64(0))
        elif name == "SHL":
            vs.push(b.shl(value, shift))
        elif name == "SHR":
            shifted = b.lshr(value, shift)
            # SHR by 192 or more leaves a value below 2^64 (a selector, a small field)
            vs.push(b.trunc(shifted, i64) if const_shift >= 192 else shifted)
        else:
            vs.push(b.ashr(value, shift))
        return
    inside = b.icmp_unsigned("<", shift, c256(256))
    safe = b.select(inside, shift, c256(0))
    if name == "SHL":
        vs.push(b.select(inside, b.shl(value, safe), c256(0)))
    elif name == "SHR":
        vs.push(b.select(inside, b.lshr(value, safe), c256(0)))
    else:
        vs.push(b.select(inside, b.ashr(value, safe), b.ashr(value, c256(255))))


@_op("SHA3")
def _sha3(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    offset, size = vs.pop_any(), vs.pop_any()
    vs.push(pb.mem.sha3(offset, size, instr.pc))


# --- message data and code ---------------------------------------------------------------------
@_op("CALLDATALOAD")
def _calldataload(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    offset = vs.pop_any()
    vs.push(
        pb.mem.load_padded_word(pb.load_field("calldata"), pb.load_field("calldata_len"), offset)
    )


@_op("CALLDATASIZE")
def _calldatasize(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(pb.load_field("calldata_len"))


#: the context fields (data, its length) an opcode reads or copies
_DATA = {"CALLDATACOPY": ("calldata", "calldata_len"), "CODECOPY": ("code", "code_len")}


@_op(*_DATA)
def _data_copy(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    mem_off, data_off, size = vs.pop_any(), vs.pop_any(), vs.pop_any()
    data, length = _DATA[_name(instr)]
    pb.mem.copy_from(pb.load_field(data), pb.load_field(length), mem_off, data_off, size, instr.pc)


@_op("CODESIZE")
def _codesize(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(c64(len(pb.code)))


@_op("RETURNDATASIZE")
def _returndatasize(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(pb.load_field("returndata_len"))


@_op("RETURNDATACOPY")
def _returndatacopy(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    mem_off, data_off, size = vs.pop_any(), vs.pop_any(), vs.pop_any()
    pb.mem.returndatacopy(mem_off, data_off, size, instr.pc)


# --- stack, memory, flow -----------------------------------------------------------------------
@_op("POP")
def _pop(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.pop_any()


@_op("MLOAD")
def _mload(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(pb.mem.mload(vs.pop_split(), instr.pc))


@_op("MSTORE")
def _mstore(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    offset = vs.pop_split()
    pb.mem.mstore(offset, vs.pop_any(), instr.pc)


@_op("MSTORE8")
def _mstore8(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    offset = vs.pop_split()
    pb.mem.mstore8(offset, vs.pop_any(), instr.pc)


@_op("PC")
def _pc(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(c64(instr.pc))


@_op("MSIZE")
def _msize(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(pb.mem.msize())


@_op("GAS")
def _gas(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, gas_after: int) -> None:
    # the block prepaid the static gas of the instructions after this one: give it back
    vs.push(pb.b.add(pb.b.load(pb.gas_var), c64(gas_after)))


@_op("JUMPDEST")
def _jumpdest(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    pass


@_op("MCOPY")
def _mcopy(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    dst, src, size = vs.pop_any(), vs.pop_any(), vs.pop_any()
    pb.mem.mcopy(dst, src, size, instr.pc)


@_op(*(f"PUSH{n}" for n in range(33)))
def _push(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.push(c256(instr.immediate))


@_op(*(f"DUP{n}" for n in range(1, 17)))
def _dup(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.dup(OPCODES[instr.opcode].inputs)  # DUPn reads n items


@_op(*(f"SWAP{n}" for n in range(1, 17)))
def _swap(pb: ProgramBuilder, instr: Instruction, vs: VirtualStack, _: int) -> None:
    vs.swap(OPCODES[instr.opcode].inputs - 1)  # SWAPn reads n + 1 items
