"""LLVM engine: target machine, optimisation, object emission and in-process linking.

Compilation (`compile_object`) is a pure function from bytecode to relocatable object code; it
runs in worker processes. Linking (`link_object`) happens in the process that runs the code, with
one LLJIT per process and the native runtime library (`rtlib`) linked into it once.

Object code never embeds process addresses: everything process-specific reaches the program
through its context struct or through symbols resolved at link time.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from pyevm_jit.abi import ABI_FINGERPRINT

# Bump whenever the context layout, status codes or calling convention change.
ABI_VERSION = 3
RTLIB_LIBRARY = "pyevmjit_rt"
DEFAULT_OPT_LEVEL = 1

_init_lock = threading.RLock()
_initialised = False


class CompileError(Exception):
    """Raised when bytecode cannot be compiled; the caller interprets instead."""


@dataclass(frozen=True)
class EngineIdentity:
    """Everything that makes machine code incompatible between two processes."""

    abi_version: int
    llvm_version: str
    llvmlite_version: str
    triple: str
    cpu: str
    features: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "abi_version": self.abi_version,
            "llvm_version": self.llvm_version,
            "llvmlite_version": self.llvmlite_version,
            "triple": self.triple,
            "cpu": self.cpu,
            "features": self.features,
        }


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


def _ensure_llvm() -> None:
    global _initialised
    with _init_lock:
        if not _initialised:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialised = True


def engine_identity() -> EngineIdentity:
    _ensure_llvm()
    return EngineIdentity(
        abi_version=ABI_VERSION,
        llvm_version=".".join(str(v) for v in llvm.llvm_version_info),
        llvmlite_version=llvmlite.__version__,
        triple=llvm.get_process_triple(),
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
    )


_tm_cache: dict[int, llvm.TargetMachine] = {}


def target_machine(opt_level: int = DEFAULT_OPT_LEVEL) -> llvm.TargetMachine:
    _ensure_llvm()
    with _init_lock:
        tm = _tm_cache.get(opt_level)
        if tm is None:
            ident = engine_identity()
            target = llvm.Target.from_triple(ident.triple)
            tm = target.create_target_machine(
                cpu=ident.cpu, features=ident.features, opt=opt_level, reloc="pic"
            )
            _tm_cache[opt_level] = tm
        return tm


def entry_symbol(code_hash: bytes, fork: str) -> str:
    return f"evm_{fork}_{code_hash.hex()}"


# Optimisation levels: (IR passes, machine-code level). The code generator already keeps values
# in SSA registers within blocks, so IR passes beyond SROA gain little; what matters is the
# machine-code level. LLVM's optimising instruction selector, coalescer and greedy register
# allocator make code about 2.5x faster (snailtracer: 50 ms instead of 122 ms) but cost about
# 3 s on that 11 KB contract, against under 1 s for the fast selector and allocator.
# So level 1 (fast) is the default for first compilations, and the runtime recompiles programs
# that stay hot at level 2 in the background (tiered compilation, `RuntimeTuning.tier_up_after`).
# Level 3 adds LLVM's -O2 IR pipeline (no faster on EVM code than level 2, and slower to build).
OPT_LEVELS: dict[int, tuple[tuple[str, ...] | int, int]] = {
    0: ((), 0),
    1: (("sroa",), 0),
    2: (("sroa",), 2),
    3: (2, 2),  # LLVM's standard -O2 pipeline and machine-code optimisation
}
#: the level hot programs are recompiled at (tiered compilation)
TIER_UP_OPT_LEVEL = 2


def _levels(opt_level: int) -> tuple[tuple[str, ...] | int, int]:
    return OPT_LEVELS[min(max(opt_level, 0), max(OPT_LEVELS))]


def optimise_module(module: llvm.ModuleRef, opt_level: int) -> None:
    passes, _ = _levels(opt_level)
    if not passes:
        return
    tm = target_machine(opt_level)
    speed = passes if isinstance(passes, int) else 2
    pto = llvm.create_pipeline_tuning_options(speed_level=speed)
    pb = llvm.create_pass_builder(tm, pto)
    if isinstance(passes, int):
        pb.getModulePassManager().run(module, pb)
        return
    pm = llvm.create_new_module_pass_manager()
    for name in passes:
        getattr(pm, f"add_{name}_pass")()
    pm.run(module, pb)


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
) -> ObjectCode:
    """Compile EVM bytecode for a py-evm fork (e.g. "cancun") to relocatable object code.

    Pure and picklable: runs in worker processes. Raises CompileError on any failure.
    """
    from eth_hash.auto import keccak

    from pyevm_jit.codegen import translate

    if code_hash is None:
        code_hash = keccak(code)
    entry = entry_symbol(code_hash, fork)
    t0 = time.thread_time()
    try:
        with _gc_paused():
            ir_text = translate(code, fork, entry)
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


def dump_object(obj: ObjectCode, code: bytes, directory: Path) -> None:
    """Write bytecode, IR, optimised IR and assembly for one contract into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bytecode.hex").write_text(code.hex() + "\n")
    (directory / "unopt.ll").write_text(obj.ir)
    (directory / "opt.ll").write_text(obj.optimised_ir)
    (directory / "program.s").write_text(obj.assembly)
    (directory / "program.o").write_bytes(obj.object_bytes)


