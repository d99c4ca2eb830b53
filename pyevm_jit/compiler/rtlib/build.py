"""The runtime library as one module: generated (`build_rtlib_module`), compiled once per
process or found in a persistent cache (`compile_rtlib_object`), and declared in programs
(`declare_rtlib`)."""

from __future__ import annotations

import threading
from typing import Protocol

import llvmlite.binding as llvm
import llvmlite.ir as ir

from pyevm_jit.compiler.rtlib.arithmetic import Arithmetic
from pyevm_jit.compiler.rtlib.keccak import Keccak
from pyevm_jit.compiler.rtlib.memory import Memory
from pyevm_jit.compiler.rtlib.signatures import SIGNATURES, define_function
from pyevm_jit.compiler.rtlib.state import StateOps


class RuntimeLibrary(Arithmetic, Keccak, Memory, StateOps):
    """The generator: every part of the library on one module."""

    def __init__(self, module: ir.Module, portable: bool):
        super().__init__(module, portable)
        # the internal functions first, in this order (the module's text depends on it)
        self.define_division()
        self.define_keccak_f()


def build_rtlib_module(triple: str | None = None, *, portable: bool | None = None) -> ir.Module:
    """The runtime library as an llvmlite IR module (for `triple`, default: this process).

    `portable` code has no inline assembly: quotient digits come from a precomputed reciprocal
    and multiplications instead of the x86-64 `div` instruction (the default off x86-64 only).
    """
    if triple is None:
        triple = llvm.get_process_triple()
    if portable is None:
        portable = not triple.startswith(("x86_64", "amd64"))
    module = ir.Module(name="pyevmjit_rtlib")
    module.triple = triple
    gen = RuntimeLibrary(module, portable=portable)
    gen.udiv_umod()
    gen.sdiv_smod()
    gen.addmod()
    gen.mulmod()
    gen.exp()
    gen.keccak256()
    gen.mem_grow()
    gen.copy_padded()
    gen.state_ops()
    return module


def emit_rtlib_object(module: ir.Module, tm: llvm.TargetMachine) -> bytes:
    """Parse, verify, optimise and emit a runtime-library module for `tm` (not cached)."""
    from pyevm_jit.compiler.target import optimise_module

    # the 128-by-64-bit division step is inline assembly on x86-64: emitting object code for
    # it needs the target's assembly parser (LLVM aborts the process without it)
    llvm.initialize_native_asmparser()
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    optimise_module(parsed, 3)
    return bytes(tm.emit_object(parsed))


class ObjectCache(Protocol):
    """Where built runtime-library objects persist beyond this process, by (triple, data
    layout) within this engine (`runtime.rtlib_cache` keeps them in artifact stores). `load`
    answers only an object it has verified; neither method raises."""

    def load(self, key: tuple[str, str]) -> bytes | None: ...

    def save(self, key: tuple[str, str], data: bytes) -> None: ...


_cache_lock = threading.Lock()
_object_cache: dict[tuple[str, str], bytes] = {}
#: persistent caches `compile_rtlib_object` reads before building and writes after (the
#: runtime adds one per artifact store a backend starts with)
object_caches: list[ObjectCache] = []
#: runtime libraries this process built (not found in memory or in `object_caches`)
builds = 0


def compile_rtlib_object(tm: llvm.TargetMachine) -> bytes:
    """Object code of the runtime library for `tm`: built once per process, or found in one of
    `object_caches` (and written to them once built)."""
    global builds
    key = (tm.triple, str(tm.target_data))
    with _cache_lock:
        cached = _object_cache.get(key)
        if cached is None:
            cached = next(filter(None, (c.load(key) for c in object_caches)), None)
            if cached is None:
                cached = emit_rtlib_object(build_rtlib_module(tm.triple), tm)
                builds += 1
                for cache in object_caches:
                    cache.save(key, cached)
            _object_cache[key] = cached
        return cached


def declare_rtlib(module: ir.Module) -> dict[str, ir.Function]:
    """Declare every exported runtime function in `module` (idempotent)."""
    functions: dict[str, ir.Function] = {}
    for name, fnty in SIGNATURES.items():
        existing = module.globals.get(name)
        if isinstance(existing, ir.Function):
            functions[name] = existing
            continue
        functions[name] = define_function(module, fnty, name)
    return functions
