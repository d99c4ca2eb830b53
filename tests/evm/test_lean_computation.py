"""The JIT computation built without what only the interpreter needs (issue 24): py-evm's
constructor's work, with the code stream, stack and memory made when first read; a class whose
constructor is not py-evm's is built by calling it. Stock and JIT in one process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.code_stream import CodeStream
from eth.vm.computation import BaseComputation
from eth.vm.forks import CancunVM
from eth.vm.forks.berlin.computation import BerlinComputation
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.memory import Memory
from eth.vm.stack import Stack

from pyevm_jit import JitBackend, RuntimeConfig, jit_vm
from pyevm_jit.lean import guard
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import asm, return_stack
from pyevm_jit.testing.differential import Scenario


@pytest.fixture
def backend() -> Iterator[JitBackend]:
    with JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None)) as b:
        yield b


def _vm(computation: type) -> type:
    state = CancunVM._state_class.configure(  # type: ignore[attr-defined]
        __name__="KeptState", computation_class=computation
    )
    return CancunVM.configure(__name__="KeptVM", _state_class=state)  # type: ignore[no-any-return]


def _keeping(base: type, kept: list[Any]) -> type:
    """`base` whose top-level computations are appended to `kept`."""

    class Keeping(base):  # type: ignore[misc,valid-type]
        @classmethod
        def apply_message(cls, state: Any, message: Any, *args: Any, **kwargs: Any) -> Any:
            computation = super().apply_message(state, message, *args, **kwargs)
            if message.depth == 0:
                kept.append(computation)
            return computation

    return Keeping


def _run(backend: JitBackend, scenario: Scenario, computation: type = CancunComputation) -> Any:
    """(stock outcome, JIT outcome, stock computation, JIT computation, native hits)."""
    stock_kept: list[Any] = []
    jit_kept: list[Any] = []
    stock = d.execute(scenario, _vm(_keeping(computation, stock_kept)))
    jit_class = jit_vm(_vm(computation), backend)
    jit_computation = jit_class._state_class.computation_class  # type: ignore[attr-defined]
    state = jit_class._state_class.configure(  # type: ignore[attr-defined]
        computation_class=_keeping(jit_computation, jit_kept)
    )
    before = backend.stats().lookup_hits
    jit = d.execute(scenario, jit_class.configure(_state_class=state))  # type: ignore[attr-defined]
    native = backend.stats().lookup_hits - before
    assert d.compare(stock, jit) == []
    return stock_kept[-1], jit_kept[-1], native


# a storage read (native, or the lean SLOAD of a miss) and memory left holding a word
CODE = asm(0, "SLOAD", "POP", 0x2A, 0, "MSTORE", "GAS", *return_stack(1))


def test_interpreter_objects_made_when_read_and_equal_to_pyevms(backend: JitBackend) -> None:
    stock, jit, native = _run(backend, Scenario(code=CODE))
    assert native == 1
    made = vars(jit)
    assert "code" not in made and "_stack" not in made  # native code never needed them
    assert "_memory" not in made  # made when read, from the bytes native code left
    assert type(jit.code) is CodeStream and jit.code._raw_code_bytes == stock.code._raw_code_bytes
    assert type(jit._stack) is Stack and jit._stack.values == []
    assert type(jit._memory) is Memory and jit._memory._bytes == stock._memory._bytes
    assert len(jit._memory._bytes) >= 32  # the bytes native code left, copied out


def test_coinbase_warm_and_host_operations(backend: JitBackend) -> None:
    """Shanghai's constructor warms the coinbase (EIP-3651: its BALANCE costs the warm price);
    a host operation runs py-evm's opcode on the stack and code stream, made for it."""
    code = asm("COINBASE", "BALANCE", "GAS", *return_stack(2))
    _stock, jit, native = _run(backend, Scenario(code=code))
    assert native == 1 and "code" in vars(jit) and "_stack" in vars(jit)


def test_message_without_memory_leaves_an_empty_memory(backend: JitBackend) -> None:
    _stock, jit, native = _run(backend, Scenario(code=asm(1, 2, "ADD", "POP", "STOP")))
    assert native == 1 and "_memory" not in vars(jit)
    assert type(jit._memory) is Memory and jit._memory._bytes == bytearray()


