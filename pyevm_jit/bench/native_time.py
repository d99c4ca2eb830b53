"""Time to native: a large contract called again and again under the default runtime config.

The runtime compiles a contract in the background once it has missed `hot_threshold` lookups,
and recompiles it at the tier-up level after `tier_up_after` native calls; until then the calls
are interpreted. `time_to_native` measures how long a caller waits for each step: the case's
call is made in a loop on a JIT VM (the default `RuntimeConfig`, no store so that nothing comes
from an earlier run) and the wall time and number of calls are recorded until the first native
call and until the first call of tier-up code. Every call's outcome is compared with py-evm's
stock interpreter.

`synthetic_case` builds the default subject: a 24 KB contract with a selector dispatch over
about 160 functions, one of which is called (a loop of arithmetic, memory and hashing,
a few milliseconds interpreted) -- the shape of a large deployed contract, where a call runs a
small part of the code.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.bench.cases import BenchCase, BenchTx
from pyevm_jit.bench.sides import PyEvmRunner, bench_vm_class
from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.runtime import CompilationEvent, JitBackend, RuntimeConfig
from pyevm_jit.testing.assembler import AsmItem, Label, Ref, asm

#: the largest code the runtime compiles (EIP-170)
MAX_CODE = 24576
_CALLER = bytes([0x11] * 20)
_CONTRACT = bytes([0xCC] * 20)


def _selector(index: int) -> int:
    return int.from_bytes(keccak(f"f{index}(uint256)".encode())[:4], "big")


def _function(index: int) -> list[AsmItem]:
    """f<index>(x): 48 rounds of mixing x into an accumulator (arithmetic, a branch, memory and
    a Keccak each round); returns the accumulator. Stack comments: top last."""
    k = keccak(index.to_bytes(4, "big"))
    k1, k2 = int.from_bytes(k[:16], "big") | 1, int.from_bytes(k[16:], "big") | 1
    shift = 3 + index % 61
    offset = 0x20 * (index % 4)
    f = f"f{index}"
    return [
        Label(f), "POP",  # the selector
        4, "CALLDATALOAD", 0, 48,  # x acc n
        Label(f"{f}.loop"),
        "SWAP1", k1, "MUL", "DUP3", "ADD",  # x n acc*k1+x
        "DUP3", shift, "SHR", "XOR",  # x n acc
        "DUP1", k2, "LT", Ref(f"{f}.low"), "JUMPI",  # k2 < acc
        k2, "SWAP1", "MOD" if index % 2 else "DIV",  # acc % k2 or acc / k2
        index + 1, "ADD",
        Label(f"{f}.low"),  # x n acc
        "DUP1", offset + 0x20, "MSTORE", 0x40, offset, "SHA3", "XOR",  # x n acc
        "SWAP1", 1, "SWAP1", "SUB",  # x acc n-1
        "DUP1", Ref(f"{f}.loop"), "JUMPI",  # while n != 0
        "POP", 0, "MSTORE",  # acc at 0
        "POP", 0x20, 0, "RETURN",
    ]  # fmt: skip


def _contract(count: int) -> bytes:
    items: list[AsmItem] = [0, "CALLDATALOAD", 0xE0, "SHR"]  # the selector
    for index in range(count):
        items += ["DUP1", _selector(index), "EQ", Ref(f"f{index}"), "JUMPI"]
    items += [0, "DUP1", "REVERT"]
    for index in range(count):
        items += _function(index)
    return asm(*items)


def synthetic_contract(max_size: int = MAX_CODE) -> tuple[bytes, list[int]]:
    """The largest such contract within `max_size` bytes and its functions' selectors
    (deterministic)."""
    low, high = 1, 2
    while len(_contract(high)) <= max_size:
        low, high = high, high * 2
    while high - low > 1:  # len(_contract(low)) <= max_size < len(_contract(high))
        middle = (low + high) // 2
        if len(_contract(middle)) <= max_size:
            low = middle
        else:
            high = middle
    return _contract(low), [_selector(i) for i in range(low)]


def synthetic_case(max_size: int = MAX_CODE) -> BenchCase:
    """A bench case calling the middle function of `synthetic_contract` with a fixed argument."""
    code, selectors = synthetic_contract(max_size)
    data = selectors[len(selectors) // 2].to_bytes(4, "big") + (12345).to_bytes(32, "big")
    pre: dict[str, Any] = {
        "0x" + _CALLER.hex(): {"balance": hex(10**30), "code": "0x", "nonce": "0x0",
                               "storage": {}},
        "0x" + _CONTRACT.hex(): {"balance": "0x0", "code": "0x" + code.hex(), "nonce": "0x1",
                                 "storage": {}},
    }  # fmt: skip
    env = {
        "currentBaseFee": "0x0",
        "currentCoinbase": "0x" + "00" * 20,
        "currentGasLimit": hex(2**62),
        "currentNumber": "0x1",
        "currentTimestamp": "0x1",
    }
    tx = BenchTx(_CALLER, _CONTRACT, data, 0, 100_000_000, 0)
    return BenchCase(f"synthetic {len(code)} B ({len(selectors)} functions)", "", env, pre, tx)


@dataclass
class TimeToNative:
    name: str
    code_len: int
    calls: int = 0
    #: wall seconds from the first call to the end of the first call that ran native code
    native_after: float | None = None
    native_call: int | None = None  # 1-based
    #: CPU seconds of this process (all its threads: the calls, learning, an in-process
    #: compile, linking; not a worker process's compile) until then: what a loaded machine
    #: inflates far less than the wall time
    native_after_cpu: float | None = None
    tier_up_after: float | None = None  # ... that ran tier-up code
    tier_up_call: int | None = None
    #: the first compilation's translate + optimise + codegen (CPU of the compiling worker)
    compile_cpu: float = 0.0
    tier_up_cpu: float = 0.0
    #: linking both into this process (wall: it shares the interpreter's lock with the calls)
    link_seconds: float = 0.0
    interpreted_ms: float = float("nan")  # median per call, before the first native call
    native_ms: float = float("nan")  # median per call on first-tier code
    tier_up_ms: float = float("nan")  # median per call on tier-up code
    error: str = ""
    events: list[str] = field(default_factory=list)


def time_to_native(
    case: BenchCase,
    *,
    fork: str = "cancun",
    limit_seconds: float = 120.0,
    config: RuntimeConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> TimeToNative:
    """Call the case's contract in a loop until tier-up code ran a few times (or the limit)."""
    code = case.codes()[-1] if case.codes() else b""
    result = TimeToNative(case.name, len(code))
    stock = bench_vm_class(fork)
    expected = PyEvmRunner(case, stock).timed()[1]
    events: list[CompilationEvent] = []
    if config is None:
        config = RuntimeConfig(enabled=True, store=None, on_compilation=events.append)
    else:
        user = config.on_compilation

        def both(event: CompilationEvent) -> None:
            events.append(event)
            if user is not None:
                user(event)

        config = dataclasses.replace(config, on_compilation=both)
    backend = JitBackend.new(config)
    try:
        runner = PyEvmRunner(case, jit_vm(stock, backend))
        interpreted: list[float] = []
        native: list[float] = []
        tiered: list[float] = []
        start = time.perf_counter()
        start_cpu = time.process_time()
        while time.perf_counter() - start < limit_seconds:
            hits = backend.stats().lookup_hits
            tier_ready = any(e.tier_up and e.success for e in events)
            elapsed_ns, outcome = runner.timed()
            result.calls += 1
            differences = outcome.differences(expected, with_root=False)
            if differences:
                result.error = f"call {result.calls} differs from stock: {differences[0]}"
                break
            ran_native = backend.stats().lookup_hits > hits
            now = time.perf_counter() - start
            if not ran_native:
                interpreted.append(elapsed_ns / 1e6)
            elif tier_ready:
                if result.tier_up_after is None:
                    result.tier_up_after, result.tier_up_call = now, result.calls
                    if progress is not None:
                        progress(f"tier-up code after {now:.1f} s")
                tiered.append(elapsed_ns / 1e6)
                if len(tiered) >= 5:
                    break
            else:
                if result.native_after is None:
                    result.native_after, result.native_call = now, result.calls
                    result.native_after_cpu = time.process_time() - start_cpu
                    if progress is not None:
                        progress(f"native after {now:.1f} s")
                native.append(elapsed_ns / 1e6)
        for samples, name in ((interpreted, "interpreted_ms"), (native, "native_ms"),
                              (tiered, "tier_up_ms")):  # fmt: skip
            if samples:
                setattr(result, name, statistics.median(samples))
        for event in events:
            cpu = event.translate + event.optimise + event.codegen
            result.link_seconds += event.link
            if event.tier_up:
                result.tier_up_cpu += cpu
            else:
                result.compile_cpu += cpu
            result.events.append(
                f"{'tier-up' if event.tier_up else 'first tier'} level {event.opt_level}: "
                f"{'ok' if event.success else event.error} after {event.duration:.2f} s wall, "
                f"compile {cpu:.2f} s CPU, link {event.link:.2f} s wall"
            )
    finally:
        backend.close()
    return result


