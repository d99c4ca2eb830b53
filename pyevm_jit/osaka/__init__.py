"""Osaka (Fusaka) for py-evm, which stops at Prague: `OsakaVM`, a delta on py-evm's PragueVM
covering Osaka's execution-layer changes, and the blob-parameter-only forks `BPO1VM` and
`BPO2VM`. Usable like any py-evm fork VM (chain configurations, eth-tester) and with the JIT
(`jit_vm(OsakaVM, backend)`). See docs/osaka.md."""

from pyevm_jit.osaka.computation import OsakaComputation
from pyevm_jit.osaka.state import OsakaState
from pyevm_jit.osaka.vm import BPO1VM, BPO2VM, OsakaVM

__all__ = ["BPO1VM", "BPO2VM", "OsakaComputation", "OsakaState", "OsakaVM"]