def test_init_kinds() -> None:
    assert guard.computation_init_kind(BerlinComputation) == 1
    assert guard.computation_init_kind(CancunComputation) == 2

    class Own(CancunComputation):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)

    class New(CancunComputation):
        def __new__(cls, *args: Any) -> Any:
            return super().__new__(cls)

    assert guard.computation_init_kind(Own) == 0
    assert guard.computation_init_kind(New) == 0


def test_own_constructor_runs_as_written(backend: JitBackend) -> None:
    built: list[int] = []

    class Own(CancunComputation):
        def __init__(self, state: Any, message: Any, context: Any) -> None:
            built.append(message.depth)
            super().__init__(state, message, context)
            self.tag = "mine"

    _stock, jit, native = _run(backend, Scenario(code=CODE), Own)
    assert native == 1 and built == [0, 0] and jit.tag == "mine"
    assert "code" in vars(jit)  # py-evm's constructor made everything


def test_pyevm_constructor_patched_after_a_message(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A patch of py-evm's own constructor, after the class was judged, is called (the class's
    verdict is made again when a base class changes)."""
    _run(backend, Scenario(code=CODE))
    built: list[int] = []
    original = BaseComputation.__init__

    def patched(self: Any, state: Any, message: Any, context: Any) -> None:
        built.append(message.depth)
        original(self, state, message, context)

    monkeypatch.setattr(BaseComputation, "__init__", patched)
    _stock, jit, native = _run(backend, Scenario(code=CODE))
    assert native == 1 and built == [0, 0] and "code" in vars(jit)


def _meter_fields(meter: Any) -> tuple[Any, ...]:
    return (type(meter), vars(meter))


def test_gas_meter_as_pyevms_configure_makes_it(backend: JitBackend) -> None:
    """The meter of a computation built without its constructor's call is the one py-evm's
    `_configure_gas_meter` returns: same class, fields (refund strategy included), in order."""
    stock, jit, native = _run(backend, Scenario(code=CODE))
    assert native == 1
    assert list(vars(jit._gas_meter)) == list(vars(stock._gas_meter))
    fresh = stock._configure_gas_meter()
    jit_fresh = guard.gas_meter_maker(type(jit))(jit, jit.msg.gas)
    assert _meter_fields(jit_fresh) == _meter_fields(fresh)
    assert jit_fresh.refund_strategy is fresh.refund_strategy
    assert guard.gas_meter_maker(BerlinComputation) is not None
    # a class of its own: its method is called (no maker)
    assert guard.gas_meter_maker(type("Own", (CancunComputation,), {
        "_configure_gas_meter": lambda self: CancunComputation._configure_gas_meter(self)
    })) is None  # fmt: skip


def test_own_configure_gas_meter_and_patched_gas_meter_are_called(
    backend: JitBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A computation class with its own `_configure_gas_meter`, and py-evm's GasMeter
    constructor or refund strategy patched after messages ran: each runs as written."""
    from eth.vm.forks.istanbul import computation as istanbul
    from eth.vm.gas_meter import GasMeter

    _run(backend, Scenario(code=CODE))
    made: list[str] = []

    class Own(CancunComputation):
        def _configure_gas_meter(self) -> Any:
            made.append("own")
            return super()._configure_gas_meter()

    _stock, _jit, native = _run(backend, Scenario(code=CODE), Own)
    assert native == 1 and made == ["own", "own"]

    original_init = GasMeter.__init__

    def init(self: Any, *args: Any) -> None:
        made.append("init")
        original_init(self, *args)

    monkeypatch.setattr(GasMeter, "__init__", init)
    made.clear()
    _stock, _jit, native = _run(backend, Scenario(code=CODE))
    assert native == 1 and made == ["init", "init"]
    monkeypatch.undo()

    def strategy(total: int, amount: int) -> int:
        return total + amount

    monkeypatch.setattr(istanbul, "allow_negative_refund_strategy", strategy)
    stock, jit, native = _run(backend, Scenario(code=CODE))
    assert native == 1 and jit._gas_meter.refund_strategy is strategy
    assert stock._gas_meter.refund_strategy is strategy
