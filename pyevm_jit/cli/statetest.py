"""`pyevm-jit statetest [PATH...] [--mode interp|jit|aot] [--fork NAME] [--jobs N] [-k SUBSTRING]
[--json FILE]`: run Ethereum state tests on py-evm's interpreter, with the JIT, or from an AOT
store (the running itself: `pyevm_jit.cli.caserun`). With no PATH it runs the bundled sample
of ethereum/tests, whatever else is configured, so the command means the same everywhere."""

from __future__ import annotations

import argparse

from pyevm_jit.cli import caserun
from pyevm_jit.cli.caserun import MODES as MODES
from pyevm_jit.conformance.fixtures import bundled_general_state_tests_dir
from pyevm_jit.conformance.results import CaseStatus
from pyevm_jit.conformance.statetest import (
    Case,
    CaseResult,
    contract_codes,
    discover_cases,
    run_case,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    caserun.add_arguments(parser, "GeneralStateTests", ", 2,701 cases")
    parser.add_argument("--fork", metavar="NAME", help="only this fork (e.g. Cancun)")


def _died(case: Case, reason: str) -> CaseResult:
    return CaseResult(case, CaseStatus.FAILED, f"error: {reason}")


KIND: caserun.CaseKind[Case, CaseResult] = caserun.CaseKind(
    "statetest", run_case, _died, contract_codes
)


def run(args: argparse.Namespace) -> int:
    if not args.paths:
        args.paths = [str(bundled_general_state_tests_dir())]
    return caserun.run_from_arguments(
        args,
        KIND,
        lambda: discover_cases(args.paths, fork=args.fork, substring=args.substring),
        selection={"fork": args.fork},
    )
