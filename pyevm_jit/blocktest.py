"""Old import path, kept so that existing imports keep working: the module is
`pyevm_jit.conformance.blocktest`."""

from pyevm_jit.conformance.blocktest import *  # noqa: F403
