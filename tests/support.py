"""Helpers the runtime, store and tier-up tests share (import as `from support import ...`)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.runtime import (
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.testing import faults

#: generous bound for things that happen on other threads (a loaded machine included)
WAIT = 60.0


def request(code: bytes, fork: str = "cancun") -> LookupRequest:
    return LookupRequest(RuntimeCacheKey(keccak(code), fork), code)


def code_n(n: int) -> bytes:
    """A distinct small contract per n."""
    return b"\x61" + n.to_bytes(2, "big") + b"\x50\x00"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def fake_backend(*, tuning: RuntimeTuning | None = None, **config: Any) -> JitBackend:
    """An enabled backend over the stand-in compiler and linker of `testing.faults`, compiling
    on a thread of this process; `config` overrides any `RuntimeConfig` field."""
    config.setdefault("enabled", True)
    config.setdefault("compiler", faults.fault_compiler)
    config.setdefault("linker", faults.fake_linker)
    config.setdefault("store", None)
    config.setdefault("dump_dir", None)
    if tuning is None:
        tuning = RuntimeTuning(worker_count=0, event_drain_interval=0.01)
    return JitBackend.new(RuntimeConfig(tuning=tuning, **config))


def run_custom(
    backend: JitBackend, replacements: dict[int, Any], code: bytes, **kw: Any
) -> tuple[Any, Any]:
    """The outcomes (differential.Outcome) of `code` on a Cancun VM whose opcode table has
    `replacements`, stock and through `jit_vm` over `backend` (`kw`: Scenario fields)."""
    from eth.vm.forks import CancunVM
    from eth.vm.forks.cancun.computation import CancunComputation
    from eth.vm.forks.cancun.state import CancunState

    from pyevm_jit.evm.vm import jit_vm
    from pyevm_jit.testing import differential as d

    opcodes = {**CancunComputation.opcodes, **replacements}
    computation = CancunComputation.configure(__name__="CustomComputation", opcodes=opcodes)
    state = CancunState.configure(__name__="CustomState", computation_class=computation)
    vm = CancunVM.configure(__name__="CustomVM", _state_class=state)
    scenario = d.Scenario(code=code, fork="cancun", **kw)
    return d.execute(scenario, vm), d.execute(scenario, jit_vm(vm, backend))


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """A local S3-compatible server (moto's server mode) on 127.0.0.1 and a free port, in a
    thread of this process, stopped on exit; yields its endpoint URL. Needs `moto[server]`."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
