"""The frame's native SLOAD cache: warm slots answered natively, never a stale value.

Each program is run through the JIT and the stock interpreter in the same process; outcomes
(gas, storage, output, logs) must match exactly.
"""

from __future__ import annotations

import pytest

from pyevm_jit.abi import SLOAD_CACHE_ENTRIES, sload_cache_index
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.assembler import Label, Ref, asm, return_stack
from pyevm_jit.testing.differential import Scenario

FORKS = ("frontier", "istanbul", "berlin", "cancun")


def check(scenario: Scenario) -> None:
    stock, jit = d.run_both(scenario)
    assert d.compare(stock, jit) == []
    assert jit.native_messages >= 1


@pytest.mark.parametrize("fork", FORKS)
def test_repeated_reads_of_a_slot(fork: str) -> None:
    code = asm(7, "SLOAD", 7, "SLOAD", "ADD", 7, "SLOAD", "ADD", *return_stack(1))
    check(Scenario(code=code, fork=fork, storage={7: 5}))


@pytest.mark.parametrize("fork", FORKS)
def test_read_after_write_sees_the_written_value(fork: str) -> None:
    code = asm(1, "SLOAD", 9, 1, "SSTORE", 1, "SLOAD", 0, 1, "SSTORE", 1, "SLOAD", *return_stack(3))
    check(Scenario(code=code, fork=fork, storage={1: 3}))


def test_colliding_keys_evict_each_other() -> None:
    first = 5
    second = next(
        k for k in range(first + 1, 10**6) if sload_cache_index(k) == sload_cache_index(first)
    )
    code = asm(first, "SLOAD", second, "SLOAD", first, "SLOAD", second, "SLOAD", *return_stack(4))
    check(Scenario(code=code, storage={first: 11, second: 22}))


def test_many_distinct_slots() -> None:
    items: list[int | str] = []
    for slot in range(2 * SLOAD_CACHE_ENTRIES):
        items += [slot, "SLOAD", "POP"]
    items += [3, "SLOAD", 100, "SLOAD", *return_stack(2)]
    check(Scenario(code=asm(*items), storage={3: 33, 100: 1000}))


@pytest.mark.parametrize("call", ("CALL", "DELEGATECALL", "CALLCODE"))
def test_reentrant_write_through_a_call_is_seen(call: str) -> None:
    """The contract reads slot 0, calls itself (which writes slot 0), then reads slot 0 again."""
    # calldata empty: outer frame; calldata non-empty: inner frame writes 42 to slot 0
    inner = [42, 0, "SSTORE", "STOP"]
    args = [0, 0, 1, 0] if call in ("DELEGATECALL",) else [0, 0, 1, 0, 0]
    outer = [
        0, "SLOAD", "POP",
        *args, "ADDRESS", 100_000, call, "POP",
        0, "SLOAD", *return_stack(1),
    ]  # fmt: skip
    code = asm("CALLDATASIZE", Ref("inner"), "JUMPI", *outer, Label("inner"), *inner)
    check(Scenario(code=code, storage={0: 1}))


def test_low_gas_falls_back_to_pyevm_for_the_exact_error() -> None:
    # A warm SLOAD with too little gas left must fail exactly as the interpreter fails.
    code = asm(0, "SLOAD", "POP", 0, "SLOAD", 0, "SLOAD", "STOP")
    for gas in range(21_000 + 2_100 + 100, 21_000 + 2_500, 7):
        check(Scenario(code=code, gas=gas, storage={0: 1}, accounts={d.RICH: Account()}))


@pytest.mark.parametrize("transient", (False, True))
def test_remembered_slot_is_where_native_code_looks(transient: bool) -> None:
    """`SlotCache.remember` puts a key in the entry `layout.index` names (what compiled code
    computes), small keys (their index taken from the low bits) as well as large ones."""
    from pyevm_jit.abi import STORAGE_CACHE, TRANSIENT_CACHE
    from pyevm_jit.evm.state_path import SlotCache

    layout = TRANSIENT_CACHE if transient else STORAGE_CACHE
    keys = [0, 1, 255, 256, 1023, 1024, 65535, 65536, 65537, 2**64 + 3, 2**255 + 2**130 + 7]
    for key in keys:
        cache = SlotCache(layout)
        cache.remember(key, key + 1, key + 2)
        index = layout.index(key)
        assert cache.view[layout.flags_offset + index] == 1
        assert int.from_bytes(cache.view[index * 32 : index * 32 + 32], "little") == key
        assert cache.entry(key) == (key + 1, key + 2 if layout.with_original else 0, 1)
