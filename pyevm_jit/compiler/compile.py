"""Bytecode to relocatable object code: translation (`codegen`), optimisation and emission.

Compilation (`compile_object`) is a pure function from bytecode to object code; it runs in
worker processes. Object code never embeds process addresses: everything process-specific
reaches the program through its context struct or through symbols resolved at link time
(`pyevm_jit.compiler.link`).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.binding as llvm

from pyevm_jit.compiler.target import (
    DEFAULT_OPT_LEVEL,
    _ensure_llvm,
    _levels,
    optimise_module,
    target_machine,
)
from pyevm_jit.errors import CompileError
from pyevm_jit.files import atomic_write


@dataclass(frozen=True)
class PhaseTimings:
    """CPU seconds of the compiling thread per phase (wall time on a shared machine also counts
    other processes; the runtime reports wall time from dispatch to link separately)."""

    translate: float = 0.0
    optimise: float = 0.0
    codegen: float = 0.0

    @property
    def total(self) -> float:
        return self.translate + self.optimise + self.codegen


@dataclass(frozen=True)
class ObjectCode:
    """The result of compiling one contract for one fork: what workers return and stores keep."""

    object_bytes: bytes
    entry_symbol: str
    fork: str
    opt_level: int
    timings: PhaseTimings = field(default_factory=PhaseTimings)
    ir: str = ""
    optimised_ir: str = ""
    assembly: str = ""


def entry_symbol(code_hash: bytes, fork: str) -> str:
    return f"evm_{fork}_{code_hash.hex()}"


def compile_ir(
    ir_text: str, entry: str, fork: str, opt_level: int, *, keep_text: bool = False
) -> ObjectCode:
    """Optimise LLVM IR text and emit object code."""
    _ensure_llvm()
    t0 = time.thread_time()
    try:
        module = llvm.parse_assembly(ir_text)
        module.verify()
    except RuntimeError as exc:
        raise CompileError(f"invalid IR: {exc}") from exc
    optimise_module(module, opt_level)
    t1 = time.thread_time()
    tm = target_machine(_levels(opt_level)[1])
    obj = tm.emit_object(module)
    asm = tm.emit_assembly(module) if keep_text else ""
    t2 = time.thread_time()
    return ObjectCode(
        object_bytes=bytes(obj),
        entry_symbol=entry,
        fork=fork,
        opt_level=opt_level,
        timings=PhaseTimings(0.0, t1 - t0, t2 - t1),
        ir=ir_text if keep_text else "",
        optimised_ir=str(module) if keep_text else "",
        assembly=asm,
    )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Translation allocates hundreds of thousands of short-lived, acyclic IR objects; the
    cyclic collector's passes over them cost about 45% of translation time (snailtracer:
    0.60 s -> 0.33 s). Reference counting frees them either way."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_object(
    code: bytes,
    fork: str,
    opt_level: int = DEFAULT_OPT_LEVEL,
    *,
    code_hash: bytes | None = None,
    keep_text: bool = False,
    region: frozenset[int] | None = None,
) -> ObjectCode:
    """Compile EVM bytecode for a py-evm fork (e.g. "cancun") to relocatable object code;
    with `region` (block start pcs), only those blocks: the others are side exits
    (compiler/regions.py).

    Pure and picklable: runs in worker processes. Raises CompileError on any failure.
    """
    from eth_hash.auto import keccak

    from pyevm_jit.compiler.codegen import translate

    if code_hash is None:
        code_hash = keccak(code)
    entry = entry_symbol(code_hash, fork)
    t0 = time.thread_time()
    try:
        with _gc_paused():
            ir_text = translate(code, fork, entry, region)
    except CompileError:
        raise
    except Exception as exc:  # any codegen bug must end in "interpret", never a crash
        raise CompileError(f"translation failed: {type(exc).__name__}: {exc}") from exc
    t1 = time.thread_time()
    obj = compile_ir(ir_text, entry, fork, opt_level, keep_text=keep_text)
    timings = PhaseTimings(t1 - t0, obj.timings.optimise, obj.timings.codegen)
    return ObjectCode(
        object_bytes=obj.object_bytes,
        entry_symbol=entry,
        fork=fork,
        opt_level=opt_level,
        timings=timings,
        ir=obj.ir,
        optimised_ir=obj.optimised_ir,
        assembly=obj.assembly,
    )


#: what `start` compiles: PUSH1 1 PUSH1 1 ADD, valid in every fork
START_UP_CODE = bytes.fromhex("6001600101")
START_UP_FORK = "frontier"


def start(opt_levels: Iterable[int] = (DEFAULT_OPT_LEVEL,)) -> None:
    """Make this process ready to compile: initialise LLVM and compile a tiny contract once at
    each of `opt_levels`, which creates their target machines and loads the code generator's
    own code and data (the first compilation in a process costs some 20-40 ms more than the
    same compilation later). Compile workers run it before they take jobs."""
    for level in opt_levels:
        compile_object(START_UP_CODE, START_UP_FORK, level)


def dump_object(obj: ObjectCode, code: bytes, directory: Path) -> None:
    """Write bytecode, IR, optimised IR and assembly for one contract into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("bytecode.hex", (code.hex() + "\n").encode()),
        ("unopt.ll", obj.ir.encode()),
        ("opt.ll", obj.optimised_ir.encode()),
        ("program.s", obj.assembly.encode()),
        ("program.o", bytes(obj.object_bytes)),
    ):
        atomic_write(directory / name, data)
