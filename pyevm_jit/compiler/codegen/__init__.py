"""EVM bytecode to LLVM IR text (written directly, see irtext)."""

from __future__ import annotations

# imported with the package, not on the first translation: a worker's first compile time is
# then its own (without PYTHONDONTWRITEBYTECODE's source compilation of these modules)
from pyevm_jit.compiler.codegen.program import translate as build_module
from pyevm_jit.opcodes import fork_spec


def translate(code: bytes, fork: str, entry: str, region: frozenset[int] | None = None) -> str:
    """LLVM IR text of the program for `code` under py-evm fork `fork`, entry symbol `entry`;
    with `region`, only those blocks (start pcs) are compiled, the others are side exits."""
    return str(build_module(code, fork_spec(fork), entry, region))


__all__ = ["translate"]
