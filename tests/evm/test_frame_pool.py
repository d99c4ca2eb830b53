"""Pooled native frames: what one message leaves must never reach the next one.

Frames (stack, memory buffer, storage and transient caches) are reused by the next message at
the same depth. Each test runs a sequence of messages on one state through the JIT and the same
sequence on another state through py-evm's stock interpreter, and compares every message's
outcome, including the memory its computation holds afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from eth.vm.memory import Memory

from pyevm_jit.evm import frame as jit_frame
from pyevm_jit.forks import fork_vm
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm, return_stack
from pyevm_jit.testing.differential import Scenario

Step = Callable[[Any], None]


def apply_message(state: Any, code: bytes, gas: int = 1_000_000) -> Any:
    from eth.vm.message import Message

    message = Message(gas=gas, to=d.CONTRACT, sender=d.SENDER, value=0, data=b"", code=code)
    context = state.get_transaction_context_class()(gas_price=1, origin=d.SENDER)
    return state.computation_class.apply_message(state, message, context)


def summary(computation: Any) -> tuple[Any, ...]:
    memory = computation._memory
    return (
        computation.is_success,
        type(computation.error).__name__ if computation.is_error else None,
        computation.get_gas_remaining(),
        computation.get_gas_refund(),
        bytes(computation.output),
        computation.get_log_entries(),
        type(memory),
        len(memory),
        memory.read_bytes(0, len(memory)),
    )


def run_sequence(
    codes: Sequence[bytes | Step], fork: str = "cancun", storage: dict[int, int] | None = None
) -> list[tuple[Any, ...]]:
    """Each item is a message's code (its summary is compared) or a step run on both states."""
    scenario = Scenario(code=b"\x00", fork=fork, storage=storage or {})
    results = []
    backend = d.get_backend()
    for vm_class in (fork_vm(fork), d.jit_vm_class(fork)):
        state = d.build_state(scenario, vm_class)
        hits = backend.stats().lookup_hits
        results.append([summary(apply_message(state, item)) if isinstance(item, bytes)
                        else item(state) for item in codes])  # fmt: skip
    stock, jit = results
    assert jit == stock
    # every message ran native code (a sequence that was interpreted would prove nothing)
    assert backend.stats().lookup_hits - hits == sum(isinstance(item, bytes) for item in codes)
    return jit


def mload(offset: int) -> list[int | str]:
    return [offset, "MLOAD"]


@pytest.mark.parametrize("offset", [0, 64, 1000, 5000, 70_000])
def test_memory_of_the_previous_message_is_zero(offset: int) -> None:
    """A message writes memory (growing the buffer to various sizes); the next message reads
    the same words beyond its own memory (expanding it): zeros, as py-evm's fresh memory."""
    write = asm(0xFF, offset, "MSTORE", 0xEE, 0, "MSTORE", "MSIZE", *return_stack(1))
    read = asm(*mload(offset), *mload(0), *mload(offset + 32), "MSIZE", *return_stack(4))
    results = run_sequence([write, read, write, read, read])
    for result in results[1::2]:
        words = [result[4][at : at + 32] for at in range(0, 128, 32)]
        assert words.count(bytes(32)) == 3  # all but MSIZE


def test_memory_after_a_buffer_larger_than_the_pool_keeps() -> None:
    big = (1 << 20) + 4096  # past the pooled limit: the buffer is freed after the message
    write = asm(1, big, "MSTORE8", 2, 10, "MSTORE8", *return_stack(0))
    read = asm(*mload(0), *mload(big - 31), "MSIZE", *return_stack(3))
    run_sequence([write, read, write, read], storage={})


