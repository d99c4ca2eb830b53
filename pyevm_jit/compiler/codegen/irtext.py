"""A small LLVM IR builder that writes the module's text directly.

Building llvmlite.ir objects for every instruction and formatting them afterwards was up to 40%
of a first-tier compile; this builder keeps an instruction as one formatted line (phis and
switches as small objects, formatted at the end) and folds constant operands on the way, so
LLVM parses a smaller module. The interface follows llvmlite's `IRBuilder` (the same method
names and argument order), for the subset the code generator uses. Pointers are opaque (`ptr`);
a pointer value remembers the type it points to so that `load` and `gep` need no type argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pyevm_jit.compiler.codegen.irvalues import (
    SMALL_CONSTANT_LIMIT,
    VOID,
    ArrayType,
    Constant,
    FunctionType,
    IntType,
    PointerType,
    StructType,
    Type,
    Value,
    _mask,
    _signed,
    const,
    constant_int,
    int_type,
)

__all__ = [
    "SMALL_CONSTANT_LIMIT", "VOID", "ArrayType", "Block", "Constant", "Function", "FunctionType",
    "IRBuilder", "IndirectFunction", "IntType", "Module", "Phi", "PointerType", "StructType",
    "Switch", "Type", "Value", "const", "constant_int", "int_type",
]  # fmt: skip


class Block:
    __slots__ = ("name", "lines", "terminated", "function")

    def __init__(self, function: Function, name: str) -> None:
        self.function = function
        self.name = name
        self.lines: list[object] = []  # str, or Phi / Switch formatted at the end
        self.terminated = False


class Phi(Value):
    __slots__ = ("incoming",)

    def __init__(self, ty: Type, ref: str) -> None:
        super().__init__(ty, ref)
        self.incoming: list[tuple[Value, Block]] = []

    def add_incoming(self, value: Value, block: Block) -> None:
        self.incoming.append((value, block))

    def __str__(self) -> str:
        edges = ", ".join(f"[ {v.ref}, %{b.name} ]" for v, b in self.incoming)
        return f"  {self.ref} = phi {self.type.text} {edges}"


class Switch:
    __slots__ = ("value", "default", "cases")

    def __init__(self, value: Value, default: Block) -> None:
        self.value = value
        self.default = default
        self.cases: list[tuple[int, Block]] = []

    def add_case(self, value: int | Constant, block: Block) -> None:
        if isinstance(value, Constant):
            value = value.constant
        self.cases.append((value, block))

    def __str__(self) -> str:
        ty = self.value.type.text
        cases = " ".join(f"{ty} {v}, label %{b.name}" for v, b in self.cases)
        return f"  switch {ty} {self.value.ref}, label %{self.default.name} [{cases}]"


class Function(Value):
    """A function defined in (or declared by) the module."""

    __slots__ = (
        "ftype",
        "name",
        "args",
        "blocks",
        "attributes",
        "linkage",
        "_counter",
        "arg_attributes",
        "_names",
        "_pointers",
    )

    def __init__(
        self, module: Module, ftype: FunctionType, name: str, arg_names: Sequence[str] = ()
    ) -> None:
        super().__init__(PointerType(VOID), f"@{name}")
        self.ftype = ftype
        self.name = name
        names = list(arg_names) or [f"a{i}" for i in range(len(ftype.args))]
        self.args = [Value(ty, f"%{n}") for ty, n in zip(ftype.args, names, strict=True)]
        self.arg_attributes: list[str] = ["" for _ in ftype.args]
        self.blocks: list[Block] = []
        self.attributes: list[str] = []
        self.linkage = ""
        self._counter = 0
        self._names: dict[str, int] = {}
        self._pointers: set[str] = set()  # IndirectFunctions loaded at entry
        module.add_function(self)

    def append_basic_block(self, name: str = "b") -> Block:
        seen = self._names.get(name)
        if seen is None:
            self._names[name] = 0
            label = name
        else:
            self._names[name] = seen + 1
            label = f"{name}.{seen + 1}"
        block = Block(self, label)
        self.blocks.append(block)
        return block

    def new_name(self) -> str:
        self._counter += 1
        return f"%v{self._counter}"

    def pointer_to(self, callee: IndirectFunction) -> str:
        """The register holding `callee`'s address in this function (loaded at its entry)."""
        ref = f"%fp.{callee.name}"
        if callee.name not in self._pointers:
            self._pointers.add(callee.name)
            self.blocks[0].lines.insert(0, f"  {ref} = load ptr, ptr @{callee.holder}")
        return ref

    def render(self, out: list[str]) -> None:
        ret = self.ftype.return_type.text
        params = ", ".join(
            f"{a.type.text}{' ' + attr if attr else ''} {a.ref}"
            for a, attr in zip(self.args, self.arg_attributes, strict=True)
        )
        linkage = f"{self.linkage} " if self.linkage else ""
        attrs = " " + " ".join(self.attributes) if self.attributes else ""
        out.append(f"define {linkage}{ret} @{self.name}({params}){attrs} {{")
        for block in self.blocks:
            out.append(f"{block.name}:")
            out += [line if line.__class__ is str else str(line) for line in block.lines]
            if not block.terminated:  # never reached (a branch on a constant skipped it)
                out.append("  unreachable")
        out.append("}")


