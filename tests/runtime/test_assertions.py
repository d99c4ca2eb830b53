"""`RuntimeConfig.debug_assertions`: every return from native code is checked against the
context contract (`runtime.assertions`)."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import pytest
from eth_hash.auto import keccak

from pyevm_jit.abi import ExecutionContext, Status
from pyevm_jit.runtime import JitBackend, RuntimeConfig, RuntimeTuning
from pyevm_jit.runtime.assertions import CheckedProgram, ContextAssertionError
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm

CODE = asm(1, 0, "SSTORE", 0x20, 0, "MSTORE", 32, 0, "RETURN")


class _Program:
    """Stands in for a linked program: `run` applies `effect` to the context."""

    entry_symbol = "evm_test"
    address = 0
    env_mask = 0
    code_size = 1

    def __init__(self, effect: Callable[[ExecutionContext], int]) -> None:
        self.effect = effect

    def run(self, ctx_ref: object) -> int:
        return self.effect(ctx_ref._obj)  # type: ignore[attr-defined]


def _call(effect: Callable[[ExecutionContext], int]) -> int:
    code = ctypes.create_string_buffer(CODE, len(CODE))
    memory = ctypes.create_string_buffer(64)
    ctx = ExecutionContext()
    ctx.gas = 1000
    ctx.code = ctypes.addressof(code)
    ctx.code_len = len(CODE)
    ctx.memory = ctypes.addressof(memory)
    ctx.memory_cap = 64
    program = CheckedProgram(_Program(effect))  # type: ignore[arg-type]
    return program.run(ctypes.byref(ctx))


def _returns(status: Status, **fields: int) -> Callable[[ExecutionContext], int]:
    def effect(ctx: ExecutionContext) -> int:
        for name, value in fields.items():
            setattr(ctx, name, value)
        return int(status)

    return effect


def test_a_contract_kept_passes() -> None:
    assert _call(_returns(Status.STOP, gas=900, stack_len=3)) == Status.STOP
    assert _call(_returns(Status.RETURN, memory_len=64, exit_a=32, exit_b=32)) == Status.RETURN
    assert _call(_returns(Status.SUSPEND, exit_pc=4, exit_op=0x55, stack_len=2)) == Status.SUSPEND
    assert _call(_returns(Status.OUT_OF_GAS, gas=-5)) == Status.OUT_OF_GAS


@pytest.mark.parametrize(
    ("effect", "message"),
    [
        (_returns(Status.STOP, gas=1001), "gas went up"),
        (_returns(Status.STOP, gas=-1), "below zero"),
        (_returns(Status.STOP, stack_len=1025), "stack_len"),
        (lambda ctx: 99, "unknown status 99"),
        (_returns(Status.STOP, memory_len=96), "memory_len"),
        (_returns(Status.STOP, memory_len=33), "memory_len"),
        (_returns(Status.RETURN, memory_len=32, exit_a=16, exit_b=32), "outside memory"),
        (_returns(Status.STOP, code_len=3), "code or calldata"),
        (_returns(Status.STOP, log_len=8), "log buffer"),
        (_returns(Status.SUSPEND, exit_pc=4, exit_op=0x01), "not a host operation"),
        (_returns(Status.SUSPEND, exit_pc=0, exit_op=0x55), "code has 0x60"),
        (_returns(Status.INVALID_INSTRUCTION, exit_pc=len(CODE)), "outside the code"),
    ],
)
def test_a_broken_contract_is_named(
    effect: Callable[[ExecutionContext], int], message: str
) -> None:
    with pytest.raises(ContextAssertionError, match=message) as info:
        _call(effect)
    assert str(info.value).startswith("evm_test: ")


def test_real_programs_run_checked_and_agree_with_stock() -> None:
    scenario = d.Scenario(code=CODE, storage={0: 7})
    config = RuntimeConfig(
        enabled=True,
        blocking=True,
        debug_assertions=True,
        tuning=RuntimeTuning(worker_count=0, tier_up_after=0),
    )
    with JitBackend.new(config) as backend:
        jit = d.run_jit(scenario, backend)
        program = backend.get_compiled(keccak(CODE), scenario.fork)
        assert isinstance(program.native if program else None, CheckedProgram)
        assert backend.stats().lookup_hits >= 1
    assert d.compare(d.run_stock(scenario), jit) == []
