"""The LLVM types, values and constants that `irtext` writes (what a value is: its type and how
the IR text refers to it; constants fold and the small ones are shared)."""

from __future__ import annotations

from collections.abc import Sequence

_MASKS: dict[int, int] = {}


def _mask(width: int) -> int:
    mask = _MASKS.get(width)
    if mask is None:
        mask = _MASKS[width] = (1 << width) - 1
    return mask


# --- types -----------------------------------------------------------------------------------
class Type:
    __slots__ = ("text", "_pointer")

    def __init__(self, text: str) -> None:
        self.text = text
        self._pointer: PointerType | None = None

    def __str__(self) -> str:
        return self.text

    def as_pointer(self) -> PointerType:
        return PointerType(self)

    def pointer(self) -> PointerType:
        """A pointer to this type (made once: address arithmetic asks for it at every step)."""
        ptr = self._pointer
        if ptr is None:
            ptr = self._pointer = PointerType(self)
        return ptr


class IntType(Type):
    __slots__ = ("width",)

    def __init__(self, width: int) -> None:
        super().__init__(f"i{width}")
        self.width = width


class PointerType(Type):
    """`ptr`, remembering what it points to (for loads and address arithmetic)."""

    __slots__ = ("pointee",)

    def __init__(self, pointee: Type) -> None:
        super().__init__("ptr")
        self.pointee = pointee


class StructType(Type):
    __slots__ = ("elements",)

    def __init__(self, elements: Sequence[Type], name: str = "") -> None:
        super().__init__(name or "{" + ", ".join(e.text for e in elements) + "}")
        self.elements = tuple(elements)


class ArrayType(Type):
    __slots__ = ("element", "count")

    def __init__(self, element: Type, count: int) -> None:
        super().__init__(f"[{count} x {element.text}]")
        self.element = element
        self.count = count


class FunctionType:
    __slots__ = ("return_type", "args")

    def __init__(self, return_type: Type, args: Sequence[Type]) -> None:
        self.return_type = return_type
        self.args = tuple(args)


VOID = Type("void")
_INT_TYPES: dict[int, IntType] = {}


def int_type(width: int) -> IntType:
    ty = _INT_TYPES.get(width)
    if ty is None:
        ty = _INT_TYPES[width] = IntType(width)
    return ty


# --- values ----------------------------------------------------------------------------------
class Value:
    __slots__ = ("type", "ref")

    def __init__(self, ty: Type, ref: str) -> None:
        self.type = ty
        self.ref = ref

    def __repr__(self) -> str:
        return f"<{self.type.text} {self.ref}>"


class Constant(Value):
    """An integer constant, kept in [0, 2^width); never changed, so small ones are shared."""

    __slots__ = ("constant",)

    def __init__(self, ty: IntType, value: int) -> None:
        width = ty.width
        if value < 0 or value >> width:
            value &= _mask(width)
        self.type = ty
        self.ref = ("true" if value else "false") if width == 1 else str(value)
        self.constant = value


def constant_int(value: Value) -> int | None:
    """The Python integer of a constant (unsigned), or None when the value is not constant."""
    return value.constant if value.__class__ is Constant else None


#: small constants by (type, value): most constants of a program are small and repeated
#: (stack offsets, gas amounts, limb indices); bounded, since a worker compiles many programs
_SMALL: dict[tuple[IntType, int], Constant] = {}
SMALL_CONSTANT_LIMIT = 4096


def const(ty: IntType, value: int) -> Constant:
    """The constant `value` of type `ty` (shared when small)."""
    if 0 <= value < SMALL_CONSTANT_LIMIT:
        key = (ty, value)
        found = _SMALL.get(key)
        if found is None:
            found = _SMALL[key] = Constant(ty, value)
        return found
    return Constant(ty, value)


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value
