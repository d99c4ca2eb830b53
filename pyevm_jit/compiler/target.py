"""LLVM set-up for this process: native target, target machines, optimisation levels and the
engine identity (everything that makes machine code incompatible between two processes)."""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm
from eth_hash.auto import keccak

DEFAULT_OPT_LEVEL = 1

_init_lock = threading.RLock()
_initialised = False


@dataclass(frozen=True)
class EngineIdentity:
    """Everything that makes machine code incompatible between two processes: the compiler that
    made it (this package's version, a hash of the code generator's and the runtime library's
    sources, the py-evm whose fork rules it follows) and the machine it targets.

    The ABI (context layout, status codes, runtime functions) has no version number of its own:
    its sources (`abi.py`, the runtime library) are among `COMPILER_SOURCES`, so any change of
    it changes `compiler_hash`, and programs embed `abi.ABI_FINGERPRINT`, which the linker
    checks."""

    package_version: str
    compiler_hash: str
    py_evm_version: str
    llvm_version: str
    llvmlite_version: str
    triple: str
    cpu: str
    features: str

    def as_dict(self) -> dict[str, Any]:
        """The identity's fields by name (only these, also on a subclass that adds fields)."""
        return {f.name: getattr(self, f.name) for f in fields(EngineIdentity)}


def _ensure_llvm() -> None:
    global _initialised
    with _init_lock:
        if not _initialised:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialised = True


#: the sources whose text decides what object code looks like, relative to the package folder:
#: the whole compiler (code generator, analysis, runtime library, target set-up, compile and
#: link) and the ground facts it is built on (context layout, fork and opcode tables, state rules)
COMPILER_SOURCES = ("compiler/**/*.py", "abi.py", "forks.py", "opcodes.py", "gas_rules.py")


def compiler_sources_hash(package_dir: Path | None = None) -> str:
    """Keccak-256 (hex) over the compiler's source files, names and contents (`package_dir`:
    another copy of the package; default this one, hashed once per process).

    Any edit of the code generator or the runtime library gives another hash, so code that
    another compiler made is never linked."""
    if package_dir is None:
        return _installed_compiler_hash()
    return _hash_sources(Path(package_dir))


@functools.cache
def _installed_compiler_hash() -> str:
    return _hash_sources(Path(__file__).resolve().parents[1])


def _hash_sources(package_dir: Path) -> str:
    files = sorted({p for pattern in COMPILER_SOURCES for p in package_dir.glob(pattern)})
    if not files:
        # installed without its sources: an identity no store matches (nothing is reused)
        return "unknown-" + os.urandom(16).hex()
    parts = bytearray()
    for path in files:
        name = path.relative_to(package_dir).as_posix().encode()
        parts += keccak(len(name).to_bytes(4, "big") + name + keccak(path.read_bytes()))
    return keccak(bytes(parts)).hex()


@functools.cache
def _versions() -> tuple[str, str]:
    """(this package's version, py-evm's version), as installed ("unknown" when not)."""
    import importlib.metadata

    def version(distribution: str) -> str:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    # (read from the installed metadata: this layer does not import the package's top)
    return version("pyevm-jit"), version("py-evm")


@functools.cache
def engine_identity() -> EngineIdentity:
    """This process's engine identity (computed once)."""
    _ensure_llvm()
    package_version, py_evm_version = _versions()
    return EngineIdentity(
        package_version=package_version,
        compiler_hash=compiler_sources_hash(),
        py_evm_version=py_evm_version,
        llvm_version=".".join(str(v) for v in llvm.llvm_version_info),
        llvmlite_version=llvmlite.__version__,
        **_host_target(),
    )


@functools.cache
def _host_target() -> dict[str, str]:
    """The machine code is for: this process's target triple, CPU and CPU features."""
    _ensure_llvm()
    return {
        "triple": llvm.get_process_triple(),
        "cpu": llvm.get_host_cpu_name(),
        "features": llvm.get_host_cpu_features().flatten(),
    }


_tm_cache: dict[int, llvm.TargetMachine] = {}


def target_machine(opt_level: int = DEFAULT_OPT_LEVEL) -> llvm.TargetMachine:
    _ensure_llvm()
    with _init_lock:
        tm = _tm_cache.get(opt_level)
        if tm is None:
            host = _host_target()
            target = llvm.Target.from_triple(host["triple"])
            tm = target.create_target_machine(
                cpu=host["cpu"], features=host["features"], opt=opt_level, reloc="pic"
            )
            _tm_cache[opt_level] = tm
        return tm


# Optimisation levels: (IR passes, machine-code level). The code generator already keeps values
# in SSA registers within blocks, and no IR pass pays for itself: SROA (promoting the gas and
# stack-length slots to registers) made level-2 code no faster (snailtracer 42-44 ms CPU per run
# either way) and its phi webs cost the register coalescer and allocator a third of level 2's
# compile time (snailtracer 2.06 -> 1.40 s); at level 1 fast register allocation keeps them in
# stack slots anyway. What matters is the machine-code level: LLVM's optimising instruction
# selector, coalescer and greedy register allocator make code about 2x faster (snailtracer: 45 ms
# instead of 80-120 ms) but cost seconds on an 11 KB contract, against a few tenths of a second
# for the fast selector and allocator. So level 1 (fast) is the default for first compilations,
# and the runtime recompiles programs that stay hot at level 2 in the background (tiered
# compilation, `RuntimeTuning.tier_up_after`). Level 3 adds LLVM's -O2 IR pipeline (no faster on
# EVM code than level 2, and slower to build).
OPT_LEVELS: dict[int, tuple[tuple[str, ...] | int, int]] = {
    0: ((), 0),
    1: ((), 0),
    2: ((), 2),
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
