"""The JIT runtime: decides what runs natively (modelled on revmc's JitBackend).

`backend` is the handle and its lookup hot path; `jobs` the pipeline from a request to a
resident program (the backend thread, compilation, linking); `artifacts` the AOT side (store
artifacts checked, linked and made resident; new AOT programs persisted); `state` what every
handle of one backend shares; `store` the artifact stores; `workers` the compiler pools;
`config`, `types`, `events`, `stats` the vocabulary; `aot` plans and runs a precompilation.
"""

from pyevm_jit.runtime import types
from pyevm_jit.runtime.backend import BackendError, JitBackend
from pyevm_jit.runtime.config import ConfigError, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.events import CompilationEvent
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot
from pyevm_jit.runtime.store import (
    ArtifactKey,
    ArtifactStore,
    FileArtifactStore,
    RuntimeArtifactStore,
    StoredArtifact,
    StoreError,
)
from pyevm_jit.runtime.types import *  # noqa: F403 (the vocabulary: types.__all__)
from pyevm_jit.runtime.workers import CompileFailure, CompileTask

__all__ = [
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
    "ConfigError",
    "JitBackend",
    "RuntimeConfig",
    "RuntimeStatsSnapshot",
    "RuntimeTuning",
]
__all__ += types.__all__
