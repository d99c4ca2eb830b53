"""`pyevm-jit report FILE`: print what the JIT did in a run, from the report it saved.

A run saves its report with `PYEVM_JIT_REPORT=FILE.json` (at exit, for the backends the
integrations build), `--report FILE.json` on the commands that take it, or
`backend.report().save(FILE)`. Contracts with the most time at stake come first.
"""

from __future__ import annotations

import argparse
import json

from pyevm_jit.errors import UsageError
from pyevm_jit.runtime.report import BackendReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n", 1)[0] if __doc__ else None
    parser.add_argument("file", metavar="FILE", help="a report saved by a run (JSON)")
    parser.add_argument("--rows", type=int, default=None, help="contracts shown at most (all)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    try:
        report = BackendReport.load(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{args.file}: {exc}") from None
    if args.rows is not None and args.rows < 1:
        raise UsageError("--rows must be at least 1")
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        print(report.format(rows=args.rows))
    return 0
