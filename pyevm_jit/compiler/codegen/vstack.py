"""A compile-time view of the EVM stack within one block.

Values produced inside a block stay in SSA registers; the memory stack is read lazily (only the
entry items an instruction reaches) and written back once, when the block ends or suspends.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.ir as ir

from pyevm_jit.compiler.codegen.types import c64, i64, i256p


@dataclass
class _Item:
    value: ir.Value
    origin: int | None  # entry depth it was loaded from, while unchanged


class VirtualStack:
    def __init__(self, builder: ir.IRBuilder, stack_base: ir.Value, entry_len: ir.Value):
        self.b = builder
        self.base = stack_base  # i256* to slot 0
        self.entry_len = entry_len  # i64 stack length at block entry
        self.consumed = 0  # entry items pulled into `items`
        self.items: list[_Item] = []  # top of stack last

    def _slot(self, index: ir.Value) -> ir.Value:
        return self.b.gep(self.base, [index])

    def _pull(self) -> None:
        """Move the next entry item (from memory) under the current items."""
        depth = self.consumed
        self.consumed += 1
        index = self.b.sub(self.entry_len, c64(depth + 1))
        value = self.b.load(self._slot(index), align=8)
        self.items.insert(0, _Item(value, depth))

    def ensure(self, count: int) -> None:
        while len(self.items) < count:
            self._pull()

    def pop(self) -> ir.Value:
        self.ensure(1)
        return self.items.pop().value

    def peek(self, depth: int = 0) -> ir.Value:
        self.ensure(depth + 1)
        return self.items[-1 - depth].value

    def push(self, value: ir.Value) -> None:
        self.items.append(_Item(value, None))

    def dup(self, n: int) -> None:
        self.ensure(n)
        self.items.append(_Item(self.items[-n].value, None))

    def swap(self, n: int) -> None:
        self.ensure(n + 1)
        top, other = self.items[-1], self.items[-1 - n]
        self.items[-1] = _Item(other.value, None)
        self.items[-1 - n] = _Item(top.value, None)

    def flush(self, stack_len_var: ir.Value) -> None:
        """Write the block's items back to memory and store the new length."""
        new_base = self.entry_len
        if self.consumed:
            new_base = self.b.sub(self.entry_len, c64(self.consumed))
        for k, item in enumerate(self.items):
            if item.origin is not None and item.origin == self.consumed - 1 - k:
                continue  # still in its own slot
            index = self.b.add(new_base, c64(k)) if k else new_base
            self.b.store(item.value, self._slot(index), align=8)
        new_len = self.b.add(new_base, c64(len(self.items))) if self.items else new_base
        self.b.store(new_len, stack_len_var)

    def height_delta(self) -> int:
        return len(self.items) - self.consumed


__all__ = ["VirtualStack", "i64", "i256p"]
