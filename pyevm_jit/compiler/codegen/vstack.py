"""A compile-time view of the EVM stack within one block.

Values produced inside a block stay in SSA registers; the memory stack is read lazily (only the
entry items an instruction reaches) and written back once, when the block ends or suspends.

An item may be narrower than a word: an `i1` (a comparison's result) or an `i64` (a value known
to be below 2^64: sizes, the program counter, a selector). Instructions that can use the narrow
form take it with `pop_any`; everything else gets a 256-bit word from `pop`, and `flush` widens
what it writes back.
"""

from __future__ import annotations

from pyevm_jit.compiler.codegen.irtext import Constant, IntType, IRBuilder, Type, Value
from pyevm_jit.compiler.codegen.types import c64, i64, i64p, i256, i256p

V4I64 = Type("<4 x i64>")  # a word's bytes, copied without looking at them


class Split:
    """A 256-bit word read as 64-bit limbs: the low limb and the other three or-ed together
    (both i64). No 256-bit operation: a block without any is selected by LLVM's fast
    instruction selector."""

    __slots__ = ("low", "rest")

    def __init__(self, low: Value, rest: Value) -> None:
        self.low = low
        self.rest = rest

    def high(self, b: IRBuilder) -> Value:
        """i1: whether the word is at least 2^64."""
        return b.icmp_unsigned("!=", self.rest, c64(0))

    def nonzero(self, b: IRBuilder) -> Value:
        """i1: whether the word is not zero."""
        return b.icmp_unsigned("!=", b.or_(self.low, self.rest), c64(0))


class _Item:
    __slots__ = ("value", "origin", "home")

    def __init__(self, value: Value | None, origin: int | None, home: int | None = None) -> None:
        self.value = value  # None: an entry item not loaded yet (read from slot `home`)
        self.origin = origin  # entry depth it was loaded from, while unchanged
        self.home = home  # entry depth of the slot holding the value, while not loaded


def store_word(b: IRBuilder, value: Value, ptr: Value) -> None:
    """Store a stack value as a 256-bit word at `ptr` (8-byte aligned).

    A constant or a narrow value is stored as four 64-bit limbs: instruction selection handles
    those with LLVM's fast selector, while any 256-bit operation in a block sends the whole
    block to the much slower SelectionDAG (a block that only pushes a return address and jumps
    is a 256-bit constant store and a branch)."""
    if value.__class__ is not Constant and value.type.width > 64:  # type: ignore[attr-defined]
        b.store(widen(b, value), ptr, align=8)
        return
    if value.__class__ is Constant:
        c = value.constant  # type: ignore[attr-defined]
        limbs: list[Value] = [c64((c >> (64 * k)) & _LIMB) for k in range(4)]
    else:
        low = value if value.type is i64 else b.zext(value, i64)
        limbs = [low, c64(0), c64(0), c64(0)]
    words = b.bitcast(ptr, i64p)
    b.store(limbs[0], words, align=8)
    for k in range(1, 4):
        b.store(limbs[k], b.gep(words, [c64(k)]), align=8)


_LIMB = (1 << 64) - 1


def widen(b: IRBuilder, value: Value) -> Value:
    """The value as a 256-bit word."""
    if value.type is i256:
        return value
    return b.zext(value, i256)


