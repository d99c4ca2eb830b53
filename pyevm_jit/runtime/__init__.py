"""The JIT runtime: decides what runs natively (modelled on revmc's JitBackend).

The artifact stores live in `pyevm_jit.store`; their names are re-exported here lazily
(`pyevm_jit.runtime.FileArtifactStore`), since the store module itself imports the runtime's
vocabulary.
"""

from typing import Any

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

_STORE_NAMES = (
    "ArtifactKey",
    "ArtifactStore",
    "FileArtifactStore",
    "RuntimeArtifactStore",
    "StoreError",
    "StoredArtifact",
)


def __getattr__(name: str) -> Any:
    if name in _STORE_NAMES:
        from pyevm_jit.runtime import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AotRequest",
    "ArtifactKey",
    "ArtifactStore",
    "FileArtifactStore",
    "RuntimeArtifactStore",
    "StoreError",
    "StoredArtifact",
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
