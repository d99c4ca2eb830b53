"""Keys, requests and decisions of the runtime (the reference's vocabulary, in Python)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pyevm_jit.compiler.link import NativeProgram


class RuntimeCacheKey(NamedTuple):
    """Identity of a compiled program at run time: a program for one fork never runs on another.

    A named tuple, so that hashing and comparing a key (one dict look-up per message in the
    backend's resident map) are C-level: a frozen dataclass's generated `__hash__` and
    `__eq__` cost about 1 us per look-up of a key object other than the map's own."""

    code_hash: bytes
    fork: str


@dataclass(frozen=True)
class LookupRequest:
    """A key plus the raw bytecode, so that a miss can be compiled without another state read."""

    key: RuntimeCacheKey
    code: bytes


@dataclass(frozen=True)
class AotRequest:
    code_hash: bytes
    code: bytes
    fork: str

    @property
    def key(self) -> RuntimeCacheKey:
        return RuntimeCacheKey(self.code_hash, self.fork)


class InterpretReason(enum.Enum):
    DISABLED = "Disabled"
    INELIGIBLE = "Ineligible"
    NOT_READY = "NotReady"
    JIT_FAILED = "JitFailed"


class ProgramKind(enum.Enum):
    AOT = "AOT"
    JIT = "JIT"


@dataclass(eq=False)
class CompiledProgram:
    """A callable native program. Holding a reference keeps its machine code alive."""

    key: RuntimeCacheKey
    kind: ProgramKind
    native: NativeProgram
    code_bytes: int = field(default=0)
    #: the optimisation level it was compiled at (None: unknown, never tiered up)
    opt_level: int | None = field(default=None)
    #: its key's `runtime.usage.KeyUsage`, set when it becomes resident (the JIT computation
    #: adds the seconds of the messages it runs to it)
    usage: Any = field(default=None, repr=False)
    #: the blocks it compiled (None: the whole contract; docs/regions.md)
    region: frozenset[int] | None = field(default=None)


@dataclass(frozen=True)
class LookupDecision:
    program: CompiledProgram | None
    reason: InterpretReason | None

    @property
    def is_compiled(self) -> bool:
        return self.program is not None

    @classmethod
    def compiled(cls, program: CompiledProgram) -> LookupDecision:
        return cls(program, None)

    @classmethod
    def interpret(cls, reason: InterpretReason) -> LookupDecision:
        return cls(None, reason)


__all__ = [
    "AotRequest",
    "CompiledProgram",
    "InterpretReason",
    "LookupDecision",
    "LookupRequest",
    "ProgramKind",
    "RuntimeCacheKey",
]
