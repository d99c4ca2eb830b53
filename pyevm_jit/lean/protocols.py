"""The parts of py-evm's objects that the glue and the lean paths use, as typing protocols.

py-evm's `eth.abc` describes its computation, but not everything the glue touches: the stack's
`values` list, for one, is an attribute of py-evm's `Stack` only. These protocols name exactly
what is used, typed with py-evm's own ABCs where those fit, so that the glue is checked instead
of taking `Any`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from eth.abc import (
    CodeStreamAPI,
    ComputationAPI,
    GasMeterAPI,
    MemoryAPI,
    MessageAPI,
    StateAPI,
    TransactionContextAPI,
)
from eth_utils.logging import ExtendedDebugLogger


class Stack(Protocol):
    """py-evm's `Stack`: its items, top last (ints, or bytes as some opcodes push them)."""

    values: list[Any]


#: an opcode table: opcode -> its implementation
OpcodeTable = dict[int, Any]


class Computation(Protocol):
    """A py-evm computation (`eth.vm.computation.BaseComputation`) as the glue uses it."""

    msg: MessageAPI
    state: StateAPI
    code: CodeStreamAPI
    opcodes: OpcodeTable
    transaction_context: TransactionContextAPI
    return_data: bytes
    output: bytes
    children: list[ComputationAPI]
    contracts_created: list[bytes]
    precompiles: dict[bytes, Callable[..., Any]]
    is_origin_computation: bool
    logger: ExtendedDebugLogger
    _gas_meter: GasMeterAPI
    _stack: Stack
    _memory: MemoryAPI
    _log_entries: list[tuple[int, bytes, tuple[int, ...], bytes]]

    def consume_gas(self, amount: int, reason: str) -> None: ...

    def return_gas(self, amount: int) -> None: ...

    def refund_gas(self, amount: int) -> None: ...

    def add_log_entry(self, account: bytes, topics: tuple[int, ...], data: bytes) -> None: ...

    def extend_memory(self, start_position: int, size: int) -> None: ...

    def memory_read_bytes(self, start_position: int, size: int) -> bytes: ...

    def memory_write(self, start_position: int, size: int, value: bytes) -> None: ...

    def apply_message(
        self,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: Computation | ComputationAPI | None = None,
    ) -> ComputationAPI: ...
