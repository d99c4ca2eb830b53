"""Runtime configuration: `RuntimeConfig` and `RuntimeTuning` (the reference's fields and defaults).

Every field has an environment override named `PYEVM_JIT_<FIELD>` (upper case), for example
`PYEVM_JIT_HOT_THRESHOLD=1` or `PYEVM_JIT_ENABLED=1`. The environment changes the *defaults*
only: a value passed explicitly to the constructor always wins. Overrides are read when the
object is constructed; a malformed value raises `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, TIER_UP_OPT_LEVEL
from pyevm_jit.runtime.budget import BudgetPolicy
from pyevm_jit.runtime.store import ArtifactStore, FileArtifactStore
from pyevm_jit.runtime.store.shared import TieredArtifactStore, shared_store_from

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode
    from pyevm_jit.compiler.link import NativeProgram
    from pyevm_jit.runtime.events import CompilationEvent
    from pyevm_jit.runtime.workers import CompileTask

ENV_PREFIX = "PYEVM_JIT_"

#: EIP-170: the largest runtime code a contract may have (every py-evm fork since Spurious Dragon).
MAX_CODE_SIZE = 24576

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value (usually from the environment) is malformed."""


def default_worker_count() -> int:
    """The reference's default: half the CPUs, at least one, at most four."""
    cpus = os.cpu_count() or 1
    return min(max(1, cpus // 2), 4)


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected a boolean, got {text!r}")


def _parse(name: str, text: str, kind: type) -> Any:
    if kind is bool:
        return _parse_bool(name, text)
    try:
        value = kind(text.strip())
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name.upper()}: expected {kind.__name__}, got {text!r}"
        ) from None
    if isinstance(value, (int, float)) and value < 0:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: must not be negative, got {text!r}")
    return value


