"""Old import path, kept so that existing imports keep working: the module is
`pyevm_jit.conformance.statetest`."""

from pyevm_jit.conformance.statetest import *  # noqa: F403