# --- linking (process-local) -------------------------------------------------------------------

# Called with the GIL held (PYFUNCTYPE): native code never calls back into Python, and releasing
# and re-taking the GIL around every entry and resume made short messages bimodal (push0_proxy:
# 117 us or 155-160 us per message depending on when the backend thread had last woken).
ENTRY_FUNCTYPE = ctypes.PYFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)


class NativeProgram:
    """A linked program: its entry point and the resource tracker that keeps its code mapped."""

    __slots__ = ("entry_symbol", "address", "run", "env_mask", "code_size", "_tracker")

    def __init__(self, entry: str, tracker: object, address: int, env_mask: int, size: int):
        self.entry_symbol = entry
        self._tracker = tracker
        self.address = address
        self.run = ENTRY_FUNCTYPE(address)
        self.env_mask = env_mask
        self.code_size = size


class _Linker:
    """One LLJIT per process, with the runtime library linked once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lljit: llvm.LLJIT | None = None
        self._rt_tracker: object | None = None
        self._counter = 0

    def _ensure(self) -> llvm.LLJIT:
        if self._lljit is None:
            from pyevm_jit import rtlib

            tm = target_machine(DEFAULT_OPT_LEVEL)
            lljit = llvm.create_lljit_compiler(tm)
            builder = llvm.JITLibraryBuilder().add_current_process()
            builder.add_object_img(rtlib.compile_rtlib_object(tm))
            for name in rtlib.EXPORTED_SYMBOLS:
                builder.export_symbol(name)
            self._rt_tracker = builder.link(lljit, RTLIB_LIBRARY)
            self._lljit = lljit
        return self._lljit

    def prepare(self) -> None:
        with self._lock:
            self._ensure()

    def rtlib_address(self, name: str) -> int:
        with self._lock:
            self._ensure()
            return self._rt_tracker[name]  # type: ignore[index]

    def link(self, obj: ObjectCode) -> NativeProgram:
        with self._lock:
            lljit = self._ensure()
            self._counter += 1
            name = f"{obj.entry_symbol}#{self._counter}"
            meta = obj.entry_symbol + "_meta"
            try:
                tracker = (
                    llvm.JITLibraryBuilder()
                    .add_object_img(obj.object_bytes)
                    .add_jit_library(RTLIB_LIBRARY)
                    .add_current_process()
                    .export_symbol(obj.entry_symbol)
                    .export_symbol(meta)
                    .link(lljit, name)
                )
            except RuntimeError as exc:
                raise CompileError(f"link failed: {exc}") from exc
            address = tracker[obj.entry_symbol]
            meta_address = tracker[meta]
            if not address or not meta_address:
                raise CompileError(f"link failed: {obj.entry_symbol} not found in object code")
            env_mask = ctypes.c_uint64.from_address(meta_address).value
            layout = ctypes.c_uint64.from_address(meta_address + 8).value
            if layout != ABI_FINGERPRINT:
                # built against another context layout (an older store, a worker running
                # newer sources): running it would read the context wrongly
                raise CompileError(f"{obj.entry_symbol}: object code for another context layout")
            return NativeProgram(
                obj.entry_symbol, tracker, address, env_mask, len(obj.object_bytes)
            )


_linker = _Linker()


def link_object(obj: ObjectCode) -> NativeProgram:
    """Link object code into this process. Raises CompileError when the object is unusable."""
    return _linker.link(obj)


def prepare_linker() -> None:
    """Build this process's JIT linker and its runtime library now (once per process, about
    0.2 s), so that the first program's link time is its own."""
    _linker.prepare()


def rtlib_address(name: str) -> int:
    return _linker.rtlib_address(name)
