"""pyevm-jit: run py-evm contract code as native code compiled with llvmlite.

A JIT version of a py-evm VM class (README: chains, eth-tester/web3, titanoboa)::

    from eth.vm.forks import CancunVM
    from pyevm_jit import JitBackend, RuntimeConfig, jit_vm

    backend = JitBackend.new(RuntimeConfig(enabled=True))
    JitCancunVM = jit_vm(CancunVM, backend)
"""

from pyevm_jit.evm.chain import jit_chain, jit_vm_configuration
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import (
    AotRequest,
    CompiledProgram,
    InterpretReason,
    JitBackend,
    LookupDecision,
    LookupRequest,
    ProgramKind,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeStatsSnapshot,
    RuntimeTuning,
)
from pyevm_jit.runtime.store import ArtifactStore, FileArtifactStore, RuntimeArtifactStore

__version__ = "0.1.0"

__all__ = [
    "AotRequest",
    "ArtifactStore",
    "CompiledProgram",
    "FileArtifactStore",
    "InterpretReason",
    "JitBackend",
    "LookupDecision",
    "LookupRequest",
    "ProgramKind",
    "RuntimeArtifactStore",
    "RuntimeCacheKey",
    "RuntimeConfig",
    "RuntimeStatsSnapshot",
    "RuntimeTuning",
    "jit_chain",
    "jit_vm",
    "jit_vm_configuration",
]
