"""Old import path, kept so that existing imports keep working: the module is
`pyevm_jit.runtime.store`."""

from pyevm_jit.runtime.store import *  # noqa: F403
