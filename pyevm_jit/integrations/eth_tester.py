"""eth-tester's py-evm backend with JIT VMs, for web3.py's `EthereumTesterProvider` and ape.

    from eth_tester import EthereumTester
    from web3 import EthereumTesterProvider, Web3
    from pyevm_jit.integrations.eth_tester import jit_pyevm_backend

    w3 = Web3(EthereumTesterProvider(EthereumTester(jit_pyevm_backend())))

Without changing code:

    ETHEREUM_TESTER_CHAIN_BACKEND=pyevm_jit.integrations.eth_tester.JitPyEVMBackend

makes every `EthereumTester()` built without a backend (web3's `EthereumTesterProvider()`
among them) use `JitPyEVMBackend()`, the class `jit_pyevm_backend()` instantiates, with its
defaults (`default_backend()`: configured by the `PYEVM_JIT_*` variables).

`jit_pyevm_backend()` returns an eth-tester `PyEVMBackend` (a subclass of it) whose chain runs
every VM of its schedule through `jit_vm`: eth-tester builds the chain exactly as it would
(its genesis, its accounts, its default VM schedule or the `vm_configuration` given), then the
chain's VM classes are swapped for their JIT VMs. `reset_to_genesis` (which eth-tester and
web3 call to reset a test chain) does the same again, and snapshots keep the JIT chain.

Needs eth-tester with py-evm: `pip install 'pyevm-jit[web3]'`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import Any

from pyevm_jit import JitBackend, RuntimeConfig
from pyevm_jit.evm.chain import JitVMCache, jit_vm_configuration
from pyevm_jit.lean.block import lean_block_vm
from pyevm_jit.lean.guard import fingerprint
from pyevm_jit.runtime.report import report_at_exit

__all__ = ["default_backend", "jit_pyevm_backend", "jit_pyevm_backend_class"]

_INSTALL_HINT = "pyevm-jit's eth-tester integration needs eth-tester with py-evm: " + (
    "pip install 'pyevm-jit[web3]'"
)

#: fingerprint (`pyevm_jit.lean.guard.fingerprint`) of eth-tester 0.14's
#: `PyEVMBackend._key_lookup` getter, which `JitPyEVMBackend._key_lookup` keeps the result of
KEY_LOOKUP_PIN = "ea247be85a5dabe2"

_default_backend: JitBackend | None = None
_default_lock = threading.Lock()


def default_backend() -> JitBackend:
    """The JIT backend used when `jit_pyevm_backend` is given none: one per process, created on
    first use, enabled, from `RuntimeConfig(enabled=True)` (otherwise the defaults, including
    the `PYEVM_JIT_*` environment variables). `PYEVM_JIT_REPORT=1` prints its report at exit
    (`=FILE.json` saves it)."""
    global _default_backend
    with _default_lock:
        if _default_backend is None:
            _default_backend = JitBackend.new(RuntimeConfig(enabled=True))
            report_at_exit(_default_backend)  # PYEVM_JIT_REPORT
        return _default_backend


class JitClasses(JitVMCache):
    """`jit_vm` at most once per VM class for one backend, so the chain built by every
    `reset_to_genesis` reuses the same JIT VM classes; a JIT VM class is kept as given. The JIT
    VM also builds each block once per header (`pyevm_jit.lean.block`: eth-tester asks for the
    same blocks about 20 times per transaction) where it runs py-evm's own `get_block`."""

    def __call__(self, vm_class: type[Any]) -> type[Any]:
        if _runs_compiled_code(vm_class):
            return vm_class
        with self._lock:
            wrapped = self._classes.get(vm_class)
            if wrapped is None:
                from pyevm_jit.evm.vm import jit_vm

                wrapped = lean_block_vm(jit_vm(vm_class, self.backend))
                self._classes[vm_class] = wrapped
            return wrapped


def _runs_compiled_code(vm_class: type[Any]) -> bool:
    state_class = getattr(vm_class, "_state_class", None)
    computation_class = getattr(state_class, "computation_class", None)
    return getattr(computation_class, "jit_backend", None) is not None


