"""The contract between compiled programs and Python: the context struct and status codes.

The struct is described once here; `ExecutionContext` (ctypes) and the LLVM struct type used by
the code generator are both generated from `CONTEXT_FIELDS`. Nothing to bump when anything here
changes: programs embed `ABI_FINGERPRINT` (the linker refuses another), and this file is one of
the sources hashed into the engine identity (`compiler.target.COMPILER_SOURCES`).
"""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass

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
    # --- the native state path (see STORAGE_CACHE, LOG_RECORD_HEADER, StateFlag) ---
    ("storage_cache", True),  # STORAGE_CACHE: slots of this account known to this frame
    ("transient_cache", True),  # TRANSIENT_CACHE: transient slots known to this frame
    ("state_flags", False),  # StateFlag bits: which state operations may run natively
    ("pending", False),  # nonzero: writes, a refund or logs wait to be handed to py-evm
    ("refund", False),  # signed gas refund of native SSTOREs not yet handed to py-evm
    ("dirty_count", False),  # entries on STORAGE_CACHE's dirty list
    ("tdirty_count", False),  # entries on TRANSIENT_CACHE's dirty list
    ("log_buf", True),  # log records of native LOGs not yet handed to py-evm
    ("log_len", False),  # bytes used in log_buf
    ("log_cap", False),  # bytes of log_buf
    # --- observation logs (evm/observe.py, codegen/observe.py), each NULL unless the running
    # message is observed; native code appends and grows them with realloc, Python drains them
    # at every exit
    ("trace", True),  # u32 start pc of every block entered (before its head checks)
    ("trace_len", False),
    ("trace_cap", False),
    ("gas_log", True),  # (i64 pc, i64 amount) per dynamic gas charge
    ("gas_log_len", False),
    ("gas_log_cap", False),
    ("sha3_log", True),  # 32-byte hash then the 64 bytes hashed, per SHA3 of 64 bytes
    ("sha3_log_len", False),
    ("sha3_log_cap", False),
)


@dataclass(frozen=True)
class SlotCacheLayout:
    """A frame's direct-mapped cache of storage slots (or transient slots) of its account.

    Little-endian words: keys[entries], values[entries], then (storage only) the original
    values (at the start of the transaction) [entries]; then one flag byte per entry
    (`CacheFlag`); then the dirty list, `entries + 1` int32 entry indices (the spare element
    lets native code store unconditionally). Python fills entries after py-evm's own opcode ran
    (a miss) or from the native journal's view (a seed, possibly COLD) and hands dirty entries
    and warm marks to py-evm before any Python code can observe the state (`evm.state_path`).
    """

    entries: int  # a power of two
    with_original: bool

    @property
    def words(self) -> int:
        return 3 if self.with_original else 2

    @property
    def flags_offset(self) -> int:
        return self.words * self.entries * WORD_BYTES

    @property
    def dirty_offset(self) -> int:
        return self.flags_offset + self.entries

    @property
    def size(self) -> int:
        return self.dirty_offset + 4 * (self.entries + 1)

    def index(self, key: int) -> int:
        """The entry of a key (the compiled code computes the same)."""
        x = key ^ (key >> 128)
        x = (x ^ (x >> 64)) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 32
        x ^= x >> 16
        return x & (self.entries - 1)


STORAGE_CACHE = SlotCacheLayout(entries=1024, with_original=True)
TRANSIENT_CACHE = SlotCacheLayout(entries=256, with_original=False)
SLOAD_CACHE_ENTRIES = STORAGE_CACHE.entries


def sload_cache_index(key: int) -> int:
    """The storage cache entry of a storage key."""
    return STORAGE_CACHE.index(key)


class CacheFlag(enum.IntFlag):
    """Bits of a slot cache entry's flag byte."""

    VALID = 1  # the entry holds its key's value
    DIRTY = 2  # written natively, not yet handed to py-evm
    #: (storage) the slot is not warm yet (EIP-2929): its first native SLOAD or SSTORE pays the
    #: cold price and makes it WARMED
    COLD = 4
    #: (storage) made warm natively; py-evm's mark waits for the hand-over
    WARMED = 8


class StateFlag(enum.IntFlag):
    """Bits of `state_flags`: the state operations this message may run natively."""

    SLOAD = 1
    SSTORE = 2
    LOG = 4
    TLOAD = 8
    TSTORE = 16


# A log record in log_buf: three int64 (record bytes, topic count, data bytes), the topics as
# little-endian words, the data padded to 8 bytes. A LOG whose data is LOG_MAX_DATA bytes or
# more, or whose record does not fit, suspends to py-evm (after the buffer was handed over).
LOG_RECORD_HEADER = 24
LOG_BUFFER_BYTES = 1 << 15
LOG_MAX_DATA = 1 << 14

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
    # continue in the interpreter from exit_pc, where the state is exact: a block whose head
    # checks fail, or an invalid or unknown opcode
    FALLBACK = 4
    # the instruction at exit_pc fails (out of gas, memory, return data bounds): its inputs are
    # the top of the stack (the items below them are not written back), the static gas prepaid
    # for it and the rest of its block is given back; py-evm runs it and raises its own error
    FAIL = 5
    OUT_OF_GAS = 10  # not returned any more (FAIL); the number is kept
    INVALID_JUMP = 11  # target in exit_a/exit_b
    INVALID_INSTRUCTION = 12  # not returned any more (FALLBACK)
    RETURNDATA_OUT_OF_BOUNDS = 13  # not returned any more (FAIL)
    MEMORY_ALLOCATION_FAILED = 14  # not returned any more (FAIL)


def _layout_fingerprint() -> int:
    """A number that changes whenever anything compiled code relies on changes.

    Compiled programs embed it and the linker refuses a mismatch, so object code built by a
    process (or stored by a version) with another layout is never run.
    """
    from eth_hash.auto import keccak

    from pyevm_jit.opcodes import ENV_SLOT

    layout = (
        CONTEXT_FIELDS, STACK_LIMIT, WORD_BYTES, STORAGE_CACHE, TRANSIENT_CACHE, LOG_RECORD_HEADER,
        LOG_MAX_DATA, sorted((flag.name, int(flag)) for flag in StateFlag),
        sorted((flag.name, int(flag)) for flag in CacheFlag),
        sorted((status.name, int(status)) for status in Status), sorted(ENV_SLOT.items()),
    )  # fmt: skip
    return int.from_bytes(keccak(repr(layout).encode())[:8], "big") >> 1


ABI_FINGERPRINT = _layout_fingerprint()
