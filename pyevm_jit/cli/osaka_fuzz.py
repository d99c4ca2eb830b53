"""`pyevm-jit osaka-fuzz [--seconds S] [--seed N] [--mode interp|jit|both] [--out DIR]`: the
fuzzer's programs under Osaka, run on the Ethereum execution specification and on `OsakaVM`
(interpreted, JIT or both), compared (see `pyevm_jit.fuzz.spec_oracle`). Needs the
specification: `pip install 'pyevm-jit[osaka-spec]'`. A divergence's scenario is saved as JSON
under --out (`testing.differential.Scenario.from_json` reads it back). Exit status 0 without
divergence, 1 with, 2 on bad input."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from pyevm_jit.cli.osaka_sides import osaka_sides, require_spec
from pyevm_jit.cli.output import write_json
from pyevm_jit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--max-programs", type=int, default=None, help="stop after this many")
    parser.add_argument(
        "--mode", choices=("interp", "jit", "both"), default="both", help="default: both"
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress line (one every 30 s otherwise)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("osaka-divergences"),
        help="folder for divergent scenarios (default ./osaka-divergences, made when needed)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from pyevm_jit.fuzz.spec_oracle import SpecFuzzReport, fuzz_against_spec
    from pyevm_jit.testing.differential import Scenario

    require_spec()
    if args.seconds <= 0:
        raise UsageError("--seconds must be positive")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out: {args.out} is not a folder")
    sides, backend = osaka_sides(args.mode)

    def save(detail: str, scenario: Scenario) -> None:
        document = {"divergence": detail, "scenario": scenario.to_json()}
        text = json.dumps(document, sort_keys=True)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"osaka-spec-{hashlib.sha256(text.encode()).hexdigest()[:12]}.json"
        write_json(path, document, option="--out")
        print(f"DIVERGENCE {detail} (saved {path})", file=sys.stderr)

    def progress(report: SpecFuzzReport) -> None:
        print(
            f"[{report.seconds:6.0f}s] programs {report.programs} "
            f"({report.programs / max(report.seconds, 1e-9):.1f}/s) "
            f"divergences {len(report.divergences)}",
            file=sys.stderr,
            flush=True,
        )

    try:
        report = fuzz_against_spec(
            args.seconds,
            args.seed,
            sides,
            max_programs=args.max_programs,
            on_divergence=save,
            on_progress=None if args.no_progress else progress,
        )
    finally:
        if backend is not None:
            backend.close()
    print(report.summary())
    for reason in sorted(set(report.spec_cannot_run)):
        print(f"  the specification cannot run: {reason}")
    return 1 if report.divergences else 0
