"""What `on_compilation` receives after every compilation."""

from __future__ import annotations

from dataclasses import dataclass

from pyevm_jit.runtime.types import ProgramKind, RuntimeCacheKey


@dataclass(frozen=True)
class CompilationEvent:
    """One finished compilation, successful or not.

    `duration` is wall-clock seconds from dispatch to the program being linked (or the failure
    being known); the phase timings come from the compiler (zero when it failed before
    reporting them). `error` is a one-line reason when `success` is false.
    """

    key: RuntimeCacheKey
    kind: ProgramKind
    duration: float
    success: bool
    translate: float = 0.0
    optimise: float = 0.0
    codegen: float = 0.0
    link: float = 0.0
    error: str | None = None
    code_len: int = 0
    object_len: int = 0
    opt_level: int | None = None
    #: a recompilation of a hot program at the tier-up level (see RuntimeTuning.tier_up_after)
    tier_up: bool = False
