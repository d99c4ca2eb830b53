"""`JitBackend.report()`: what the JIT did for each contract, as data, text and JSON.

Rows are per (code hash, fork) (a fork's `.observed` variant, for messages whose tracing
native code records, is a key of its own), from the backend's `runtime.usage` records:

- native / interpreted messages (interpreted by reason: Disabled, Ineligible, NotReady,
  JitFailed); they add up to `stats()` (lookup_hits, misses_by_reason);
- native seconds and interpreted seconds: each message's own time, its child messages left out;
- compile seconds per tier (jit, tier-up, aot): the compiler's own work and the link of each
  compilation (`stats().compile_seconds` is wall time from dispatch, so it also holds queueing
  and a compile worker's start-up), and the programs loaded from the store;
- saved seconds, an estimate: the native messages at the mean time of the key's interpreted
  ones, less their native time (none when the key had no timed interpreted message, e.g. native
  from its first call thanks to the store). `net` also takes the compile seconds off.

Sorted by the seconds at stake (native + interpreted + compile), most first.

At exit: `PYEVM_JIT_REPORT=1` prints the report of every backend a tool built for the user
(`report_at_exit`), `PYEVM_JIT_REPORT=FILE.json` writes it there (`pyevm-jit report FILE`
prints it again).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pyevm_jit.files import atomic_write, load_json
from pyevm_jit.runtime.config import ENV_PREFIX, STORE_OFF
from pyevm_jit.runtime.usage import OTHERS

if TYPE_CHECKING:
    from pyevm_jit.runtime.backend import JitBackend
    from pyevm_jit.runtime.state import BackendState

#: format of the JSON a report is saved as
REPORT_FORMAT = "pyevm-jit-report/1"
#: rows shown by `format()` unless told otherwise
DEFAULT_ROWS = 20


@dataclass(frozen=True)
class ContractReport:
    code_hash: str
    fork: str
    native: int
    interpreted: dict[str, int]
    native_seconds: float
    interpreted_seconds: float
    compile_seconds: dict[str, float]
    cache_loads: int
    #: estimated seconds the native messages saved (None: no interpreted message to compare)
    saved_seconds: float | None
    label: str | None = None

    @property
    def interpreted_total(self) -> int:
        return sum(self.interpreted.values())

    @property
    def compile_total(self) -> float:
        return sum(self.compile_seconds.values())

    @property
    def at_stake(self) -> float:
        return self.native_seconds + self.interpreted_seconds + self.compile_total

    @property
    def net_seconds(self) -> float | None:
        return None if self.saved_seconds is None else self.saved_seconds - self.compile_total

    @property
    def name(self) -> str:
        short = self.code_hash[:12] or "*"
        return f"{self.label} ({short})" if self.label else short


@dataclass(frozen=True)
class BackendReport:
    contracts: list[ContractReport] = field(default_factory=list)

    @property
    def native(self) -> int:
        return sum(c.native for c in self.contracts)

    @property
    def interpreted(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in self.contracts:
            for reason, n in c.interpreted.items():
                total[reason] = total.get(reason, 0) + n
        return total

    @property
    def saved_seconds(self) -> float:
        return sum(c.saved_seconds or 0.0 for c in self.contracts)

    @property
    def compile_seconds(self) -> float:
        return sum(c.compile_total for c in self.contracts)

    @classmethod
    def merged(cls, reports: list[BackendReport]) -> BackendReport:
        """One report of several (processes, bench cases): the rows of a key added up."""
        rows: dict[tuple[str, str], ContractReport] = {}
        for report in reports:
            for row in report.contracts:
                key = (row.code_hash, row.fork)
                rows[key] = row if key not in rows else _added(rows[key], row)
        return cls(sorted(rows.values(), key=_order))

    def as_dict(self) -> dict[str, Any]:
        return {"format": REPORT_FORMAT, "contracts": [asdict(c) for c in self.contracts]}

    @classmethod
    def from_dict(cls, data: Any) -> BackendReport:
        """A report saved by `save` (ValueError when `data` is not one)."""
        if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a pyevm-jit report (format {REPORT_FORMAT})")
        try:
            return cls([ContractReport(**row) for row in data["contracts"]])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed pyevm-jit report: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as JSON, atomically (`files.atomic_write`)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, json.dumps(self.as_dict(), indent=1).encode())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BackendReport:
        try:
            data = load_json(path)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a pyevm-jit report: {exc}") from exc
        return cls.from_dict(data)

    def format(self, rows: int | None = DEFAULT_ROWS) -> str:
        """A text table, most time at stake first (`rows` at most; None: all)."""
        interpreted = self.interpreted
        reasons = ", ".join(f"{r} {n}" for r, n in interpreted.items() if n) or "none"
        lines = [
            f"pyevm-jit report: {len(self.contracts)} contracts, {self.native} messages native, "
            f"{sum(interpreted.values())} interpreted ({reasons}); compile "
            f"{self.compile_seconds:.2f} s, estimated saved {self.saved_seconds:.2f} s"
        ]
        if not self.contracts:
            return lines[0]
        header = (
            f"{'contract':<34} {'fork':<16} {'native':>8} {'interp':>8} {'native s':>9} "
            f"{'interp s':>9} {'compile s':>9} {'loads':>5} {'saved s':>8}  interpreted by reason"
        )
        lines += [header, "-" * len(header)]
        shown = self.contracts if rows is None else self.contracts[:rows]
        for c in shown:
            saved = "-" if c.saved_seconds is None else f"{c.saved_seconds:.4f}"
            why = ", ".join(f"{r} {n}" for r, n in c.interpreted.items() if n)
            tiers = " ".join(f"{t} {s:.3f}" for t, s in c.compile_seconds.items())
            notes = [n for n in (why, tiers and f"compile {tiers}") if n]
            lines.append(
                f"{c.name[:34]:<34} {c.fork[:16]:<16} {c.native:>8} {c.interpreted_total:>8} "
                f"{c.native_seconds:>9.4f} {c.interpreted_seconds:>9.4f} {c.compile_total:>9.3f} "
                f"{c.cache_loads:>5} {saved:>8}  {'; '.join(notes)}"
            )
        if len(shown) < len(self.contracts):
            lines.append(f"... {len(self.contracts) - len(shown)} more (pyevm-jit report FILE)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _order(c: ContractReport) -> tuple[float, int, str, str]:
    return (-c.at_stake, -c.native, c.code_hash, c.fork)


def _sum(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}


def _added(a: ContractReport, b: ContractReport) -> ContractReport:
    saved = None
    if a.saved_seconds is not None or b.saved_seconds is not None:
        saved = (a.saved_seconds or 0.0) + (b.saved_seconds or 0.0)
    return ContractReport(
        code_hash=a.code_hash,
        fork=a.fork,
        native=a.native + b.native,
        interpreted=_sum(a.interpreted, b.interpreted),
        native_seconds=a.native_seconds + b.native_seconds,
        interpreted_seconds=a.interpreted_seconds + b.interpreted_seconds,
        compile_seconds=_sum(a.compile_seconds, b.compile_seconds),
        cache_loads=a.cache_loads + b.cache_loads,
        saved_seconds=saved,
        label=a.label or b.label,
    )


def build_report(inner: BackendState) -> BackendReport:
    rows = []
    for key, usage in list(inner.usage.items()):
        native, interpreted = usage.counts()
        compile_seconds = dict(usage.compile_seconds)
        if not (native or any(interpreted.values()) or compile_seconds or usage.cache_loads):
            continue
        saved = None
        if native and usage.interpreted_timed:
            mean = usage.interpreted_seconds / usage.interpreted_timed
            saved = native * mean - usage.native_seconds
        rows.append(
            ContractReport(
                code_hash=key.code_hash.hex(),
                fork=key.fork,
                native=native,
                interpreted=interpreted,
                native_seconds=usage.native_seconds,
                interpreted_seconds=usage.interpreted_seconds,
                compile_seconds=compile_seconds,
                cache_loads=usage.cache_loads,
                saved_seconds=saved,
                label="other contracts" if key == OTHERS else inner.labels.get(key.code_hash),
            )
        )
    rows.sort(key=_order)
    return BackendReport(rows)


# --- at exit -------------------------------------------------------------------------------------
_at_exit: weakref.WeakValueDictionary[int, JitBackend] = weakref.WeakValueDictionary()
_at_exit_lock = threading.Lock()
_registered = False


def report_setting(environ: dict[str, str] | None = None) -> str | None:
    """`PYEVM_JIT_REPORT`: None when off, "-" to print, else the path of a JSON file."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_PREFIX + "REPORT", "").strip()
    if text.lower() in STORE_OFF:
        return None
    return "-" if text.lower() in ("1", "true", "yes", "on", "-") else text


