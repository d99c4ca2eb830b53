"""Helpers the tests share (import as `from support import ...`)."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from eth_hash.auto import keccak

from pyevm_jit.runtime import (
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.testing import faults

if TYPE_CHECKING:
    from eth.chains.base import MiningChain
    from eth_typing import Address

    from pyevm_jit.runtime.store import FileArtifactStore
    from pyevm_jit.testing.differential import Scenario

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


def count_calls(
    monkeypatch: Any, owner: Any, name: str, real: Callable[..., Any] | None = None
) -> list[int]:
    """Replace `owner.name` (for this test) with a wrapper that counts its calls and calls
    `real` (default: what `owner.name` was); the count is the list's one item."""
    count = [0]
    target = getattr(owner, name) if real is None else real

    def counting(*args: Any) -> Any:
        count[0] += 1
        return target(*args)

    monkeypatch.setattr(owner, name, counting)
    return count


def record_charges(monkeypatch: Any) -> list[tuple[int, str]]:
    """Patch py-evm's `GasMeter.consume_gas` in place (for this test) with a tracer that
    records every (amount, reason) and charges as py-evm does: what a gas profiler does."""
    from eth.vm.gas_meter import GasMeter

    charges: list[tuple[int, str]] = []
    original = GasMeter.consume_gas

    def recording(self: Any, amount: int, reason: str) -> None:
        charges.append((amount, reason))
        original(self, amount, reason)

    monkeypatch.setattr(GasMeter, "consume_gas", recording)
    return charges


def selector_loops(count: int, step: int) -> bytes:
    """A selector dispatch over `count` functions, function i a short loop adding `i + step`;
    calldata picks one (the region tests' contract: every function is a region of its own)."""
    from pyevm_jit.testing.assembler import Label, Ref, asm

    items: list[object] = [0, "CALLDATALOAD", 0xE0, "SHR"]
    for i in range(count):
        items += ["DUP1", i, "EQ", Ref(f"f{i}"), "JUMPI"]
    items += [0, "DUP1", "REVERT"]
    for i in range(count):
        items += [
            Label(f"f{i}"), "POP", 0, 10,
            Label(f"f{i}.loop"), "JUMPDEST", "SWAP1", i + step, "ADD", "SWAP1", 1, "SWAP1", "SUB",
            "DUP1", Ref(f"f{i}.loop"), "JUMPI",
            "POP", 0, "MSTORE", 0x20, 0, "RETURN",
        ]  # fmt: skip
    return asm(*items)


def selector_scenario(code: bytes, selector: int) -> Scenario:
    """A Cancun call of `code` with `selector` as its calldata (4 bytes)."""
    from pyevm_jit.testing import differential as d

    return d.Scenario(
        code=code, fork="cancun", calldata=selector.to_bytes(4, "big"), gas=1_000_000,
        accounts=d.standard_accounts(),
    )  # fmt: skip


def region_backend(store: FileArtifactStore | None = None, **tuning: Any) -> JitBackend:
    """A backend compiling regions on this process's thread (region_blocks 16, promoted on the
    second lookup), over `store` (nothing preloaded) or none; `tuning` overrides."""
    settings: dict[str, Any] = {
        "worker_count": 0, "hot_threshold": 2, "event_drain_interval": 0.01,
        "tier_up_after": 0, "region_blocks": 16, **tuning,
    }  # fmt: skip
    return JitBackend.new(
        RuntimeConfig(enabled=True, store=store, preload=False, tuning=RuntimeTuning(**settings))
    )


def mining_chain(
    vm_configuration: Any, sender: Address, name: str = "TestChain", chain_id: int = 1337
) -> MiningChain:
    """A py-evm MiningChain of `vm_configuration` ((block number, VM class), ...) from a fixed
    genesis (Cancun-era timestamp, gas limit 30M) in which only `sender` has a balance."""
    from eth import constants
    from eth.chains.base import MiningChain
    from eth.db.atomic import AtomicDB

    chain_class = MiningChain.configure(
        __name__=name, vm_configuration=tuple(vm_configuration), chain_id=chain_id
    )
    genesis: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": constants.ZERO_ADDRESS,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": constants.ZERO_HASH32,
    }
    state: dict[Any, Any] = {sender: {"balance": 10**24, "nonce": 0, "code": b"", "storage": {}}}
    return chain_class.from_genesis(AtomicDB(), genesis, state)  # type: ignore[no-any-return]


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


#: set to 1 to run every combination of the matrices `pairwise` covers (docs/development.md)
FULL_MATRIX_ENV = "PYEVM_JIT_FULL_MATRIX"


def pairwise(
    *dimensions: Sequence[Any], allowed: Callable[..., bool] = lambda *_: True
) -> list[tuple[Any, ...]]:
    """A deterministic covering design of the product of `dimensions`: rows in which every value
    of every dimension and every pair of values of every two dimensions appear at least once
    (among the combinations `allowed` accepts), far fewer rows than the product. With
    PYEVM_JIT_FULL_MATRIX=1 the whole product (the allowed part of it) instead.

    Greedy: each row is the first allowed combination that covers the most pairs not yet
    covered, so the rows are the same in every run and every process (pytest-xdist)."""
    product = [row for row in itertools.product(*dimensions) if allowed(*row)]
    if os.environ.get(FULL_MATRIX_ENV) == "1":
        return product

    def pairs(row: tuple[Any, ...]) -> set[tuple[int, Any, int, Any]]:
        return {(i, row[i], j, row[j]) for i, j in itertools.combinations(range(len(row)), 2)} | {
            (i, row[i], i, row[i]) for i in range(len(row))
        }

    missing = set().union(*(pairs(row) for row in product))
    rows: list[tuple[Any, ...]] = []
    while missing:
        best = max(product, key=lambda row: len(pairs(row) & missing))
        rows.append(best)
        missing -= pairs(best)
    return rows
