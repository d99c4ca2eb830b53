"""The native state of a running message: `NativeFrame` (context, stack, environment and memory
buffers, the state caches) and `FramePool` (frames reused across messages, one per active depth).
"""

from __future__ import annotations

import ctypes
import struct
import sys
from typing import Any

from pyevm_jit.abi import CONTEXT_FIELDS, STACK_LIMIT, WORD_BYTES, ExecutionContext
from pyevm_jit.evm.libc import free as _free
from pyevm_jit.evm.memory import NativeMemory
from pyevm_jit.evm.observe import free_log_buffers
from pyevm_jit.evm.state_path import StateBuffers
from pyevm_jit.opcodes import ENV_SLOT

_ENV_BYTES = WORD_BYTES * (max(ENV_SLOT.values()) + 1)

# Memory kept by a pooled frame between messages; larger buffers are freed after use.
_POOLED_MEMORY_LIMIT = 1 << 20
_PooledMemory = ctypes.c_char * _POOLED_MEMORY_LIMIT
# zeros to clear used memory with (calloc'd by CPython: pages are mapped only when read)
_ZERO_MEMORY = memoryview(bytes(_POOLED_MEMORY_LIMIT))


def _entry_fields() -> tuple[struct.Struct, int]:
    """The context fields a message's entry writes, calldata to resume (consecutive: pointers
    and lengths, the environment pointer, the resume point), as one struct and its offset."""
    names = [name for name, _pointer in CONTEXT_FIELDS]
    first, last = names.index("calldata"), names.index("resume")
    if names[first : last + 1] != [
        "calldata", "calldata_len", "code", "code_len", "returndata", "returndata_len", "env",
        "resume",
    ]:  # fmt: skip
        raise ImportError("pyevm-jit: the context's entry fields are not laid out as expected")
    kinds = "".join("Q" if pointer else "q" for _name, pointer in CONTEXT_FIELDS[first : last + 1])
    return struct.Struct("<" + kinds), ExecutionContext.calldata.offset


#: calldata, calldata_len, code, code_len, returndata, returndata_len, env, resume
ENTRY_FIELDS, ENTRY_OFFSET = _entry_fields()
#: gas, stack_len (the context's first two fields)
HEAD_FIELDS = struct.Struct("<qq")