@functools.cache
def jit_pyevm_backend_class() -> type[Any]:
    """The `PyEVMBackend` subclass that `jit_pyevm_backend` instantiates (built on first use, so
    that importing this module does not need eth-tester)."""
    try:
        from eth_tester import PyEVMBackend
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc

    # PyEVMBackend's _key_lookup getter, where it is the one the cached property relies on
    key_lookup = vars(PyEVMBackend)["_key_lookup"].fget
    if fingerprint(key_lookup) != KEY_LOOKUP_PIN:
        key_lookup = None

    class JitPyEVMBackend(PyEVMBackend):
        """eth-tester's `PyEVMBackend` whose chain runs JIT VMs of `jit_backend` (default:
        `default_backend()`); its other arguments are `PyEVMBackend`'s."""

        jit_backend: JitBackend
        chain: Any

        def __init__(self, *args: Any, jit_backend: JitBackend | None = None, **kwargs: Any):
            if jit_backend is None:
                jit_backend = default_backend()
            self.jit_backend = jit_backend
            self._jit_classes = JitClasses(jit_backend)
            super().__init__(*args, **kwargs)

        @property
        def _key_lookup(self) -> Any:
            """PyEVMBackend's `_key_lookup` (address -> private key of `account_keys`: 10
            public keys derived, about 0.3 ms, twice per transaction eth-tester signs), built
            once per `account_keys` tuple and handed out as a new dict each time. Where
            PyEVMBackend's getter is not eth-tester 0.14's (`KEY_LOOKUP_PIN`) or was replaced,
            or `account_keys` is not a tuple, that getter runs as it is."""
            getter = vars(PyEVMBackend)["_key_lookup"].fget
            keys = self.account_keys
            if getter is not key_lookup or type(keys) is not tuple:
                return getter(self)
            kept = self.__dict__.get("_jit_key_lookup")
            if kept is None or kept[0] is not keys:
                kept = self.__dict__["_jit_key_lookup"] = (keys, getter(self))
            return dict(kept[1])

        def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
            super().reset_to_genesis(*args, **kwargs)
            self.chain = with_jit_vms(self.chain, self._jit_classes)

    JitPyEVMBackend.__qualname__ = JitPyEVMBackend.__name__
    JitPyEVMBackend.__module__ = __name__  # found again by its path (eth-tester's import_string)
    return JitPyEVMBackend


def __getattr__(name: str) -> Any:  # not in __all__: a star import would build the class
    """`JitPyEVMBackend`, the class `jit_pyevm_backend_class()` builds on first use, by its path:
    `ETHEREUM_TESTER_CHAIN_BACKEND=pyevm_jit.integrations.eth_tester.JitPyEVMBackend`."""
    if name == "JitPyEVMBackend":
        return jit_pyevm_backend_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def with_jit_vms(chain: Any, classes: JitClasses) -> Any:
    """The same chain (database, head, pending header) with every VM class of its schedule
    replaced by its JIT VM."""
    chain_class = type(chain)
    configuration = jit_vm_configuration(
        chain_class.vm_configuration, classes.backend, cache=classes
    )
    jit_chain_class = chain_class.configure(vm_configuration=configuration)
    return jit_chain_class(chain.chaindb.db, chain.header)


def jit_pyevm_backend(
    backend: JitBackend | None = None,
    vm_configuration: Iterable[tuple[int, type[Any]]] | None = None,
    **kwargs: Any,
) -> Any:
    """An eth-tester `PyEVMBackend` whose chain runs JIT VMs.

    `backend`: the `JitBackend` that compiles and runs the contracts (default:
    `default_backend()`, shared by every call that passes none). `vm_configuration`: the
    stock VM schedule, `((block_number, VMClass), ...)` as eth-tester takes it (default:
    eth-tester's own). Other keyword arguments (`genesis_parameters`, `genesis_state`,
    `mnemonic`, `hd_path`) go to `PyEVMBackend` unchanged. The JIT backend is the result's
    `jit_backend` attribute (`.jit_backend.stats()`).
    """
    if backend is None:
        backend = default_backend()
    elif not isinstance(backend, JitBackend):
        raise TypeError(f"backend must be a JitBackend, got {type(backend).__name__}")
    if vm_configuration is not None:
        vm_configuration = tuple(vm_configuration)
        for entry in vm_configuration:
            if not isinstance(entry, tuple) or len(entry) != 2 or not isinstance(entry[1], type):
                raise TypeError(
                    f"vm_configuration entries are (block number, VM class) pairs, got {entry!r}"
                )
    backend_class = jit_pyevm_backend_class()
    return backend_class(vm_configuration=vm_configuration, jit_backend=backend, **kwargs)
