"""LLVM types shared by the code generator: words, the context struct, constants."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.abi import CONTEXT_FIELDS

i1 = ir.IntType(1)
i8 = ir.IntType(8)
i32 = ir.IntType(32)
i64 = ir.IntType(64)
i128 = ir.IntType(128)
i256 = ir.IntType(256)
i8p = i8.as_pointer()
i256p = i256.as_pointer()

CONTEXT_TYPE = ir.LiteralStructType([i8p if is_ptr else i64 for _, is_ptr in CONTEXT_FIELDS])
CONTEXT_PTR = CONTEXT_TYPE.as_pointer()

ENTRY_TYPE = ir.FunctionType(i32, [CONTEXT_PTR])


def c8(v: int) -> ir.Constant:
    return ir.Constant(i8, v)


def c32(v: int) -> ir.Constant:
    return ir.Constant(i32, v)


def c64(v: int) -> ir.Constant:
    return ir.Constant(i64, v)


def c128(v: int) -> ir.Constant:
    return ir.Constant(i128, v)


def c256(v: int) -> ir.Constant:
    return ir.Constant(i256, v % (1 << 256))


def constant_int(value: ir.Value) -> int | None:
    """The Python integer of an i256 constant, or None when the value is not constant."""
    if isinstance(value, ir.Constant) and isinstance(value.constant, int):
        return int(value.constant) % (1 << 256)
    return None