def env_value(name: str, default: T, environ: Mapping[str, str] | None = None) -> T:
    """The value of `PYEVM_JIT_<NAME>` parsed as the type of `default`, or `default`."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_PREFIX + name.upper())
    if text is None:
        return default
    return _parse(name, text, type(default))


def _env(name: str, default: T) -> Any:
    return field(default_factory=lambda: env_value(name, default))


def _env_worker_count() -> Any:
    return field(default_factory=lambda: env_value("worker_count", default_worker_count()))


@dataclass
class RuntimeTuning:
    """Knobs of the backend thread, the compiler pool and the resident map."""

    #: capacity of the command channel (explicit compile / AOT requests)
    channel_capacity: int = _env("channel_capacity", 4096)
    #: capacity of the lookup event queue; overflowing events are dropped and counted
    event_queue_capacity: int = _env("event_queue_capacity", 4096)
    #: events handled per wake-up of the backend thread
    events_per_wakeup: int = _env("events_per_wakeup", 4096)
    #: seconds between two drains of the event queue
    event_drain_interval: float = _env("event_drain_interval", 0.1)
    #: seconds `close()` waits for the backend thread and the workers
    shutdown_timeout: float = _env("shutdown_timeout", 5.0)
    #: seconds `close()` (and the exit of the process) first waits for compilations in flight
    #: to finish and reach the store, when the backend has a writable one, so that the next
    #: run finds them (0: no wait)
    store_wait: float = _env("store_wait", 5.0)
    #: observed misses after which a key is compiled
    hot_threshold: int = _env("hot_threshold", 8)
    #: promotion by cost (docs/regions.md): a key is also hot once the messages the
    #: interpreter ran for it took this many seconds (their own time, children's taken off)
    #: per KiB of its code; 0 (the default) promotes by `hot_threshold` alone
    hot_seconds_per_kib: float = _env("hot_seconds_per_kib", 0.0)
    #: longer bytecode is Ineligible (EIP-170 runtime code limit by default)
    max_bytecode_len: int = _env("max_bytecode_len", MAX_CODE_SIZE)
    #: compilations queued or running at once; further requests are dropped
    max_pending_jobs: int = _env("max_pending_jobs", 2048)
    #: worker processes compiling in parallel; 0 compiles in-process on a helper thread
    worker_count: int = _env_worker_count()
    jit_opt_level: int = _env("jit_opt_level", DEFAULT_OPT_LEVEL)
    #: lookups hitting a JIT program below `tier_up_opt_level` before it is recompiled at that
    #: level in the background and swapped in (tiered compilation, ours; 0 disables)
    tier_up_after: int = _env("tier_up_after", 16)
    tier_up_opt_level: int = _env("tier_up_opt_level", TIER_UP_OPT_LEVEL)
    aot_opt_level: int = _env("aot_opt_level", DEFAULT_OPT_LEVEL)
    #: region compilation (docs/regions.md), on when above 0: a JIT program first compiles
    #: the blocks a message of the contract ran (or, when none was recorded, the blocks pc 0
    #: reaches statically, at most this many); the rest are side exits to the interpreter.
    #: 0 compiles whole contracts; blocking mode and AOT always do (unless `region_blocking`)
    region_blocks: int = _env("region_blocks", 16)
    #: a region covering at least this share of the contract's blocks is compiled whole
    region_whole_share: float = _env("region_whole_share", 0.5)
    #: compile regions in blocking mode too (tests and the fuzzer force side exits with it)
    region_blocking: bool = _env("region_blocking", False)
    #: a seed: first regions are a random half of the blocks, drawn with it (the fuzzer's
    #: side exits at random places); 0 (the default): the blocks that ran
    region_random: int = _env("region_random", 0)
    #: regions of at most this many blocks compile on a thread of this process, not in a
    #: worker process (whose start-up takes longer than they do)
    region_local_blocks: int = _env("region_local_blocks", 256)
    #: bytes of resident code before least-recently-used programs are evicted
    resident_code_budget: int = _env("resident_code_budget", 1 << 30)
    #: a program without hits for this many seconds is evicted (0 disables idle eviction)
    idle_evict_after: float = _env("idle_evict_after", 600.0)
    #: seconds between two idle-eviction sweeps
    idle_sweep_interval: float = _env("idle_sweep_interval", 60.0)
    #: a worker process is replaced after this many compilations, to bound its memory
    recycle_after: int = _env("recycle_after", 1000)
    #: seconds one compilation may take in a worker before the worker is killed (0: no limit);
    #: counted from the moment the worker is ready (start-up excluded)
    compile_timeout: float = _env("compile_timeout", 120.0)
    #: answer SLOAD, SSTORE, TLOAD, TSTORE and LOG natively where py-evm's rules allow it (off:
    #: each runs py-evm's opcode, to compare both on the same run; ours)
    native_state: bool = _env("native_state", True)
    #: interpret (count Ineligible) code shaped to be pathological to compile (runtime/budget.py)
    screen_pathological: bool = _env("screen_pathological", True)
    #: a compilation's CPU budget is this multiple of its estimated cost (0: no budget)
    compile_budget_headroom: float = _env("compile_budget_headroom", 4.0)
    #: ... and at least this many CPU seconds
    compile_budget_floor: float = _env("compile_budget_floor", 2.0)
    #: CPU seconds all compilations of one contract may cost together (0: no cap)
    compile_cost_cap: float = _env("compile_cost_cap", 60.0)
    #: JIT VMs answer reads of account and storage tries from a process-wide cache keyed by
    #: trie root (lean/statedb/; PYEVM_JIT_READ_CACHE=0 reads the tries as py-evm does)
    read_cache: bool = _env("read_cache", True)
    #: entries of that cache (about 300 bytes each) before the least recently used are dropped
    read_cache_entries: int = _env("read_cache_entries", 100_000)
    #: JIT VMs use exact lean paths for message set-up: calls from native code, account records,
    #: access marks, environment words, transaction messages (pyevm_jit/lean/)
    lean_messages: bool = _env("lean_messages", True)
    #: JIT VMs over py-evm's exact AccountDB keep a transaction's state in flat dicts with one
    #: undo log, handed to py-evm's journals and tries at lock_changes / make_state_root /
    #: persist (lean/statedb/journal.py, docs/journal.md; PYEVM_JIT_NATIVE_JOURNAL=0: py-evm's)
    native_journal: bool = _env("native_journal", True)

    def should_compile(self, code: bytes) -> bool:
        """Whether bytecode is eligible at all (empty or over-long code is never compiled)."""
        return 0 < len(code) <= self.max_bytecode_len

    def budget_policy(self) -> BudgetPolicy:
        return BudgetPolicy(
            screen=self.screen_pathological,
            headroom=self.compile_budget_headroom,
            floor=self.compile_budget_floor,
            cap=self.compile_cost_cap,
        )

    def replace(self, **changes: Any) -> RuntimeTuning:
        return dataclasses.replace(self, **changes)


def _env_path(name: str) -> Any:
    def factory() -> Path | None:
        text = os.environ.get(ENV_PREFIX + name.upper())
        return Path(text) if text else None

    return field(default_factory=factory)


#: the default cache's size bound (`PYEVM_JIT_STORE_MAX_BYTES`; 0: unbounded)
DEFAULT_STORE_MAX_BYTES = 512 << 20
#: values of `PYEVM_JIT_STORE` that switch the persistent cache off
STORE_OFF = ("off", "none", "no", "0", "false", "")


def default_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the persistent cache lives by default: `$XDG_CACHE_HOME/pyevm-jit` (when that is
    an absolute path), else `~/.cache/pyevm-jit`."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "pyevm-jit"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".cache" / "pyevm-jit"


def default_store(environ: Mapping[str, str] | None = None) -> ArtifactStore | None:
    """The store a `RuntimeConfig()` uses: the persistent cache, in `PYEVM_JIT_STORE` when set,
    else in `default_store_path()`, bounded to `PYEVM_JIT_STORE_MAX_BYTES` (default 512 MiB)
    with least-recently-used pruning. `PYEVM_JIT_STORE=off` switches it off (None). Nothing
    is created on disk until the first program is stored."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_PREFIX + "STORE")
    if text is not None and text.strip().lower() in STORE_OFF:
        return None
    path = Path(text).expanduser() if text is not None else default_store_path(env)
    max_bytes = env_value("store_max_bytes", DEFAULT_STORE_MAX_BYTES, env)
    return FileArtifactStore(path, max_bytes=max_bytes or None)


