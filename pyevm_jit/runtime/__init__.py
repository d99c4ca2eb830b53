"""The JIT runtime: decides what runs natively (modelled on revmc's JitBackend)."""

from pyevm_jit.runtime.types import (
    AotRequest,
    CompiledProgram,
    InterpretReason,
    LookupDecision,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
)

__all__ = [
    "AotRequest",
    "CompiledProgram",
    "InterpretReason",
    "LookupDecision",
    "LookupRequest",
    "ProgramKind",
    "RuntimeCacheKey",
]
