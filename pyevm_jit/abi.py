"""The contract between compiled programs and Python: the context struct and status codes.

The struct is described once here; `ExecutionContext` (ctypes) and the LLVM struct type used by
the code generator are both generated from `CONTEXT_FIELDS`. Change anything here and bump
`engine.ABI_VERSION`.
"""

from __future__ import annotations

import ctypes
import enum

STACK_LIMIT = 1024
WORD_BYTES = 32

# (name, is_pointer). Every field is 8 bytes wide: an i64 or a pointer.
CONTEXT_FIELDS: tuple[tuple[str, bool], ...] = (
    ("gas", False),  # gas left (signed 64-bit; messages with more gas are interpreted)
    ("stack_len", False),  # items on the EVM stack
    ("stack", True),  # STACK_LIMIT little-endian 256-bit words
    ("memory", True),  # EVM memory, grown with realloc by native code and by Python
    ("memory_len", False),  # bytes, always a multiple of 32
    ("memory_cap", False),  # bytes allocated
    ("calldata", True),
    ("calldata_len", False),
    ("code", True),
    ("code_len", False),
    ("returndata", True),
    ("returndata_len", False),
    ("env", True),  # one 32-byte little-endian word per environment opcode (opcodes.ENV_SLOT)
    ("resume", False),  # 0 = start; otherwise the suspension point to continue from
    ("exit_pc", False),  # pc of the instruction that suspended, failed or falls back
    ("exit_op", False),  # opcode of the suspending host operation
    ("exit_a", False),  # RETURN/REVERT: output offset; invalid jump: low 64 bits of target
    ("exit_b", False),  # RETURN/REVERT: output size; invalid jump: 1 if target >= 2^64
    ("sload_cache", True),  # SLOAD_CACHE_ENTRIES slots of this frame whose value is known
)

# The frame's SLOAD cache: direct-mapped, keys then values (little-endian words), then one
# valid byte per entry. Python fills it after py-evm's SLOAD/SSTORE run and clears it after
# calls and creates (a child may write this account's storage).
SLOAD_CACHE_ENTRIES = 1024
SLOAD_CACHE_BYTES = SLOAD_CACHE_ENTRIES * (2 * WORD_BYTES + 1)


def sload_cache_index(key: int) -> int:
    """The cache entry of a storage key (the compiled code computes the same)."""
    x = key ^ (key >> 128)
    x = (x ^ (x >> 64)) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 32
    x ^= x >> 16
    return x & (SLOAD_CACHE_ENTRIES - 1)

FIELD_INDEX: dict[str, int] = {name: i for i, (name, _) in enumerate(CONTEXT_FIELDS)}


class ExecutionContext(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_void_p if is_pointer else ctypes.c_int64)
        for name, is_pointer in CONTEXT_FIELDS
    ]


class Status(enum.IntEnum):
    """What a call into a compiled program returns."""

    STOP = 0  # halted by STOP or by running off the end of the code
    RETURN = 1  # output is memory[exit_a : exit_a + exit_b]
    REVERT = 2  # same, and the message reverts
    SUSPEND = 3  # run host operation exit_op at exit_pc through py-evm, then call again
    FALLBACK = 4  # continue in the interpreter from exit_pc (the state is exact there)
    OUT_OF_GAS = 10
    INVALID_JUMP = 11  # target in exit_a/exit_b
    INVALID_INSTRUCTION = 12
    RETURNDATA_OUT_OF_BOUNDS = 13
    MEMORY_ALLOCATION_FAILED = 14


def _layout_fingerprint() -> int:
    """A number that changes whenever anything compiled code relies on changes.

    Compiled programs embed it and the linker refuses a mismatch, so object code built by a
    process (or stored by a version) with another layout is never run.
    """
    from eth_hash.auto import keccak

    from pyevm_jit.opcodes import ENV_SLOT

    layout = (
        CONTEXT_FIELDS, STACK_LIMIT, WORD_BYTES, SLOAD_CACHE_ENTRIES,
        sorted((status.name, int(status)) for status in Status), sorted(ENV_SLOT.items()),
    )  # fmt: skip
    return int.from_bytes(keccak(repr(layout).encode())[:8], "big") >> 1


ABI_FINGERPRINT = _layout_fingerprint()
