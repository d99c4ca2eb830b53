"""Old import path, kept so that existing imports keep working: the module is
`pyevm_jit.evm.vm`."""

from pyevm_jit.evm.vm import *  # noqa: F403
