"""The JIT runtime: decides what runs natively (modelled on revmc's JitBackend)."""

from pyevm_jit.runtime.backend import BackendError, JitBackend
from pyevm_jit.runtime.config import ConfigError, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.events import CompilationEvent
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot
from pyevm_jit.runtime.types import (
    AotRequest,
    CompiledProgram,
    InterpretReason,
    LookupDecision,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
)
from pyevm_jit.runtime.workers import CompileFailure, CompileTask

__all__ = [
    "AotRequest",
    "BackendError",
    "CompilationEvent",
    "CompileFailure",
    "CompileTask",
    "CompiledProgram",
    "ConfigError",
    "InterpretReason",
    "JitBackend",
    "LookupDecision",
    "LookupRequest",
    "ProgramKind",
    "RuntimeCacheKey",
    "RuntimeConfig",
    "RuntimeStatsSnapshot",
    "RuntimeTuning",
]
