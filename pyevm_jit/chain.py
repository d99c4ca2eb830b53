"""Old import path, kept so that existing imports keep working: the module is
`pyevm_jit.evm.chain`."""

from pyevm_jit.evm.chain import *  # noqa: F403