class IndirectFunction(Function):
    """A function of the runtime library called through a pointer (`Module.declare_indirect`)."""

    __slots__ = ("holder",)
    holder: str  # the private constant holding its address


class Module:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self.type_defs: list[str] = []
        self.declarations: dict[str, str] = {}
        self.globals: list[str] = []
        self.private_globals: set[str] = set()
        self.functions: list[Function] = []

    def add_function(self, fn: Function) -> None:
        self.functions.append(fn)

    def declare(self, name: str, ftype: FunctionType, attributes: str = "nounwind") -> Function:
        """A function defined elsewhere (the runtime library, libc, an intrinsic)."""
        if name not in self.declarations:
            params = ", ".join(t.text for t in ftype.args)
            self.declarations[name] = (
                f"declare {ftype.return_type.text} @{name}({params}) {attributes}".rstrip()
            )
        fn = Function.__new__(Function)
        Value.__init__(fn, PointerType(VOID), f"@{name}")
        fn.ftype = ftype
        fn.name = name
        return fn

    def declare_indirect(
        self, name: str, ftype: FunctionType, attributes: str = "nounwind"
    ) -> IndirectFunction:
        """A function defined elsewhere, called through a pointer held in a private constant of
        the module (each calling function loads it once, at its entry). With the large code
        model of JIT code, LLVM's fast instruction selector cannot call a symbol directly, and
        a call it leaves to SelectionDAG costs several times as much to compile; a call through
        a register it handles."""
        self.declare(name, ftype, attributes)
        holder = f"pyevmjit.fp.{name}"
        if holder not in self.private_globals:
            self.private_globals.add(holder)
            self.globals.append(f"@{holder} = private unnamed_addr constant ptr @{name}")
        fn = IndirectFunction.__new__(IndirectFunction)
        Value.__init__(fn, PointerType(VOID), f"@{name}")
        fn.ftype = ftype
        fn.name = name
        fn.holder = holder
        return fn

    def declare_intrinsic(
        self, name: str, types: Sequence[Type], ftype: FunctionType | None = None
    ) -> Function:
        full = name + "".join(
            f".{t.text}"
            for t in types[:1]
            if name != "llvm.memcpy" and name != "llvm.memmove" and name != "llvm.memset"
        )
        if ftype is None:
            ftype = _intrinsic_type(name, types)
        if name in ("llvm.memcpy", "llvm.memmove"):
            full = f"{name}.p0.p0.{types[2].text}"
        elif name == "llvm.memset":
            full = f"{name}.p0.{types[1].text}"
        return self.declare(full, ftype, "")

    def add_global_constant(
        self, name: str, ty: Type, initializer: str, private: bool = False
    ) -> None:
        if private:
            self.private_globals.add(name)
            self.globals.append(f"@{name} = private unnamed_addr constant {ty.text} {initializer}")
        else:
            self.globals.append(f"@{name} = constant {ty.text} {initializer}")

    def __str__(self) -> str:
        out: list[str] = list(self.type_defs)
        out.extend(self.globals)
        out.extend(self.declarations.values())
        for fn in self.functions:
            fn.render(out)
        out.append("")
        return "\n".join(out)


