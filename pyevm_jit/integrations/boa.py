"""titanoboa on the JIT: one call switches a titanoboa environment's py-evm to native code.

    import boa
    from pyevm_jit.integrations import boa as boa_jit

    backend = boa_jit.enable()      # boa.env runs native code from now on
    ...
    print(backend.stats())          # native hits, interpreted messages by reason
    boa_jit.disable()

Everything titanoboa observes stays observable: revert reasons and dev reasons, stack traces,
coverage and gas profiles (all read from the executed-pc trace of its `TracingCodeStream` and
the per-pc gas of its `ProfilingGasMeter`), `env.sha3_trace` (its SHA3 hook) and
`env.sstore_trace` (its SSTORE hook). Native code records block entries, dynamic gas charges
and 64-byte SHA3 preimages only for the messages that need them, and Python rebuilds exactly
what the interpreter would have produced (`pyevm_jit.evm.observe`). Messages that native code
cannot serve exactly are interpreted and counted Ineligible: code run from a `start_pc` or with
a `fake_codesize` (`Env.execute_code`), a gas meter other than py-evm's or titanoboa's profiling
one (`NoGasMeter`), an opcode hook on an opcode native code runs itself (other than titanoboa's
SHA3 tracer). Hooks on host operations (SSTORE, SLOAD through `boa.deal`, ...) are called as
py-evm would call them; opcodes a fork does not define (titanoboa's 0xA6 breakpoint) run in the
interpreter when reached.

How: titanoboa builds its computation class on top of the VM state's class,
`TitanoboaComputation(titanoboa_computation, <fork computation>)`. `enable` rebuilds that class
on top of the JIT class of the same fork, so titanoboa's `__init__` (tracing code stream, opcode
overrides, gas meter), `apply_computation` and `apply_create_message` run first and reach the
JIT through `super()`; the chain's class is swapped too, so `fork_rpc` keeps the JIT.

Written against titanoboa 0.2.8. Needs titanoboa: `pip install 'pyevm-jit[boa]'`.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.evm.computation import FramePool, JitComputationMixin
from pyevm_jit.evm.observe import Observation, interpret
from pyevm_jit.opcodes import SHA3, SSTORE, fork_opcodes
from pyevm_jit.runtime import JitBackend, RuntimeConfig
from pyevm_jit.runtime.report import report_at_exit

__all__ = [
    "default_backend",
    "disable",
    "disable_for_new_envs",
    "enable",
    "enable_for_new_envs",
    "is_enabled",
    "label_contracts",
]

_INSTALL_HINT = "pyevm-jit's titanoboa integration needs titanoboa: pip install 'pyevm-jit[boa]'"
_ATTR = "_pyevm_jit"  # on titanoboa's PyEVM object while enabled: an _Enabled

_default_backend: JitBackend | None = None
_lock = threading.RLock()


def _boa() -> Any:
    try:
        import boa.vm.py_evm as py_evm
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return py_evm


def default_backend() -> JitBackend:
    """The backend `enable` uses when given none: one per process, created on first use from
    `RuntimeConfig(enabled=True)` (otherwise its defaults and `PYEVM_JIT_*` variables,
    including the persistent store), except that a contract is compiled the first time it is
    seen (in the background) unless `PYEVM_JIT_HOT_THRESHOLD` says otherwise: test suites run
    each contract a few times, and the store makes the next run native from its first call."""
    global _default_backend
    with _lock:
        if _default_backend is None:
            config = RuntimeConfig(enabled=True)
            if "PYEVM_JIT_HOT_THRESHOLD" not in os.environ:
                config = config.replace(tuning=config.tuning.replace(hot_threshold=1))
            _default_backend = JitBackend.new(config)
            report_at_exit(_default_backend)  # PYEVM_JIT_REPORT
        return _default_backend


# --- what titanoboa observes, per message ------------------------------------------------------
class BoaJitComputation(JitComputationMixin):
    """In front of the JIT computation class of a fork, under titanoboa's class: tells the JIT
    what titanoboa observes in each message (`jit_observe`) and which of its opcode hooks
    native code honours (`jit_table_differences`)."""

    #: (the SHA3 entry of the last table seen, the recorder for its tracers or None)
    _boa_sha3: tuple[Any, Any] | None = None

    @classmethod
    def jit_table_differences(cls, opcodes: dict[int, Any]) -> list[str]:
        """py-evm's differences, less those titanoboa's messages are served exactly with: its
        SHA3 preimage tracers around py-evm's SHA3 (`jit_observe` records what they would
        have), its SSTORE tracers (SSTORE is a host operation: py-evm runs the table's entry),
        and opcodes the fork does not define (its 0xA6 breakpoint: native code falls back to
        the interpreter where it meets one, which runs the table's entry).

        Every titanoboa environment wraps py-evm's shared table once more (a chain as long as
        the number of environments made so far) and gets a class of its own: the chains are
        unwrapped here, and the answer for a table whose entries are then the same as the
        last one checked is reused."""
        try:
            reference = fork_opcodes(cls.jit_fork)
        except LookupError as exc:  # the fork's own table cannot be told apart from hooks
            return [str(exc)]
        table = {op: fn for op, fn in opcodes.items() if op in reference}
        if SHA3 in table and _sha3_tracers(table[SHA3], reference[SHA3]):
            table[SHA3] = reference[SHA3]
        if SSTORE in table:
            table[SSTORE] = _inside_sstore_tracers(table[SSTORE])
        key = (cls.jit_fork, table)
        last = _last_differences
        if last and last[0] == key:
            return list(last[1])
        differences = super().jit_table_differences(table)
        _last_differences[:] = [key, tuple(differences)]
        return differences

    def jit_observe(self) -> Observation | None:
        py_evm = _boa()
        code = self.code  # type: ignore[attr-defined]
        if type(code) is not py_evm.TracingCodeStream:
            return JitComputationMixin.jit_observe(self)
        if code.program_counter != 0 or code._fake_codesize is not None:
            return interpret("titanoboa start_pc or fake_codesize")
        meter = self._gas_meter  # type: ignore[attr-defined]
        meter_class = type(meter)
        gas_meters = _gas_meters()
        if meter_class is gas_meters.GasMeter:
            profile = None
        elif meter_class is gas_meters.ProfilingGasMeter:
            profile = meter._gas_used_of
        else:
            return interpret(f"titanoboa gas meter {meter_class.__name__}")
        if self.logger.show_debug2:  # type: ignore[attr-defined]
            return interpret("DEBUG2 logging (py-evm logs every opcode)")
        cls = type(self)
        entry = self.opcodes.get(SHA3)  # type: ignore[attr-defined]
        cached = cls._boa_sha3
        if cached is not None and cached[0] is entry:
            on_sha3 = cached[1]
        else:
            tracers = _sha3_tracers(entry, fork_opcodes(cls.jit_fork).get(SHA3))
            on_sha3 = _sha3_recorder(tracers) if tracers else None
            cls._boa_sha3 = (entry, on_sha3)
        return Observation(
            trace=code._trace,
            gas_used_of=profile,
            on_sha3=on_sha3,
            host_ops_native=profile is None,
        )


@functools.cache
def _gas_meters() -> Any:
    import boa.vm.gas_meters as gas_meters

    return gas_meters


def _sha3_tracers(entry: Any, sha3: Any) -> tuple[Any, ...] | None:
    """titanoboa's Sha3PreimageTracer chain around py-evm's SHA3 (one per Env that wrapped the
    shared table), or None when `entry` is anything else."""
    tracer_class = _boa().Sha3PreimageTracer
    chain = []
    while type(entry) is tracer_class:
        chain.append(entry)
        entry = entry.sha3
    return tuple(chain) if chain and entry is sha3 else None


def _inside_sstore_tracers(entry: Any) -> Any:
    """What titanoboa's SstoreTracer chain wraps (`entry` itself when it is not one)."""
    tracer_class = _boa().SstoreTracer
    while type(entry) is tracer_class:
        entry = entry.sstore
    return entry


#: [(fork, table checked), its differences] of the last table `jit_table_differences` checked
_last_differences: list[Any] = []


def _sha3_recorder(tracers: tuple[Any, ...]) -> Any:
    def record(image: bytes, preimage: bytes) -> None:
        for tracer in tracers:
            tracer.env.sha3_trace[image] = preimage

    return record


# --- classes -------------------------------------------------------------------------------------
_vm_classes: dict[tuple[type, int], type] = {}
_chain_classes: dict[tuple[type, int], type] = {}


def _jit_vm(vm_class: type, backend: JitBackend) -> type:
    """`vm_class` whose computations are `BoaJitComputation`s of `backend` (one per pair)."""
    with _lock:
        key = (vm_class, id(backend))
        cached = _vm_classes.get(key)
        if cached is not None:
            return cached
        state_class = vm_class._state_class  # type: ignore[attr-defined]
        computation_class = state_class.computation_class
        namespace = {
            "jit_backend": backend,
            "jit_fork": vm_class.fork,  # type: ignore[attr-defined]
            "_jit_pool": FramePool(),
            "__module__": __name__,
        }
        jit_computation = type(
            f"Jit{computation_class.__name__}", (BoaJitComputation, computation_class), namespace
        )
        jit_state = state_class.configure(
            __name__=f"Jit{state_class.__name__}", computation_class=jit_computation
        )
        wrapped = vm_class.configure(  # type: ignore[attr-defined]
            __name__=f"Jit{vm_class.__name__}", _state_class=jit_state
        )
        _vm_classes[key] = wrapped
        return wrapped


def _jit_chain(chain_class: type, backend: JitBackend) -> type:
    with _lock:
        key = (chain_class, id(backend))
        cached = _chain_classes.get(key)
        if cached is None:
            configuration = tuple(
                (block, _jit_vm(vm_class, backend))
                for block, vm_class in chain_class.vm_configuration  # type: ignore[attr-defined]
            )
            cached = _chain_classes[key] = chain_class.configure(  # type: ignore[attr-defined]
                __name__=chain_class.__name__, vm_configuration=configuration
            )
        return cached


def _on_top_of(current: type, base: type) -> type:
    """titanoboa's computation class `current`, rebuilt on `base`, with its class state."""
    namespace = {
        key: value
        for key, value in current.__dict__.items()
        if not key.startswith(("__", "_abc", "_boa_", "_jit_"))  # titanoboa's, not caches
    }
    return type(current.__name__, (_boa().titanoboa_computation, base), namespace)


def _fork_base(current: type) -> type:
    """The fork computation class titanoboa's class `current` was built on."""
    titanoboa_computation = _boa().titanoboa_computation
    bases = [b for b in current.__bases__ if b is not titanoboa_computation]
    if len(bases) != 1:
        raise TypeError(f"{current!r} is not a titanoboa computation class")
    return bases[0]


# --- enable / disable ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Enabled:
    backend: JitBackend
    stock_chain: type


def _env(env: Any) -> Any:
    _boa()
    if env is None:
        import boa

        env = boa.env
    evm = getattr(env, "evm", None)
    if evm is None or not hasattr(evm, "vm") or not hasattr(evm, "chain"):
        raise TypeError(f"{env!r} is not a titanoboa py-evm environment (a network env?)")
    return env


def enable(env: Any = None, backend: JitBackend | None = None) -> JitBackend:
    """Run the messages of `env` (default: the current `boa.env`) on native code where
    `backend` (default: `default_backend()`) has a program; returns the backend in use.

    Enabling an enabled environment returns its backend (a different `backend` is an error:
    `disable` first)."""
    return _enable_evm(_env(env).evm, backend)


#: titanoboa PyEVM objects enabled so far (`label_contracts` reads their contracts)
_enabled_evms: weakref.WeakSet[Any] = weakref.WeakSet()


def label_contracts(backend: JitBackend) -> int:
    """Name the contracts of the environments enabled so far in `backend`'s report (the
    runtime code of each contract titanoboa registered, by its contract name); returns how
    many were named."""
    named = 0
    for evm in list(_enabled_evms):
        enabled: _Enabled | None = getattr(evm, _ATTR, None)
        contracts = getattr(getattr(evm, "env", None), "_contracts", None)
        if enabled is None or enabled.backend is not backend or not isinstance(contracts, dict):
            continue
        for contract in list(contracts.values()):
            name = getattr(contract, "contract_name", None)
            code = getattr(contract, "bytecode", None)
            if isinstance(name, str) and isinstance(code, bytes) and code:
                backend.label(keccak(code), name)
                named += 1
    return named


def _enable_evm(evm: Any, backend: JitBackend | None) -> JitBackend:
    with _lock:
        enabled: _Enabled | None = getattr(evm, _ATTR, None)
        if enabled is not None:
            if backend is not None and backend is not enabled.backend:
                raise ValueError("this environment runs on another backend: disable it first")
            return enabled.backend
        backend = backend if backend is not None else default_backend()
        stock_chain = type(evm.chain)
        current = evm.vm.state.computation_class
        base = _fork_base(current)
        if issubclass(base, JitComputationMixin):
            raise ValueError("this environment's VM already runs compiled code")
        jit_vm_class = _jit_vm(type(evm.vm), backend)
        jit_base = jit_vm_class._state_class.computation_class  # type: ignore[attr-defined]
        evm.chain.__class__ = _jit_chain(stock_chain, backend)  # for fork_rpc's new VMs
        evm.vm.state.computation_class = _on_top_of(current, jit_base)
        setattr(evm, _ATTR, _Enabled(backend, stock_chain))
        _enabled_evms.add(evm)
        return backend


def disable(env: Any = None) -> None:
    """Back to py-evm's interpreter for `env` (default: the current `boa.env`). The backend
    stays open (it may serve other environments)."""
    evm = _env(env).evm
    with _lock:
        enabled: _Enabled | None = getattr(evm, _ATTR, None)
        if enabled is None:
            return
        evm.chain.__class__ = enabled.stock_chain
        current = evm.vm.state.computation_class
        base = _fork_base(current)
        if issubclass(base, BoaJitComputation):
            stock_base = base.__bases__[-1]
            evm.vm.state.computation_class = _on_top_of(current, stock_base)
        delattr(evm, _ATTR)


def is_enabled(env: Any = None) -> bool:
    return getattr(_env(env).evm, _ATTR, None) is not None


# --- every environment (test suites) -------------------------------------------------------------
_new_env_backend: JitBackend | None = None
_stock_pyevm_init: Any = None


def enable_for_new_envs(backend: JitBackend | None = None) -> JitBackend:
    """`enable` the current `boa.env` and every titanoboa environment created from now on
    (`boa.Env()`, `boa.fork`, test fixtures), until `disable_for_new_envs`."""
    global _new_env_backend, _stock_pyevm_init
    py_evm = _boa()
    backend = backend if backend is not None else default_backend()
    with _lock:
        _new_env_backend = backend
        if _stock_pyevm_init is None:
            original = _stock_pyevm_init = py_evm.PyEVM.__init__

            @functools.wraps(original)
            def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
                original(self, *args, **kwargs)
                if _new_env_backend is not None:
                    _enable_evm(self, _new_env_backend)

            py_evm.PyEVM.__init__ = __init__
    enable(None, backend)
    return backend


def disable_for_new_envs() -> None:
    """Undo `enable_for_new_envs` for environments created from now on (those enabled stay
    enabled; `disable` them one by one)."""
    global _new_env_backend, _stock_pyevm_init
    with _lock:
        _new_env_backend = None
        if _stock_pyevm_init is not None:
            _boa().PyEVM.__init__ = _stock_pyevm_init
            _stock_pyevm_init = None
