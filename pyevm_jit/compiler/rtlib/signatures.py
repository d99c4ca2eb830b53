"""What the runtime library exports, as programs and the library both see it: the functions'
signatures, and the few LLVM helpers every part of the library uses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ir

if TYPE_CHECKING:
    from pyevm_jit.gas_rules import SstoreRule

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
_STATE_COST = ir.FunctionType(i1, [I8P, I64P, I64P, i64])  # TLOAD, TSTORE: the cost
_SLOAD = ir.FunctionType(i1, [I8P, I64P, I64P, i64, i64])  # the warm cost, the cold cost
_SSTORE = ir.FunctionType(i1, [I8P, I64P, I64P, I64P])  # the rule: SSTORE_RULE_FIELDS
_LOG = ir.FunctionType(i1, [I8P, I64P, I64P, i64, i64, i64])  # topics, fixed cost, per byte
#: the i64 array an SSTORE call points to (`sstore_rule_words`)
SSTORE_RULE_FIELDS = ("net", "static_gas", "sload_gas", "set_gas", "reset_gas", "clears_refund",
                      "sentry", "cold_gas")  # fmt: skip

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
    "pyevmjit_sload": _SLOAD,
    "pyevmjit_tload": _STATE_COST,
    "pyevmjit_sstore": _SSTORE,
    "pyevmjit_tstore": _STATE_COST,
    "pyevmjit_log": _LOG,
}
EXPORTED_SYMBOLS: tuple[str, ...] = tuple(SIGNATURES)

# In-memory words are loaded and stored with this alignment: callers' buffers need only be
# 8-byte aligned (ctypes buffers, stack slots).
# In-memory words are loaded and stored with this alignment: callers' buffers need only be
# 8-byte aligned (ctypes buffers, stack slots).
WORD_ALIGN = 8


def define_function(module: ir.Module, fnty: ir.FunctionType, name: str) -> ir.Function:
    """A function that touches only memory its pointer arguments point to, keeps none of
    them and does not unwind: callers may keep everything else in registers across calls."""
    fn = ir.Function(module, fnty, name)
    fn.attributes.add("nounwind")
    fn.attributes.add("argmemonly")
    for arg in fn.args:
        if isinstance(arg.type, ir.PointerType):
            arg.add_attribute("captures(none)")
    return fn


def const(ty: ir.IntType, value: int) -> ir.Constant:
    return ir.Constant(ty, value % (1 << ty.width))


def sstore_rule_words(rule: SstoreRule) -> list[int]:
    """The i64 words of SSTORE_RULE_FIELDS for a rule (what `pyevmjit_sstore` reads)."""
    sentry = -(1 << 63) if rule.sentry is None else rule.sentry
    words = {
        "net": int(rule.family != "frontier"), "static_gas": rule.static_gas,
        "sload_gas": rule.sload_gas, "set_gas": rule.set_gas, "reset_gas": rule.reset_gas,
        "clears_refund": rule.clears_refund, "sentry": sentry, "cold_gas": rule.cold_gas,
    }  # fmt: skip
    return [words[name] for name in SSTORE_RULE_FIELDS]