def _intrinsic_type(name: str, types: Sequence[Type]) -> FunctionType:
    if name in ("llvm.bswap", "llvm.ctpop"):
        return FunctionType(types[0], [types[0]])
    if name in ("llvm.ctlz", "llvm.cttz"):
        return FunctionType(types[0], [types[0], int_type(1)])
    if name in ("llvm.memcpy", "llvm.memmove"):
        return FunctionType(VOID, [types[0], types[1], types[2], int_type(1)])
    if name == "llvm.memset":
        return FunctionType(VOID, [types[0], int_type(8), types[1], int_type(1)])
    raise KeyError(f"intrinsic {name} unknown to irtext")


_ICMP_UNSIGNED = {"==": "eq", "!=": "ne", "<": "ult", "<=": "ule", ">": "ugt", ">=": "uge"}
_ICMP_SIGNED = {"==": "eq", "!=": "ne", "<": "slt", "<=": "sle", ">": "sgt", ">=": "sge"}
_I1 = int_type(1)
TRUE = Constant(_I1, 1)
FALSE = Constant(_I1, 0)


def _fold_bin(op: str, a: int, b: int, width: int) -> int | None:
    mask = _mask(width)
    if op == "add":
        return (a + b) & mask
    if op == "sub":
        return (a - b) & mask
    if op == "mul":
        return (a * b) & mask
    if op == "and":
        return a & b
    if op == "or":
        return a | b
    if op == "xor":
        return a ^ b
    if op == "shl":
        return (a << b) & mask if b < width else None
    if op == "lshr":
        return a >> b if b < width else None
    if op == "ashr":
        return (_signed(a, width) >> b) & mask if b < width else None
    if op == "udiv":
        return a // b if b else None
    if op == "urem":
        return a % b if b else None
    return None


def _compare(pred: str, a: int, b: int, width: int) -> bool:
    if pred[0] == "s":
        a, b = _signed(a, width), _signed(b, width)
        pred = pred[1:]
    elif pred[0] == "u":
        pred = pred[1:]
    return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[pred]


def _binary(op: str) -> Callable[[IRBuilder, Value, Value], Value]:
    """An `IRBuilder` method writing the binary instruction `op` (llvmlite's signature)."""

    def method(self: IRBuilder, a: Value, b: Value, name: str = "") -> Value:
        return self._bin(op, a, b)

    method.__name__ = method.__qualname__ = op
    return method


def _resize(op: str) -> Callable[[IRBuilder, Value, IntType], Value]:
    """`IRBuilder.zext` or `trunc` (a constant folds: `Constant` keeps the low bits)."""

    def method(self: IRBuilder, v: Value, ty: IntType, name: str = "") -> Value:
        if v.type is ty:
            return v
        if v.__class__ is Constant:
            return Constant(ty, v.constant)
        return self._emit(ty, f"{op} {v.type.text} {v.ref} to {ty.text}")

    method.__name__ = method.__qualname__ = op
    return method


