"""LLVM types shared by the code generator: words, the context struct, the runtime library's
functions, constants."""

from __future__ import annotations

import llvmlite.ir as llvmlite_ir

from pyevm_jit.abi import CONTEXT_FIELDS
from pyevm_jit.compiler import rtlib
from pyevm_jit.compiler.codegen.irtext import (
    SMALL_CONSTANT_LIMIT,
    VOID,
    Constant,
    FunctionType,
    PointerType,
    StructType,
    Type,
    const,
    int_type,
)

i1 = int_type(1)
i8 = int_type(8)
i32 = int_type(32)
i64 = int_type(64)
i128 = int_type(128)
i256 = int_type(256)
i8p = PointerType(i8)
i64p = PointerType(i64)
i256p = PointerType(i256)
void = VOID

CONTEXT_TYPE = StructType([i8p if is_ptr else i64 for _, is_ptr in CONTEXT_FIELDS], "%Ctx")
CONTEXT_TYPE_DEF = (
    "%Ctx = type {" + ", ".join("ptr" if is_ptr else "i64" for _, is_ptr in CONTEXT_FIELDS) + "}"
)
CONTEXT_PTR = PointerType(CONTEXT_TYPE)

ENTRY_TYPE = FunctionType(i32, [CONTEXT_PTR])


def from_llvmlite(ty: llvmlite_ir.Type) -> Type:
    """The type of llvmlite's `ty` (integers, void, pointers: opaque `ptr`, as every pointer
    here) in the code generator's vocabulary."""
    if isinstance(ty, llvmlite_ir.PointerType):
        return i8p
    if isinstance(ty, llvmlite_ir.VoidType):
        return VOID
    if isinstance(ty, llvmlite_ir.IntType):
        return int_type(ty.width)
    raise TypeError(f"no code generator type for {ty}")


#: the runtime library's exported functions (`rtlib.SIGNATURES`), as programs declare them
RTLIB_SIGNATURES: dict[str, FunctionType] = {
    name: FunctionType(from_llvmlite(fnty.return_type), [from_llvmlite(a) for a in fnty.args])
    for name, fnty in rtlib.SIGNATURES.items()
}

TRUE = Constant(i1, 1)
FALSE = Constant(i1, 0)


def c8(v: int) -> Constant:
    return const(i8, v)


def c32(v: int) -> Constant:
    return const(i32, v)


_C64: dict[int, Constant] = {}


def c64(v: int) -> Constant:
    if 0 <= v < SMALL_CONSTANT_LIMIT:  # (the most frequent type: its own table, same bound)
        found = _C64.get(v)
        if found is None:
            found = _C64[v] = const(i64, v)
        return found
    return Constant(i64, v)


def c128(v: int) -> Constant:
    return const(i128, v)


def c256(v: int) -> Constant:
    return const(i256, v)