def report_at_exit(backend: JitBackend) -> None:
    """Print (or save) `backend`'s report when the process exits, if `PYEVM_JIT_REPORT` asks
    for it (the integrations call this for the backends they build)."""
    global _registered
    if report_setting() is None:
        return
    with _at_exit_lock:
        _at_exit[id(backend._inner)] = backend
        if not _registered:
            _registered = True
            atexit.register(_emit_at_exit)


def forget_at_exit(backend: JitBackend) -> None:
    """Undo `report_at_exit` (a caller that printed the report itself)."""
    with _at_exit_lock:
        _at_exit.pop(id(backend._inner), None)


def emit(report: BackendReport, setting: str, out: TextIO | None = None) -> None:
    """Print `report` (setting "-") or save it to the file `setting`."""
    if setting == "-":
        print(report.format(), file=out or sys.stderr)
    else:
        report.save(setting)
        print(f"pyevm-jit: report written to {setting}", file=out or sys.stderr)


def _emit_at_exit() -> None:
    setting = report_setting()
    if setting is None:
        return
    backends = list(_at_exit.values())
    for i, backend in enumerate(backends):
        path = setting
        if setting != "-" and len(backends) > 1:
            path = f"{setting}.{i}"
        try:
            emit(backend.report(), path)
        except Exception as exc:  # noqa: BLE001 - never disturb interpreter exit
            print(f"pyevm-jit: no report: {exc}", file=sys.stderr)


__all__ = [
    "BackendReport",
    "ContractReport",
    "build_report",
    "emit",
    "forget_at_exit",
    "report_at_exit",
    "report_setting",
]
