"""Native runtime library: 256-bit division and modular arithmetic, EXP, Keccak-256, memory
expansion, and the fast paths of the native state operations (SLOAD, SSTORE, TLOAD, TSTORE,
LOG0-4).

The library is generated as LLVM IR with llvmlite, compiled once per process
(`compile_rtlib_object`) and linked into the process-wide LLJIT by `pyevm_jit.compiler.link`.
Generated programs declare the exported functions with `declare_rtlib` and call them with
pointers to 256-bit words (LLVM's in-memory `i256`); results go through the last pointer.

Every exported function loads all of its inputs before it writes its output, so the output may
alias any input.

One module per part: `signatures` (what the library exports), `limbs` (the generator's base),
`division` and `arithmetic` (DIV, MOD, SDIV, SMOD, ADDMOD, MULMOD, EXP; DIV and MOD also have
inline 64- and 128-bit fast paths), `keccak`, `memory` (expansion and copies), `state` (the
native state operations) and `build` (the whole library, its object code and its caches).
"""

from __future__ import annotations

from typing import Any

from pyevm_jit.compiler.rtlib import build
from pyevm_jit.compiler.rtlib.build import (
    ObjectCache,
    build_rtlib_module,
    compile_rtlib_object,
    declare_rtlib,
    emit_rtlib_object,
    object_caches,
)
from pyevm_jit.compiler.rtlib.keccak import KECCAK_RATE, KECCAK_ROTATIONS, KECCAK_ROUND_CONSTANTS
from pyevm_jit.compiler.rtlib.signatures import (
    EXPORTED_SYMBOLS,
    SIGNATURES,
    SSTORE_RULE_FIELDS,
    sstore_rule_words,
)


def __getattr__(name: str) -> Any:
    if name == "builds":  # runtime libraries this process built (`build.builds`, as it is now)
        return build.builds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EXPORTED_SYMBOLS",
    "KECCAK_RATE",
    "KECCAK_ROTATIONS",
    "KECCAK_ROUND_CONSTANTS",
    "SIGNATURES",
    "SSTORE_RULE_FIELDS",
    "ObjectCache",
    "build_rtlib_module",
    "compile_rtlib_object",
    "declare_rtlib",
    "emit_rtlib_object",
    "object_caches",
    "sstore_rule_words",
]