def format_time_to_native(r: TimeToNative) -> list[str]:
    """Report lines for one measurement."""
    lines = [f"time to native: {r.name}, called in a loop (default runtime config)"]
    if r.error:
        return [*lines, f"  FAIL {r.error}"]

    def at(seconds: float | None, call: int | None) -> str:
        return "not reached" if seconds is None else f"{seconds:.2f} s (call {call})"

    cpu = "" if r.native_after_cpu is None else f" ({r.native_after_cpu:.2f} s CPU of this process)"
    lines.append(
        f"  first native call after {at(r.native_after, r.native_call)}{cpu}, first-tier compile "
        f"{r.compile_cpu:.2f} s CPU; tier-up code after {at(r.tier_up_after, r.tier_up_call)}, "
        f"tier-up compile {r.tier_up_cpu:.2f} s CPU (linking both: {r.link_seconds:.2f} s wall)"
    )
    lines.append(
        f"  per call: interpreted {r.interpreted_ms:.2f} ms, first tier {r.native_ms:.2f} ms, "
        f"tier-up {r.tier_up_ms:.2f} ms ({r.calls} calls)"
    )
    return lines + [f"  {line}" for line in r.events]


__all__ = [
    "TimeToNative",
    "format_time_to_native",
    "synthetic_case",
    "synthetic_contract",
    "time_to_native",
]
