"""What `osaka-fuzz` and `osaka-replay` share: the check that the execution specification is
installed, and the `OsakaVM` sides (interpreted, JIT or both) they compare with it."""

from __future__ import annotations

from typing import Any

from pyevm_jit.errors import UsageError


def require_spec() -> None:
    """UsageError when the Ethereum execution specification (the oracle) is not installed."""
    from pyevm_jit.testing.osaka_spec import spec_available

    if not spec_available():
        raise UsageError(
            "the Ethereum execution specification is not installed: "
            "pip install 'pyevm-jit[osaka-spec]'"
        )


def osaka_sides(mode: str) -> tuple[list[tuple[str, type[Any]]], Any]:
    """The named VM classes `mode` (interp, jit or both) runs, and the JIT backend they use
    (None without the JIT side; the caller closes it)."""
    from pyevm_jit.osaka import OsakaVM

    sides: list[tuple[str, type[Any]]] = []
    backend: Any = None
    if mode in ("interp", "both"):
        sides.append(("interp", OsakaVM))
    if mode in ("jit", "both"):
        from pyevm_jit import JitBackend, RuntimeConfig
        from pyevm_jit.evm.vm import jit_vm

        backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
        sides.append(("jit", jit_vm(OsakaVM, backend)))
    return sides, backend
