"""Whole chain configurations on the JIT: swap every VM class of a py-evm chain for its JIT VM.

    from eth.chains.mainnet import MainnetChain
    from pyevm_jit.evm.chain import jit_vm_configuration

    JitMainnet = MainnetChain.configure(
        vm_configuration=jit_vm_configuration(MainnetChain.vm_configuration, backend)
    )

One backend serves any number of chains, VMs and threads; programs are keyed by (code hash,
fork), so a contract is compiled separately for every fork it runs on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, TypeVar

VMConfiguration = tuple[tuple[int, type[Any]], ...]

_ChainT = TypeVar("_ChainT", bound=type[Any])


class JitVMCache:
    """``jit_vm`` applied at most once per (VM class, backend): the same VM class in two
    configurations (or two chains) maps to the same JIT class. Thread-safe."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._classes: dict[type[Any], type[Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, vm_class: type[Any]) -> type[Any]:
        with self._lock:
            wrapped = self._classes.get(vm_class)
            if wrapped is None:
                from pyevm_jit.evm.vm import jit_vm

                wrapped = self._classes[vm_class] = jit_vm(vm_class, self.backend)
            return wrapped

    def classes(self) -> dict[type[Any], type[Any]]:
        with self._lock:
            return dict(self._classes)


def jit_vm_configuration(
    vm_configuration: Iterable[tuple[int, type[Any]]],
    backend: Any,
    *,
    cache: JitVMCache | None = None,
) -> VMConfiguration:
    """Map a chain's ``vm_configuration`` -- ``((block_number, VMClass), ...)`` as in
    ``MainnetChain.vm_configuration`` -- to the same blocks with JIT VM classes.

    Every VM class (a fork VM or a user's configured subclass of one) becomes
    ``jit_vm(vm_class, backend)``; the block numbers and their order are kept."""
    factory = cache if cache is not None else JitVMCache(backend)
    if cache is not None and cache.backend is not backend:
        raise ValueError("the cache was made for another backend")
    mapped = []
    for entry in vm_configuration:
        try:
            block_number, vm_class = entry
        except (TypeError, ValueError):
            raise TypeError(
                f"vm_configuration entries are (block number, VM class) pairs, got {entry!r}"
            ) from None
        if not isinstance(vm_class, type):
            raise TypeError(f"not a VM class at block {block_number}: {vm_class!r}")
        mapped.append((block_number, factory(vm_class)))
    return tuple(mapped)


def jit_chain(chain_class: _ChainT, backend: Any, *, name: str | None = None) -> _ChainT:
    """``chain_class.configure(vm_configuration=jit_vm_configuration(...))`` in one call."""
    configuration = jit_vm_configuration(chain_class.vm_configuration, backend)
    return chain_class.configure(
        __name__=name or f"Jit{chain_class.__name__}", vm_configuration=configuration
    )