class NativeFrame:
    """The native state of one running message: context, stack and memory buffers.

    Frames are pooled per thread of use; the stack buffer and memory capacity are reused.
    Invariant: bytes of memory past `memory_len` up to `memory_cap` are zero.
    """

    __slots__ = (
        "ctx", "ctx_ref", "ctx_view", "stack_buf", "stack_view", "env_buf", "env_view",
        "env_address", "state", "keep", "log_buffers", "memory", "memory_view",
        "memory_view_address",
    )  # fmt: skip

    def __init__(self) -> None:
        self.ctx = ExecutionContext()
        self.ctx_ref = ctypes.byref(self.ctx)
        #: the context's bytes (`ENTRY_FIELDS` writes a message's entry fields in one call)
        self.ctx_view = memoryview(self.ctx).cast("B")
        self.stack_buf = (ctypes.c_char * (STACK_LIMIT * WORD_BYTES))()
        self.stack_view = memoryview(self.stack_buf).cast("B")
        self.env_buf = (ctypes.c_char * _ENV_BYTES)()
        self.env_view = memoryview(self.env_buf).cast("B")
        self.ctx.stack = ctypes.addressof(self.stack_buf)
        self.env_address = ctypes.addressof(self.env_buf)
        self.ctx.env = self.env_address
        self.state = StateBuffers(self.ctx)  # storage and transient caches, log buffer
        self.keep: list[Any] = []  # Python objects whose buffers the context points into
        #: (address, capacity) of the observation logs while detached (evm/observe.py)
        self.log_buffers: list[tuple[int, int]] = [(0, 0), (0, 0), (0, 0)]
        #: py-evm's view of the memory buffer (it holds only the context)
        self.memory = NativeMemory(self.ctx)
        #: a writable view of _POOLED_MEMORY_LIMIT bytes at memory_view_address (0: none)
        self.memory_view: memoryview | None = None
        self.memory_view_address = 0

    def reset_memory(self) -> None:
        """Zero the used part of memory so the buffer can serve the next message.

        The buffer's capacity is at most _POOLED_MEMORY_LIMIT here (larger ones are freed), so
        a view of that many bytes at its address covers every used byte; only the used bytes
        are written, from a shared zero buffer, by a slice assignment (no foreign call). The
        view is made again when native code or `NativeMemory.extend` moved the buffer."""
        ctx = self.ctx
        used = ctx.memory_len
        if used:
            self.memory_bytes()[:used] = _ZERO_MEMORY[:used]
            ctx.memory_len = 0

    def memory_bytes(self) -> memoryview:
        """A writable view of _POOLED_MEMORY_LIMIT bytes at the memory buffer's address: its
        first `memory_cap` bytes are the buffer (only those may be touched; call only while
        the capacity is at most _POOLED_MEMORY_LIMIT). Made again when the buffer moved."""
        address = self.ctx.memory
        view = self.memory_view
        if view is None or address != self.memory_view_address:
            view = self.memory_view = memoryview(_PooledMemory.from_address(address)).cast("B")
            self.memory_view_address = address
        return view

    def read_memory(self, start: int, size: int) -> bytes:
        """memory[start : start + size] (within memory_len) as bytes."""
        ctx = self.ctx
        if start + size <= ctx.memory_cap <= _POOLED_MEMORY_LIMIT:
            return self.memory_bytes()[start : start + size].tobytes()
        return ctypes.string_at(ctx.memory + start, size)

    def release_buffers(self) -> None:
        self.memory_view = None
        self.memory_view_address = 0
        if self.ctx.memory:
            _free(self.ctx.memory)
        self.ctx.memory = None
        self.ctx.memory_len = 0
        self.ctx.memory_cap = 0
        free_log_buffers(self.log_buffers)

    def __del__(self) -> None:
        # a frame dropped with its pool (a garbage-collected jit_vm class) frees its memory
        try:
            self.release_buffers()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to free with
            pass

    # --- stack words (little-endian 256-bit) ------------------------------------------------
    def read_word(self, index: int) -> int:
        offset = index * WORD_BYTES
        return int.from_bytes(self.stack_view[offset : offset + WORD_BYTES], "little")

    def write_word(self, index: int, value: int) -> None:
        offset = index * WORD_BYTES
        self.stack_view[offset : offset + WORD_BYTES] = value.to_bytes(WORD_BYTES, "little")


class FramePool:
    """Frames for nested messages: one per active depth, reused across messages."""

    def __init__(self) -> None:
        self._free: list[NativeFrame] = []

    def acquire(self) -> NativeFrame:
        frame = self._free.pop() if self._free else NativeFrame()
        frame.state.reset(frame.ctx)
        return frame

    def release(self, frame: NativeFrame) -> None:
        frame.keep.clear()
        if frame.ctx.memory_cap > _POOLED_MEMORY_LIMIT:
            frame.release_buffers()
        else:
            frame.reset_memory()
        self._free.append(frame)


def _buffer_offset() -> int | None:
    """Offset of a bytes object's buffer from its address (CPython's PyBytesObject layout), or
    None when this interpreter's objects are laid out otherwise (then ctypes is asked)."""
    offset = sys.getsizeof(b"") - 1
    for sample in (b"\x01", b"pyevm-jit" * 9):
        if ctypes.cast(ctypes.c_char_p(sample), ctypes.c_void_p).value != id(sample) + offset:
            return None
    return offset


#: (None: ask ctypes for each address)
BYTES_BUFFER_OFFSET = _buffer_offset() if sys.implementation.name == "cpython" else None


def address_of(data: bytes, frame: NativeFrame) -> int:
    """Address of an immutable bytes object's buffer, kept alive by the frame."""
    if not data:
        return 0
    frame.keep.append(data)
    if BYTES_BUFFER_OFFSET is not None and data.__class__ is bytes:
        return id(data) + BYTES_BUFFER_OFFSET
    return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
