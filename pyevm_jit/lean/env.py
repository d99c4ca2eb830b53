"""Environment words read directly from what py-evm's logic functions push.

The native program's environment block is filled, per message, by running py-evm's logic of
each environment opcode it reads and popping the result off py-evm's stack. For py-evm's own
logic functions (`guard.ENV_LOGIC`) the value is read here from the same attribute the function
pushes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyevm_jit.lean import guard
from pyevm_jit.lean.exact import exact_paths

EnvGetter = Callable[[Any], int]


def _bytes_word(data: bytes) -> int:
    return int.from_bytes(data, "big")


#: guard.ENV_LOGIC names -> the value the logic function pushes, read from the computation
_GETTERS: dict[str, EnvGetter] = {
    "address": lambda c: _bytes_word(c.msg.storage_address),
    "origin": lambda c: _bytes_word(c.transaction_context.origin),
    "caller": lambda c: _bytes_word(c.msg.sender),
    "callvalue": lambda c: c.msg.value,
    "gasprice": lambda c: c.transaction_context.gas_price,
    "chain_id": lambda c: c.state.execution_context.chain_id,
    "coinbase": lambda c: _bytes_word(c.state.coinbase),
    "timestamp": lambda c: c.state.timestamp,
    "number": lambda c: c.state.block_number,
    "difficulty": lambda c: c.state.difficulty,
    "gaslimit": lambda c: c.state.gas_limit,
    "basefee": lambda c: c.state.base_fee,
    "mixhash": lambda c: _bytes_word(c.state.mix_hash),
    "blob_base_fee": lambda c: c.state.blob_base_fee,
}


def environment_getters(
    opcodes: Mapping[int, Any], env_opcodes: Iterable[int], exact: frozenset[int] = frozenset()
) -> dict[int, EnvGetter]:
    """opcode -> value getter, for the environment opcodes of the table `opcodes` that are
    py-evm's exact objects (`exact`, from `lean.exact`) with one of py-evm's logic functions."""
    return exact_paths(opcodes, env_opcodes, exact, guard.env_logic_name, _GETTERS)
