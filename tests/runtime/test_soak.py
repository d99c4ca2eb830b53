"""Native memory soak: linking and dropping programs, and jit_vm classes that come and go,
return their native memory (resident set size flat over thousands of cycles).

Each test measures the process's resident set after a warm-up, runs many cycles, and bounds the
growth by a small fraction of what one cycle used to leak (a link kept about 10 KB for good; a
garbage-collected jit_vm class kept its frames' memory buffers: 512 KiB here).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from eth.vm.forks import CancunVM
from eth_hash.auto import keccak

from pyevm_jit.compiler.compile import compile_object
from pyevm_jit.compiler.link import link_object, prepare_linker
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import (
    JitBackend,
    LookupRequest,
    RuntimeCacheKey,
    RuntimeConfig,
    RuntimeTuning,
)
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm

pytestmark = pytest.mark.slow


def rss() -> int:
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _malloc_trim() -> None:
    """Hand freed heap memory back to the system, so that RSS shows what is still in use."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def settled_rss() -> int:
    gc.collect()
    _malloc_trim()
    return rss()


@pytest.fixture(scope="module", autouse=True)
def linux_only() -> Iterator[None]:
    try:
        rss()
    except OSError:
        pytest.skip("needs /proc/self/statm")
    yield


LINK_CYCLES = 20_000
LEAK_PER_LINK = 10 * 1024  # what a link kept before


def test_link_and_drop_cycles_keep_memory_flat() -> None:
    code = bytes.fromhex("6001600201" * 200 + "00")
    obj = compile_object(code, "cancun", 1)
    prepare_linker()
    keep = link_object(obj)  # a long-lived program, as a node would have
    for _ in range(500):  # warm-up: allocator pools, the first generations
        link_object(obj)
    before = settled_rss()
    for _ in range(LINK_CYCLES):
        program = link_object(obj)
        del program
    growth = settled_rss() - before
    assert keep.run is not None
    assert growth < LINK_CYCLES * LEAK_PER_LINK // 20, f"RSS grew {growth / 2**20:.1f} MB"


CLASS_CYCLES = 600
MEMORY_TOUCHED = 512 * 1024


def test_garbage_collected_jit_vm_classes_free_their_frames() -> None:
    # one message touching 512 KiB of memory (kept by the class's frame pool between messages)
    code = asm(1, MEMORY_TOUCHED - 32, "MSTORE", 0, 0, "RETURN")
    scenario = d.Scenario(code=code, fork="cancun", gas=10_000_000)
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as backend:
        for _ in range(20):
            assert d.execute(scenario, jit_vm(CancunVM, backend)).status == "success"
        hits = backend.stats().lookup_hits
        before = settled_rss()
        for _ in range(CLASS_CYCLES):
            d.execute(scenario, jit_vm(CancunVM, backend))
        growth = settled_rss() - before
        assert backend.stats().lookup_hits == hits + CLASS_CYCLES  # every message ran native
    assert growth < CLASS_CYCLES * MEMORY_TOUCHED // 20, f"RSS grew {growth / 2**20:.1f} MB"


EVICT_CYCLES = 10_000


def test_link_and_evict_cycles_through_the_runtime_keep_memory_flat() -> None:
    """The runtime's own path: every lookup of a new contract links a program, and the resident
    budget (room for two) evicts the least recently used one."""
    code = bytes.fromhex("6001600201" * 200 + "00")
    obj = compile_object(code, "cancun", 1)

    def compiler(task: object) -> object:  # in-process: every contract gets the same code
        return obj

    tuning = RuntimeTuning(
        worker_count=0, resident_code_budget=2 * len(obj.object_bytes), tier_up_after=0
    )
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        store=None,
        compiler=compiler,
        tuning=tuning,  # type: ignore[arg-type]
    )

    def lookups(start: int, count: int) -> None:
        for n in range(start, start + count):
            contract = n.to_bytes(4, "big")
            req = LookupRequest(RuntimeCacheKey(keccak(contract), "cancun"), contract)
            assert b.lookup(req).is_compiled

    with JitBackend.new(config) as b:
        lookups(0, 500)
        before = settled_rss()
        lookups(500, EVICT_CYCLES)
        growth = settled_rss() - before
        s = b.stats()
        assert s.resident_entries <= 2 and s.evictions >= EVICT_CYCLES
    assert growth < EVICT_CYCLES * LEAK_PER_LINK // 20, f"RSS grew {growth / 2**20:.1f} MB"
