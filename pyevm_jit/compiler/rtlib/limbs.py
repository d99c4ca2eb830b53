"""The base of the library's generator: the module, the intrinsics every part calls, and 64-bit
limb helpers (words as arrays of little-endian 64-bit limbs)."""

from __future__ import annotations

import llvmlite.ir as ir

from pyevm_jit.compiler.rtlib.signatures import const, define_function, i1, i32, i64, i256


class LibraryBase:
    """State shared by the parts of the generator (`build.RuntimeLibrary` combines them)."""

    def __init__(self, module: ir.Module, portable: bool):
        self.m = module
        # portable: no inline assembly, digits by reciprocal (Moller-Granlund) instead of `div`
        self.preinv = portable
        self.ctlz64 = ir.Function(module, ir.FunctionType(i64, [i64, i1]), "llvm.ctlz.i64")
        self.ctlz256 = ir.Function(module, ir.FunctionType(i256, [i256, i1]), "llvm.ctlz.i256")
        fsh = ir.FunctionType(i64, [i64, i64, i64])
        self.fshl64 = ir.Function(module, fsh, "llvm.fshl.i64")
        self.fshr64 = ir.Function(module, fsh, "llvm.fshr.i64")

    # -- helpers --------------------------------------------------------------------------------
    def define(self, name: str, fnty: ir.FunctionType, internal: bool = False) -> ir.Function:
        fn = define_function(self.m, fnty, name)
        if internal:
            fn.linkage = "internal"
        return fn

    @staticmethod
    def elt(b: ir.IRBuilder, arr: ir.Value, index: ir.Value | int) -> ir.Value:
        idx = const(i32, index) if isinstance(index, int) else index
        return b.gep(arr, [idx], inbounds=True)

    @staticmethod
    def hi64(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        return b.trunc(b.lshr(x, const(x.type, 64)), i64)

    @staticmethod
    def limbs(b: ir.IRBuilder, x: ir.Value) -> list[ir.Value]:
        return [
            b.trunc(b.lshr(x, const(x.type, 64 * k)), i64) if k else b.trunc(x, i64)
            for k in range(x.type.width // 64)
        ]

    @staticmethod
    def join(b: ir.IRBuilder, parts: list[ir.Value], ty: ir.IntType) -> ir.Value:
        acc: ir.Value = b.zext(parts[0], ty)
        for k, part in enumerate(parts[1:], start=1):
            acc = b.or_(acc, b.shl(b.zext(part, ty), const(ty, 64 * k)))
        return acc

    def store_limbs(self, b: ir.IRBuilder, arr: ir.Value, x: ir.Value, total: int) -> None:
        parts = self.limbs(b, x)
        for k in range(total):
            b.store(parts[k] if k < len(parts) else const(i64, 0), self.elt(b, arr, k))

    def load_limbs(self, b: ir.IRBuilder, arr: ir.Value, count: int) -> list[ir.Value]:
        return [b.load(self.elt(b, arr, k)) for k in range(count)]

    def nlimbs(self, b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        """Number of significant 64-bit limbs of x (as i32)."""
        lz = b.call(self.ctlz256 if x.type == i256 else self._ctlz(x.type), [x, const(i1, 0)])
        used = b.sub(const(x.type, x.type.width // 64), b.lshr(lz, const(x.type, 6)))
        return b.trunc(used, i32)

    def _ctlz(self, ty: ir.IntType) -> ir.Function:
        name = f"llvm.ctlz.i{ty.width}"
        existing = self.m.globals.get(name)
        if isinstance(existing, ir.Function):
            return existing
        return ir.Function(self.m, ir.FunctionType(ty, [ty, i1]), name)
