"""MODEXP under Osaka: each length at most 1024 bytes (EIP-7823; a longer one is an
exceptional halt that burns the call's gas) and the gas of EIP-7883 (minimum 500, complexity
at least 16 and twice the squared word count above 32 bytes, 16 iterations per exponent byte
beyond the first 32)."""

from __future__ import annotations

from eth.abc import ComputationAPI
from eth.exceptions import VMError

from pyevm_jit.osaka.constants import (
    MODEXP_EXPONENT_BYTE_FACTOR,
    MODEXP_MAX_LENGTH,
    MODEXP_MIN_COMPLEXITY,
    MODEXP_MIN_GAS,
)


class ModexpInputTooLong(VMError):
    """A MODEXP length beyond EIP-7823's bound: the call fails and its gas is burnt."""


def _read(data: bytes, start: int, size: int) -> bytes:
    """`size` bytes of `data` from `start`, zero-padded on the right past its end."""
    return data[start : start + size].ljust(size, b"\x00")


def lengths(data: bytes) -> tuple[int, int, int]:
    """The base, exponent and modulus lengths the input declares."""
    head = _read(data, 0, 96)
    return tuple(int.from_bytes(head[i : i + 32], "big") for i in (0, 32, 64))  # type: ignore[return-value]


def gas_cost(base_length: int, exp_length: int, modulus_length: int, exp_head: int) -> int:
    """EIP-7883's gas (`exp_head`: the exponent's first min(32, exp_length) bytes)."""
    longest = max(base_length, modulus_length)
    words = (longest + 7) // 8
    complexity = MODEXP_MIN_COMPLEXITY if longest <= 32 else 2 * words * words
    head_bits = max(exp_head.bit_length() - 1, 0)
    if exp_length <= 32:
        iterations = head_bits
    else:
        iterations = MODEXP_EXPONENT_BYTE_FACTOR * (exp_length - 32) + head_bits
    return max(MODEXP_MIN_GAS, complexity * max(iterations, 1))


def modexp(computation: ComputationAPI) -> ComputationAPI:
    data = computation.msg.data_as_bytes
    base_length, exp_length, modulus_length = lengths(data)
    if max(base_length, exp_length, modulus_length) > MODEXP_MAX_LENGTH:
        raise ModexpInputTooLong(
            f"MODEXP lengths ({base_length}, {exp_length}, {modulus_length}) exceed "
            f"{MODEXP_MAX_LENGTH} bytes"
        )
    exp_start = 96 + base_length
    exp_head = int.from_bytes(_read(data, exp_start, min(32, exp_length)), "big")
    computation.consume_gas(
        gas_cost(base_length, exp_length, modulus_length, exp_head), reason="MODEXP precompile"
    )
    base = int.from_bytes(_read(data, 96, base_length), "big")
    exponent = int.from_bytes(_read(data, exp_start, exp_length), "big")
    modulus = int.from_bytes(_read(data, exp_start + exp_length, modulus_length), "big")
    if modulus == 0:
        computation.output = b"\x00" * modulus_length
    else:
        computation.output = pow(base, exponent, modulus).to_bytes(modulus_length, "big")
    return computation
