"""`JitLocalProvider`: ape_test's `LocalProvider` on JIT VMs (see the package's docstring)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pyevm_jit.integrations.ape import INSTALL_HINT, PROVIDER_NAME
from pyevm_jit.integrations.eth_tester import JitClasses, default_backend, with_jit_vms
from pyevm_jit.runtime import JitBackend

try:
    from ape_test.provider import ApeEVMBackend, ApeTester, LocalProvider
    from eth_tester import EthereumTester
except ImportError as exc:  # pragma: no cover - the module is imported by the plugin only
    raise ImportError(INSTALL_HINT) from exc

__all__ = ["JitApeEVMBackend", "JitApeTester", "JitLocalProvider"]


class JitApeEVMBackend(ApeEVMBackend):  # type: ignore[misc,unused-ignore]
    """ape's lazy eth-tester backend whose chain (the first one, and each one a snapshot
    revert or a reset sets) runs the JIT VMs of `jit_backend`."""

    def __init__(self, config: Any, chain_id: int, jit_backend: JitBackend) -> None:
        super().__init__(config, chain_id)
        self.jit_backend = jit_backend
        self._jit_classes = JitClasses(jit_backend)
        self._jit_chain_types: set[type] = set()

    @property  # type: ignore[override,unused-ignore]
    def chain(self) -> Any:
        chain = ApeEVMBackend.chain.fget(self)  # type: ignore[attr-defined,unused-ignore]
        if type(chain) not in self._jit_chain_types:
            chain = with_jit_vms(chain, self._jit_classes)
            self._jit_chain_types.add(type(chain))
            ApeEVMBackend.chain.fset(self, chain)  # type: ignore[attr-defined,unused-ignore]
        return chain

    @chain.setter
    def chain(self, value: Any) -> None:
        ApeEVMBackend.chain.fset(self, value)  # type: ignore[attr-defined,unused-ignore]


def _made_by_new_backend(name: str) -> Any:
    """A property of `JitApeTester` (ape's `ApeTester.<name>`, kept in `_<name>`) whose object
    `_new_backend` makes on first use; setting it is ape's own setter."""
    private = f"_{name}"
    ape_setter = getattr(ApeTester, name).fset

    def get(self: JitApeTester) -> Any:
        if getattr(self, private) is None:
            self._new_backend()
        return getattr(self, private)

    def set_(self: JitApeTester, value: Any) -> None:
        ape_setter(self, value)

    return property(get, set_)


class JitApeTester(ApeTester):  # type: ignore[misc,unused-ignore]
    """ape's web3 eth-tester provider, with a `JitApeEVMBackend`."""

    def __init__(self, config: Any, chain_id: int, jit_backend: JitBackend) -> None:
        super().__init__(config, chain_id)
        self.jit_backend = jit_backend

    def _new_backend(self) -> None:
        self._backend = JitApeEVMBackend(self.config, self.chain_id, self.jit_backend)
        self._ethereum_tester = EthereumTester(self._backend)

    ethereum_tester = _made_by_new_backend("ethereum_tester")
    backend = _made_by_new_backend("backend")


class JitLocalProvider(LocalProvider):  # type: ignore[misc,unused-ignore]
    """ape's local test provider (configured by the `test:` section of ape-config.yaml, as
    `ethereum:local:test` is) whose py-evm runs native code; `jit_backend` is the
    `JitBackend` (`.stats()`, `.report()`)."""

    NAME = PROVIDER_NAME

    @property
    def config(self) -> Any:
        return self.config_manager.get_config("test")

    @property
    def jit_backend(self) -> JitBackend:
        return default_backend()

    @cached_property
    def tester(self) -> JitApeTester:
        return JitApeTester(self.config, self.settings.chain_id, self.jit_backend)