class IRBuilder:
    """Appends instructions to a block; folds constants (the result is then a Constant)."""

    __slots__ = ("block", "fn", "lines")

    def __init__(self, block: Block | None = None) -> None:
        self.block: Block = block  # type: ignore[assignment]
        self.fn: Function = block.function if block is not None else None  # type: ignore
        self.lines: list[object] = block.lines if block is not None else []

    def position_at_end(self, block: Block) -> None:
        self.block = block
        self.fn = block.function
        self.lines = block.lines

    def _emit(self, ty: Type, text: str) -> Value:
        fn = self.fn  # (Function.new_name, inlined: this runs for every instruction)
        fn._counter = number = fn._counter + 1
        ref = f"%v{number}"
        self.lines.append(f"  {ref} = {text}")
        return Value(ty, ref)

    # --- integer arithmetic ------------------------------------------------------------------
    def _bin(self, op: str, a: Value, b: Value) -> Value:
        ty = a.type
        if a.__class__ is Constant:
            if b.__class__ is Constant:
                folded = _fold_bin(op, a.constant, b.constant, ty.width)  # type: ignore
                if folded is not None:
                    return const(ty, folded)  # type: ignore[arg-type]
            elif op in ("add", "or", "xor") and a.constant == 0:
                return b
            elif op == "mul" and a.constant == 1:
                return b
        elif b.__class__ is Constant:
            c = b.constant
            if c == 0 and op in ("add", "sub", "or", "xor", "shl", "lshr", "ashr"):
                return a
            if c == 1 and op in ("mul", "udiv"):
                return a
            if op == "and" and c == _mask(ty.width):  # type: ignore[attr-defined]
                return a
        return self._emit(ty, f"{op} {ty.text} {a.ref}, {b.ref}")

    # llvmlite's names for the binary instructions (`b.add(x, y)` writes `add`)
    add = _binary("add")
    sub = _binary("sub")
    mul = _binary("mul")
    udiv = _binary("udiv")
    urem = _binary("urem")
    and_ = _binary("and")
    or_ = _binary("or")
    xor = _binary("xor")
    shl = _binary("shl")
    lshr = _binary("lshr")
    ashr = _binary("ashr")

    def not_(self, a: Value, name: str = "") -> Value:
        return self._bin("xor", a, Constant(a.type, -1))  # type: ignore[arg-type]

    def icmp_unsigned(self, op: str, a: Value, b: Value, name: str = "") -> Value:
        return self._icmp(_ICMP_UNSIGNED[op], a, b)

    def icmp_signed(self, op: str, a: Value, b: Value, name: str = "") -> Value:
        return self._icmp(_ICMP_SIGNED[op], a, b)

    def _icmp(self, pred: str, a: Value, b: Value) -> Value:
        if a.__class__ is Constant and b.__class__ is Constant:
            hit = _compare(pred, a.constant, b.constant, a.type.width)  # type: ignore
            return TRUE if hit else FALSE
        return self._emit(_I1, f"icmp {pred} {a.type.text} {a.ref}, {b.ref}")

    def select(self, cond: Value, a: Value, b: Value, name: str = "") -> Value:
        if cond.__class__ is Constant:
            return a if cond.constant else b
        if a is b or (
            a.__class__ is Constant
            and b.__class__ is Constant
            and a.type is b.type
            and a.constant == b.constant
        ):
            return a  # (by value: whether two equal constants are one object is by chance)
        return self._emit(
            a.type, f"select i1 {cond.ref}, {a.type.text} {a.ref}, {b.type.text} {b.ref}"
        )

    # --- conversions -------------------------------------------------------------------------
    zext = _resize("zext")
    trunc = _resize("trunc")

    def sext(self, v: Value, ty: IntType, name: str = "") -> Value:
        if v.__class__ is Constant:
            return Constant(ty, _signed(v.constant, v.type.width))  # type: ignore
        return self._emit(ty, f"sext {v.type.text} {v.ref} to {ty.text}")

    def bitcast(self, v: Value, ty: Type, name: str = "") -> Value:
        if isinstance(ty, PointerType):
            # opaque pointers: only the remembered pointee changes
            return Value(ty, v.ref)
        return self._emit(ty, f"bitcast {v.type.text} {v.ref} to {ty.text}")

    def ptrtoint(self, v: Value, ty: IntType, name: str = "") -> Value:
        return self._emit(ty, f"ptrtoint ptr {v.ref} to {ty.text}")

    # --- memory ------------------------------------------------------------------------------
    def alloca(self, ty: Type, name: str = "") -> Value:
        return self._emit(PointerType(ty), f"alloca {ty.text}")

    def load(
        self, ptr: Value, name: str = "", align: int | None = None, typ: Type | None = None
    ) -> Value:
        ty = typ if typ is not None else ptr.type.pointee  # type: ignore[attr-defined]
        suffix = f", align {align}" if align else ""
        return self._emit(ty, f"load {ty.text}, ptr {ptr.ref}{suffix}")

    def store(self, value: Value, ptr: Value, align: int | None = None) -> None:
        suffix = f", align {align}" if align else ""
        self.lines.append(f"  store {value.type.text} {value.ref}, ptr {ptr.ref}{suffix}")

    def gep(
        self,
        ptr: Value,
        indices: Sequence[Value],
        inbounds: bool = False,
        name: str = "",
        source_etype: Type | None = None,
    ) -> Value:
        source = source_etype if source_etype is not None else ptr.type.pointee  # type: ignore
        if len(indices) == 1:  # the common case (a stack slot, a limb): said without loops
            index = indices[0]
            if index.__class__ is Constant and index.constant == 0:
                return Value(source.pointer(), ptr.ref)
            kind = "getelementptr inbounds" if inbounds else "getelementptr"
            return self._emit(
                source.pointer(),
                f"{kind} {source.text}, ptr {ptr.ref}, {index.type.text} {index.ref}",
            )
        result = source
        for index in indices[1:]:
            if isinstance(result, StructType):
                result = result.elements[index.constant]  # type: ignore[attr-defined]
            elif isinstance(result, ArrayType):
                result = result.element
        if len(indices) == 1 and indices[0].__class__ is Constant and indices[0].constant == 0:
            return Value(PointerType(result), ptr.ref)
        idx = ", ".join(f"{i.type.text} {i.ref}" for i in indices)
        kind = "getelementptr inbounds" if inbounds else "getelementptr"
        return self._emit(PointerType(result), f"{kind} {source.text}, ptr {ptr.ref}, {idx}")

    # --- calls and control flow ----------------------------------------------------------------
    def call(self, fn: Function, args: Iterable[Value], name: str = "") -> Value:
        args = list(args)
        ret = fn.ftype.return_type
        if fn.name.startswith("llvm.bswap") and args[0].__class__ is Constant:
            value = args[0].constant
            nbytes = ret.width // 8  # type: ignore[attr-defined]
            return Constant(ret, int.from_bytes(value.to_bytes(nbytes, "little"), "big"))  # type: ignore
        text = ", ".join(f"{a.type.text} {a.ref}" for a in args)
        callee = self.fn.pointer_to(fn) if fn.__class__ is IndirectFunction else fn.ref
        if ret is VOID:
            self.lines.append(f"  call void {callee}({text})")
            return Value(VOID, "")
        return self._emit(ret, f"call {ret.text} {callee}({text})")

    def branch(self, target: Block) -> None:
        self.lines.append(f"  br label %{target.name}")
        self.block.terminated = True

    def cbranch(self, cond: Value, then: Block, otherwise: Block) -> None:
        if cond.__class__ is Constant:
            self.branch(then if cond.constant else otherwise)
            return
        self.lines.append(f"  br i1 {cond.ref}, label %{then.name}, label %{otherwise.name}")
        self.block.terminated = True

    def switch(self, value: Value, default: Block) -> Switch:
        sw = Switch(value, default)
        self.lines.append(sw)
        self.block.terminated = True
        return sw

    def phi(self, ty: Type, name: str = "") -> Phi:
        phi = Phi(ty, self.fn.new_name())
        self.lines.append(phi)
        return phi

    def ret(self, value: Value) -> None:
        self.lines.append(f"  ret {value.type.text} {value.ref}")
        self.block.terminated = True

    def ret_void(self) -> None:
        self.lines.append("  ret void")
        self.block.terminated = True
