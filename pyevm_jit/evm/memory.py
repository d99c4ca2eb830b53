"""`NativeMemory`: py-evm's view (`MemoryAPI`) of a native frame's memory -- the same malloc'd
bytes that native code reads and writes, no copies."""

from __future__ import annotations

import ctypes

from eth.abc import MemoryAPI
from eth.vm.memory import Memory
from eth_utils import ValidationError

from pyevm_jit.abi import ExecutionContext
from pyevm_jit.evm.libc import realloc as _realloc


class NativeMemory(MemoryAPI):
    """py-evm's view of a native frame's memory (the same bytes, no copies)."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: ExecutionContext) -> None:
        self._ctx = ctx

    def __len__(self) -> int:
        return int(self._ctx.memory_len)

    def extend(self, start_position: int, size: int) -> None:
        if size == 0:
            return
        new_size = (start_position + size + 31) // 32 * 32
        ctx = self._ctx
        if new_size <= ctx.memory_len:
            return
        if new_size > ctx.memory_cap:
            capacity = max(new_size, 2 * ctx.memory_cap, 1024)
            address = _realloc(ctx.memory, capacity)
            if not address:
                raise MemoryError("cannot grow EVM memory")
            ctypes.memset(address + ctx.memory_cap, 0, capacity - ctx.memory_cap)
            ctx.memory = address
            ctx.memory_cap = capacity
        ctx.memory_len = new_size

    def _check(self, start_position: int, size: int) -> None:
        if start_position < 0 or size < 0 or start_position + size > self._ctx.memory_len:
            raise ValidationError(
                f"memory access [{start_position}, +{size}) beyond {self._ctx.memory_len}"
            )

    def write(self, start_position: int, size: int, value: bytes) -> None:
        if size:
            if len(value) != size:
                raise ValidationError(f"memory write of {len(value)} bytes, expected {size}")
            self._check(start_position, size)
            ctypes.memmove(self._ctx.memory + start_position, bytes(value), size)

    def read(self, start_position: int, size: int) -> memoryview:
        return memoryview(self.read_bytes(start_position, size))

    def read_bytes(self, start_position: int, size: int) -> bytes:
        if not size:
            return b""
        self._check(start_position, size)
        return ctypes.string_at(self._ctx.memory + start_position, size)

    def copy(self, destination: int, source: int, length: int) -> None:  # type: ignore[override]
        if length:
            self._check(max(destination, source), length)
            base = self._ctx.memory
            ctypes.memmove(base + destination, base + source, length)

    def snapshot(self) -> Memory:
        """A stock py-evm Memory with the same contents, for after the frame is gone."""
        memory = Memory()
        length = self._ctx.memory_len
        if length:
            memory._bytes = bytearray(ctypes.string_at(self._ctx.memory, length))
        return memory