class VirtualStack:
    def __init__(self, builder: IRBuilder, stack_base: Value, entry_len: Value):
        self.b = builder
        self.entry_len = entry_len  # i64 stack length at block entry
        self.base = stack_base
        # the slot just above the entry items (every access is a constant offset from it),
        # computed on first use
        self.top: Value | None = None
        self.consumed = 0  # entry items pulled into `items`
        self.items: list[_Item] = []  # top of stack last

    def _slot(self, offset: int, top: Value | None = None) -> Value:
        """The slot `offset` words above the entry top (negative: entry items)."""
        if top is None:
            if self.top is None:
                self.top = self.b.gep(self.base, [self.entry_len])
            top = self.top
        return self.b.gep(top, [c64(offset)])

    def _pull(self) -> None:
        """Move the next entry item under the current items (loaded when its value is used:
        an item that is only moved is copied from slot to slot)."""
        depth = self.consumed
        self.consumed += 1
        self.items.insert(0, _Item(None, depth, depth))

    def _value(self, item: _Item) -> Value:
        if item.value is None:
            item.value = self.b.load(self._slot(-item.home - 1), align=8)  # type: ignore
        return item.value

    def ensure(self, count: int) -> None:
        while len(self.items) < count:
            self._pull()

    def pop(self) -> Value:
        """The top item as a 256-bit word."""
        return widen(self.b, self.pop_any())

    def pop_any(self) -> Value:
        """The top item as it is held: i1, i64 or i256 (zero-extend to get its word value)."""
        self.ensure(1)
        return self._value(self.items.pop())

    def pop_split(self) -> Value | Split:
        """The top item as `pop_any` holds it, or as a `Split` when it is still in its slot
        (for users that need only its low 64 bits and whether the rest is zero)."""
        self.ensure(1)
        item = self.items.pop()
        if item.value is not None:
            return self._value(item)
        b = self.b
        words = b.bitcast(self._slot(-item.home - 1), i64p)  # type: ignore[operator]
        limbs = [b.load(words if k == 0 else b.gep(words, [c64(k)]), align=8) for k in range(4)]
        return Split(limbs[0], b.or_(b.or_(limbs[1], limbs[2]), limbs[3]))

    def peek(self, depth: int = 0) -> Value:
        self.ensure(depth + 1)
        item = self.items[-1 - depth]
        value = self._value(item)
        if value.type is not i256:
            item.value = value = widen(self.b, value)
        return value

    def push(self, value: Value) -> None:
        self.items.append(_Item(value, None))

    @staticmethod
    def _copy(item: _Item) -> _Item:
        return _Item(item.value, None, item.home if item.value is None else None)

    def dup(self, n: int) -> None:
        self.ensure(n)
        self.items.append(self._copy(self.items[-n]))

    def swap(self, n: int) -> None:
        self.ensure(n + 1)
        top, other = self.items[-1], self.items[-1 - n]
        self.items[-1] = self._copy(other)
        self.items[-1 - n] = self._copy(top)

    def flush(self, stack_len_var: Value) -> None:
        """Write the block's items back to memory and store the new length."""
        b = self.b
        consumed = self.consumed
        # flushing may happen on a side path (a suspension): a top computed here is not kept
        top = self.top
        if top is None and self.items:
            top = b.gep(self.base, [self.entry_len])
        moves = []
        for k, item in enumerate(self.items):
            if item.origin is not None and item.origin == consumed - 1 - k:
                continue  # still in its own slot
            if item.value is None:
                # only moved: copy the slot's bytes (loaded before any store can overwrite it)
                word = b.load(self._slot(-item.home - 1, top), align=8, typ=V4I64)  # type: ignore
                moves.append((word, k))
            else:
                moves.append((item.value, k))
        for value, k in moves:
            if value.type is V4I64:
                b.store(value, self._slot(k - consumed, top), align=8)
            else:
                store_word(b, value, self._slot(k - consumed, top))
        delta = len(self.items) - consumed
        if delta:
            b.store(b.add(self.entry_len, c64(delta)), stack_len_var)

    def snapshot(self) -> VirtualStack:
        """A copy of this view as it is now: flushing it later (on a side path) writes the stack
        as it was here."""
        copy = VirtualStack(self.b, self.base, self.entry_len)
        copy.top = self.top
        copy.consumed = self.consumed
        copy.items = [_Item(item.value, item.origin, item.home) for item in self.items]
        return copy

    def item_copy(self, depth: int) -> _Item:
        """The item `depth` below the top as it is now (kept while the stack changes)."""
        item = self.items[-1 - depth]
        return _Item(item.value, item.origin, item.home)

    def item_value(self, item: _Item, top: Value) -> Value:
        """An item's value, read from its slot (relative to `top`, the entry top) if it was
        never loaded; for side paths: nothing is cached."""
        if item.value is not None:
            return item.value
        return self.b.load(self.b.gep(top, [c64(-item.home - 1)]), align=8, typ=i256)  # type: ignore[operator]

    def height_delta(self) -> int:
        return len(self.items) - self.consumed


def narrow64(b: IRBuilder, value: Value) -> Value | None:
    """The value as an i64 when it is known to be below 2^64 (None otherwise)."""
    ty = value.type
    if ty is i64:
        return value
    if value.__class__ is Constant:
        c = value.constant  # type: ignore[attr-defined]
        return c64(c) if c >> 64 == 0 else None
    if ty is i256:
        return None
    return b.zext(value, i64)  # i1


def resize(b: IRBuilder, value: Value, ty: IntType) -> Value:
    """Truncate or zero-extend to `ty`."""
    width = value.type.width  # type: ignore[attr-defined]
    if width > ty.width:
        return b.trunc(value, ty)
    return b.zext(value, ty)


__all__ = ["VirtualStack", "i64", "i256p", "narrow64", "resize", "widen"]
