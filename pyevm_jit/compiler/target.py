"""LLVM set-up for this process: native target, target machines, optimisation levels and the
engine identity (everything that makes machine code incompatible between two processes)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Any

import llvmlite
import llvmlite.binding as llvm

# Bump whenever the context layout, status codes, calling convention or the runtime library's
# functions change.
ABI_VERSION = 5
DEFAULT_OPT_LEVEL = 1

_init_lock = threading.RLock()
_initialised = False


@dataclass(frozen=True)
class EngineIdentity:
    """Everything that makes machine code incompatible between two processes."""

    abi_version: int
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