def test_computation_memory_after_the_message() -> None:
    """The computation holds its memory afterwards like the interpreter's (empty, written,
    reverted, failed, returned from)."""
    codes = [
        asm("STOP"),
        asm(5, 0, "MSTORE", "STOP"),
        asm(7, 100, "MSTORE", 32, 100, "REVERT"),
        asm(7, 3, "MSTORE8", 1, "JUMP"),  # invalid jump: an error after writing memory
        asm(9, 0, "MSTORE", 32, 0, "RETURN"),
        asm(1, 2, "ADD", "POP", "STOP"),
    ]
    results = run_sequence(codes)
    assert [r[6] for r in results] == [Memory] * len(codes)
    assert [r[7] for r in results] == [0, 32, 160, 32, 32, 0]


def test_transient_storage_cleared_between_transactions_is_seen() -> None:
    """A message writes transient storage natively; py-evm clears it (a new transaction); the
    next message's TLOAD reads py-evm's value, never the frame's old cache entry."""
    write = asm(7, 0, "TSTORE", 0, "TLOAD", *return_stack(1))
    read = asm(0, "TLOAD", 1, "TLOAD", *return_stack(2))

    def clear(state: Any) -> None:
        state.clear_transient_storage()

    results = run_sequence([write, read, clear, read, write, clear, read])
    assert results[1][4][63] == 7  # slot 0 (the second word)
    assert results[3][4] == bytes(64)
    assert results[6][4] == bytes(64)


def test_storage_written_by_python_between_messages_is_seen() -> None:
    load = asm(0, "SLOAD", 5, 0, "SSTORE", 0, "SLOAD", *return_stack(2))

    def write(state: Any) -> None:
        state.set_storage(d.CONTRACT, 0, 42)

    results = run_sequence([load, write, load, load], storage={0: 1})
    assert int.from_bytes(results[2][4][32:], "big") == 42


def test_pending_changes_left_by_a_failing_hand_over_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """py-evm raises while native writes, a refund and logs are handed over (a broken state):
    the exception propagates, and the frame's next message starts with nothing pending and
    empty caches, like a fresh one."""
    code = asm(0, "SLOAD", "POP", 0, 0, "SSTORE", 1, 2, "TSTORE", 3, 0, 0, "LOG1", "STOP")
    after = asm(0, "SLOAD", 2, "TLOAD", 4, 0, 0, "LOG1", *return_stack(2))
    scenario = Scenario(code=code, storage={0: 9})
    state = d.build_state(scenario, d.jit_vm_class("cancun"))
    stock_state = d.build_state(scenario, fork_vm("cancun"))

    class Broken(Exception):
        pass

    def broken(*args: Any, **kwargs: Any) -> None:
        raise Broken

    with monkeypatch.context() as patch:
        for target in (state, stock_state):
            patch.setattr(type(target), "set_storage", broken)
            with pytest.raises(Broken):
                apply_message(target, code)
    pool = state.computation_class._jit_pool
    frame = pool.acquire()
    ctx = frame.ctx
    assert (ctx.pending, ctx.refund, ctx.dirty_count, ctx.tdirty_count, ctx.log_len) == (
        0, 0, 0, 0, 0)  # fmt: skip
    assert frame.state.storage.entry(0) is None and frame.state.transient.entry(2) is None
    pool.release(frame)
    # nothing of the failed message reached py-evm's storage (it raised at the first write)
    assert summary(apply_message(state, after)) == summary(apply_message(stock_state, after))


def test_frames_are_reused() -> None:
    """The tests above exercise reuse only if messages at one depth share a frame."""
    created = []
    original = jit_frame.NativeFrame.__init__

    def counting(self: Any) -> None:
        created.append(self)
        original(self)

    code = asm(5, 0, "MSTORE", 0, "SLOAD", *return_stack(1))
    state = d.build_state(Scenario(code=code), d.jit_vm_class("cancun"))
    apply_message(state, code)
    jit_frame.NativeFrame.__init__ = counting  # type: ignore[method-assign]
    try:
        for _ in range(3):
            assert apply_message(state, code).is_success
    finally:
        jit_frame.NativeFrame.__init__ = original  # type: ignore[method-assign]
    assert created == []