def _env_preload() -> Any:
    def factory() -> bool | None:
        text = os.environ.get(ENV_PREFIX + "PRELOAD")
        return None if text is None else _parse_bool("preload", text)

    return field(default_factory=factory)


@dataclass
class RuntimeConfig:
    """How a `JitBackend` behaves. See runtime-model.md for the meaning of each field.

    `compiler` and `linker` are hooks (tests, fault injection): `compiler(CompileTask) ->
    ObjectCode` runs in a worker process, so it must be a picklable module-level function;
    `linker(ObjectCode) -> NativeProgram` runs in this process. None means the engine's
    `compile_object` / `link_object`.
    """

    enabled: bool = _env("enabled", False)
    thread_name: str = _env("thread_name", "pyevm-jit")
    #: where compiled programs persist: by default the user's cache (`default_store()`); None
    #: keeps nothing
    store: ArtifactStore | None = field(default_factory=default_store)
    dump_dir: Path | None = _env_path("dump_dir")
    #: a shared artifact store behind `store` (any fsspec URL: `file:///dir`, `s3://bucket/p`,
    #: `https://...` read-only; `runtime.store.shared`); `store` then becomes a
    #: `TieredArtifactStore` of both (ours)
    shared_store: str | None = field(
        default_factory=lambda: os.environ.get(ENV_PREFIX + "SHARED_STORE") or None
    )
    #: check the context at every return from native code (`runtime.assertions`); for tests,
    #: fuzzing and debugging
    debug_assertions: bool = _env("debug_assertions", False)
    aot: bool = _env("aot", False)
    blocking: bool = _env("blocking", False)
    #: compile keys whose misses reach the hot threshold (off: only artifacts already in the
    #: store, explicit requests and blocking lookups produce programs; ours)
    promote_hot: bool = _env("promote_hot", True)
    #: check and link every artifact of `store` this engine built when the backend starts (each
    #: becomes resident on its key's first lookup); when off, an artifact is loaded on its
    #: key's first lookup. None: preload an unbounded store (an AOT store), not a bounded one
    #: (a cache, like the default) (ours)
    preload: bool | None = _env_preload()
    on_compilation: Callable[[CompilationEvent], None] | None = None
    tuning: RuntimeTuning = field(default_factory=RuntimeTuning)
    compiler: Callable[[CompileTask], ObjectCode] | None = None
    linker: Callable[[ObjectCode], NativeProgram] | None = None

    def __post_init__(self) -> None:
        if self.shared_store and not isinstance(self.store, TieredArtifactStore):
            self.store = TieredArtifactStore(self.store, shared_store_from(self.shared_store))

    @classmethod
    def from_env(cls, **overrides: Any) -> RuntimeConfig:
        """Defaults plus `PYEVM_JIT_*` overrides plus explicit keyword overrides."""
        return cls(**overrides)

    def replace(self, **changes: Any) -> RuntimeConfig:
        return dataclasses.replace(self, **changes)
