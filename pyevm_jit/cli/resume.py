"""Long case runs that survive their end: checkpoints of `--json` and `--resume FILE.json`.

The full corpus takes hours (in jit mode with regions forced, more than a working session on a
2-core machine). Two things keep such a run from being lost when it is stopped -- by Ctrl-C,
SIGTERM, a killed session, a machine restart:

- **Checkpoints.** With `--json FILE`, the runner rewrites FILE every `CHECKPOINT_SECONDS`
  while it runs (atomically, `cli.output.write_json`): the results so far, `"partial": true`
  and the number of cases not run yet. A run killed without warning leaves at most that much
  work unrecorded. The last write (the run's end, or its interruption) has `"partial": false`.
- **Resuming.** `--resume FILE` reads such a file (a checkpoint, an interrupted run or a
  finished one) and runs only the selected cases it has no result for, or whose result was
  `failed` (a failure is always run again); the others keep their recorded results, which
  are counted in the summary and written into the new `--json` document in case order. The
  file must come from the same command and mode, with or without `--regions` as now; it may
  be the `--json` file of the new run itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyevm_jit.conformance.results import CaseStatus
from pyevm_jit.errors import UsageError

#: seconds between two checkpoints of a running command's --json file
CHECKPOINT_SECONDS = 300.0

_KEPT = frozenset(status.value for status in CaseStatus if status is not CaseStatus.FAILED)
_STATUSES = frozenset(status.value for status in CaseStatus)


@dataclass
class Resumed:
    """What an earlier run's result file gives a new run."""

    path: Path
    #: case id -> that case's JSON result, for every case not to run again
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the earlier run's merged native statistics (None: interp mode, or none recorded)
    native: dict[str, Any] | None = None
    #: seconds the earlier run (and the runs it resumed) took
    seconds: float = 0.0
    #: case id -> position, for every case the new run selected (results are written in it)
    order: dict[str, int] = field(default_factory=dict)


def load(raw: str, *, kind: str, mode: str, regions: bool) -> Resumed:
    """The results of the file `raw` for a run of command `kind` in `mode` (UsageError, one
    line, when the file is missing, unreadable, not a result file or from another kind of
    run)."""
    path = Path(raw)
    option = "--resume"
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"{option}: {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{option}: {path} is a folder") from None
    except OSError as exc:
        raise UsageError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{option}: {path} is not a JSON file") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise UsageError(f"{option}: {path} is not a result file of a case command's --json")
    recorded_kind = document.get("kind", kind)
    if recorded_kind != kind:
        raise UsageError(f"{option}: {path} holds {recorded_kind} results, not {kind}")
    if document.get("mode") != mode:
        raise UsageError(
            f"{option}: {path} is a run in mode {document.get('mode')!r}, this one is {mode!r}"
        )
    # (files of versions before this one do not say; their runs are taken as the user says)
    if "regions" in document and bool(document["regions"]) != regions:
        now, then = ("with", "without") if regions else ("without", "with")
        raise UsageError(f"{option}: {path} is a run {then} --regions, this one is {now}")
    resumed = Resumed(path)
    for entry in document["results"]:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("id"), str)
            or entry.get("status") not in _STATUSES
        ):
            raise UsageError(f"{option}: {path} has a malformed result: {str(entry)[:80]}")
        if entry["status"] in _KEPT:
            resumed.results[entry["id"]] = entry
    native = document.get("native")
    resumed.native = native if isinstance(native, dict) else None
    seconds = document.get("seconds", 0.0)
    earlier = document.get("resumed_from")
    if isinstance(earlier, dict):
        seconds = (seconds or 0.0) + (earlier.get("seconds") or 0.0)
    resumed.seconds = float(seconds) if isinstance(seconds, (int, float)) else 0.0
    return resumed


def count(summary_counts: dict[CaseStatus, int], results: Mapping[str, Any]) -> None:
    """Add recorded results (JSON entries) to a summary's counts."""
    for entry in results.values():
        summary_counts[CaseStatus(entry["status"])] += 1


__all__ = ["CHECKPOINT_SECONDS", "Resumed", "count", "load"]
