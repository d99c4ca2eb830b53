"""`pyevm-jit blocktest [PATH...] [--mode interp|jit|aot] [--network NAME] [--jobs N]
[-k SUBSTRING] [--json FILE]`: run Ethereum BlockchainTests by importing their blocks into a
py-evm chain whose VM classes are the stock ones (interp) or their JIT VMs (jit, aot); the
running itself: `pyevm_jit.cli.caserun`. With no PATH it runs the bundled sample's
BlockchainTests."""

from __future__ import annotations

import argparse
import logging

from pyevm_jit.cli import caserun
from pyevm_jit.cli.caserun import CRASH_ON_ENV as CRASH_ON_ENV
from pyevm_jit.cli.caserun import MODES as MODES
from pyevm_jit.cli.caserun import native_line as native_line
from pyevm_jit.conformance.blocktest import (
    SLOW_CASES,
    BlockCase,
    BlockCaseResult,
    CaseStatus,
    contract_codes,
    discover_cases,
    run_case,
    skipped_result,
)
from pyevm_jit.conformance.fixtures import bundled_blockchain_tests_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    caserun.add_arguments(parser, "BlockchainTests")
    parser.add_argument("--network", metavar="NAME", help="only this network (e.g. Cancun)")
    parser.add_argument(
        "--include-slow",
        action="store_true",
        help="also run the cases that take hours on the interpreter (skipped by default)",
    )


def _quiet_py_evm() -> None:
    """py-evm logs a warning for every block it rejects; invalid blocks are expected here."""
    logging.getLogger("eth").setLevel(logging.CRITICAL)


def _died(case: BlockCase, reason: str) -> BlockCaseResult:
    return BlockCaseResult(case, CaseStatus.FAILED, reason)


KIND: caserun.CaseKind[BlockCase, BlockCaseResult] = caserun.CaseKind(
    "blocktest", run_case, _died, contract_codes, process_setup=_quiet_py_evm
)


def run(args: argparse.Namespace) -> int:
    if not args.paths:
        args.paths = [str(bundled_blockchain_tests_dir())]

    def skip(case: BlockCase) -> BlockCaseResult | None:
        slow = not args.include_slow and case.id in SLOW_CASES
        return skipped_result(case) if slow else None

    return caserun.run_from_arguments(
        args,
        KIND,
        lambda: discover_cases(args.paths, substring=args.substring, network=args.network),
        selection={"network": args.network},
        skip=skip,
    )
