"""`pyevm-jit aot PATH... --store DIR [--fork NAME]`: precompile contracts into an artifact store.

Inputs (files, or folders searched recursively for *.json and *.hex):
- Ethereum state tests ({name: {env, pre, transaction, post}}): every pre-state code and the init
  code of creating transactions, for every fork named in `post` (or only `--fork`);
- benchmark cases ({name: {env, pre, transaction}}, the ../shared/bench format): the same codes,
  for `--fork` (default cancun);
- raw hex files: one contract per non-empty line (optional 0x; lines starting with # ignored),
  for `--fork` (default cancun).

Codes already in the store (valid and built by this engine) are skipped. A later backend with
`RuntimeConfig(enabled=True, store=FileArtifactStore(DIR))` preloads everything.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from pyevm_jit.cli.progress import Progress
from pyevm_jit.conformance.fixtures import input_files, read_fixture
from pyevm_jit.errors import UsageError
from pyevm_jit.files import make_private_dirs
from pyevm_jit.forks import fork_name
from pyevm_jit.runtime.aot import AotPlan, compile_plan, plan_aot, write_failures
from pyevm_jit.runtime.config import RuntimeTuning
from pyevm_jit.runtime.stats import RuntimeStatsSnapshot
from pyevm_jit.runtime.store import FileArtifactStore, StoreError, directory_problem

DEFAULT_FORK = "cancun"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="state-test, bench or hex files")
    parser.add_argument("--store", required=True, metavar="DIR", help="artifact store directory")
    parser.add_argument(
        "--fork",
        metavar="NAME",
        help="only this fork for state tests; the fork for bench and hex inputs (default cancun)",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N", help="compile worker processes"
    )
    parser.add_argument("--opt-level", type=int, default=None, choices=range(4), metavar="N")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


# --- forks --------------------------------------------------------------------------------------


def py_evm_fork(name: str) -> str | None:
    """The py-evm fork id for a py-evm or fixture fork name, or None."""
    try:
        return fork_name(name)
    except ValueError:
        return None


def _wanted_fork(name: str | None) -> str | None:
    if name is None:
        return None
    try:
        return fork_name(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# --- inputs -------------------------------------------------------------------------------------


def _hex(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise UsageError(f"{where}: expected a hex string")
    body = text.strip()
    if body[:2] in ("0x", "0X"):
        body = body[2:]
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise UsageError(f"{where}: not valid hex") from None


def _tx_init_codes(tx: Any, where: str) -> list[bytes]:
    """Init codes of a creating transaction (state tests: a list of data; bench: one tx or a
    list of txs)."""
    txs = tx if isinstance(tx, list) else [tx]
    codes = []
    for one in txs:
        if not isinstance(one, dict) or one.get("to"):
            continue
        data = one.get("data", [])
        for item in data if isinstance(data, list) else [data]:
            codes.append(_hex(item, f"{where}: transaction data"))
    return codes


def _pre_codes(pre: Any, where: str) -> list[bytes]:
    if not isinstance(pre, dict):
        raise UsageError(f"{where}: 'pre' is not an object")
    codes = []
    for address, account in pre.items():
        if not isinstance(account, dict):
            raise UsageError(f"{where}: account {address} is not an object")
        codes.append(_hex(account.get("code", "0x"), f"{where}: code of {address}"))
    return codes


def codes_from_json(path: Path, fork: str | None) -> list[tuple[bytes, str]]:
    """(code, py-evm fork) pairs of a state-test or bench file."""
    data = read_fixture(str(path), "state test or bench", ("pre", "transaction"))
    found: list[tuple[bytes, str]] = []
    for name, test in data.items():
        where = f"{path}: {name}"
        codes = _pre_codes(test["pre"], where) + _tx_init_codes(test["transaction"], where)
        if "post" in test:
            post = test["post"]
            if not isinstance(post, dict):
                raise UsageError(f"{where}: 'post' is not an object")
            forks = {py_evm_fork(f) for f in post}
            forks.discard(None)
            if fork is not None:
                forks &= {fork}
            targets = sorted(f for f in forks if f is not None)
        else:
            targets = [fork or DEFAULT_FORK]
        found.extend((code, f) for f in targets for code in codes)
    return found


def codes_from_hex(path: Path, fork: str | None) -> list[tuple[bytes, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file of hex") from None
    codes = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            codes.append(_hex(line, f"{path}:{number}"))
    if not codes:
        raise UsageError(f"{path}: no code in this file")
    return [(code, fork or DEFAULT_FORK) for code in codes]


def collect(paths: Sequence[str], fork: str | None) -> dict[tuple[bytes, str], bytes]:
    """Every distinct non-empty (code hash, fork) -> code found in the inputs."""
    found: dict[tuple[bytes, str], bytes] = {}
    for path in input_files(paths, (".json", ".hex"), "files"):
        pairs = (
            codes_from_json(path, fork) if path.suffix == ".json" else codes_from_hex(path, fork)
        )
        for code, code_fork in pairs:
            if code:
                found.setdefault((bytes(keccak(code)), code_fork), code)
    return found


# --- running ------------------------------------------------------------------------------------


def open_store(raw: str, where: str | None = None) -> FileArtifactStore:
    """The artifact store in folder `raw` (created, mode 0700, when missing). A path that
    cannot hold a store raises UsageError (`where` names it in the message; default `raw`)."""
    where = raw if where is None else where
    store_path = Path(raw)
    if store_path.exists() and not store_path.is_dir():
        raise UsageError(f"{where}: not a directory")
    if not store_path.exists():
        try:
            make_private_dirs(store_path)
        except OSError as exc:
            raise UsageError(f"{where}: cannot create: {exc.strerror or exc}") from None
    problem = directory_problem(store_path)
    if problem is not None:
        raise UsageError(f"artifact store refused: {problem}")
    store = FileArtifactStore(store_path)
    try:
        store.check(write=True)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    return store


#: how the summaries name the codes the runtime would not compile (`runtime.budget`)
INELIGIBLE = "left to the interpreter (code pathological to compile)"


def not_compiled(plan: AotPlan, stats: RuntimeStatsSnapshot) -> int:
    """How many codes of `plan` were neither compiled nor failed: those the runtime screened out
    before dispatching them (`runtime.budget`: the key answers Ineligible, the code runs
    interpreted)."""
    return max(0, len(plan.todo) - stats.compilations_succeeded - stats.compilations_failed)


def compile_with_progress(
    store: FileArtifactStore, plan: AotPlan, tuning: RuntimeTuning, *, enabled: bool
) -> RuntimeStatsSnapshot:
    """`compile_plan` with a progress display on stderr."""
    with Progress(len(plan.todo), "aot compile", stream=sys.stderr, enabled=enabled) as progress:

        def advance(finished: int, failed: int) -> None:
            note = f"{failed} failed" if failed else None
            progress.advance(max(0, finished - progress.done), note)

        stats = compile_plan(store, plan, tuning, advance)
        advance(stats.compilations_succeeded + stats.compilations_failed, stats.compilations_failed)
    return stats


def run(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 0:
        raise UsageError("--jobs must not be negative")
    fork = _wanted_fork(args.fork)
    codes = collect(args.paths, fork)
    store = open_store(args.store)

    tuning = RuntimeTuning()
    if args.jobs is not None:
        tuning = tuning.replace(worker_count=args.jobs)
    if args.opt_level is not None:
        tuning = tuning.replace(aot_opt_level=args.opt_level)
    plan = plan_aot(store, codes, tuning)
    out = sys.stdout
    print(
        f"aot: {plan.total} contract codes, {plan.present} already in {store.directory}, "
        f"{len(plan.todo)} to compile"
        + (f", {plan.too_large} too large" if plan.too_large else ""),
        file=out,
        flush=True,
    )
    started = time.monotonic()
    s = compile_with_progress(store, plan, tuning, enabled=not args.quiet)
    unwritten = write_failures(store)
    ineligible = not_compiled(plan, s)
    print(
        f"aot: {s.artifacts_stored} stored, {s.compilations_failed} failed to compile, "
        f"{plan.present} already present"
        + (f", {ineligible} {INELIGIBLE}" if ineligible else "")
        + f", in {time.monotonic() - started:.1f}s"
        + (f"; {unwritten}" if unwritten else ""),
        file=out,
        flush=True,
    )
    return 1 if unwritten else 0


def prepare_aot(
    codes: Mapping[tuple[bytes, str], bytes],
    store_dir: str,
    out: Any,
    *,
    progress: bool = True,
) -> str:
    """Compile the codes the store lacks into it (`pyevm-jit aot`'s planning and compiling)
    and say what it took; what could not be written into the store ("" when all was)."""
    store = open_store(store_dir, f"--store {store_dir}")
    print(f"aot: compiling {len(codes)} contract codes into {store_dir}", file=out, flush=True)
    started = time.perf_counter()
    tuning = RuntimeTuning()
    plan = plan_aot(store, codes, tuning)
    stats = compile_with_progress(store, plan, tuning, enabled=progress)
    failed = stats.compilations_failed
    unwritten = write_failures(store)
    ineligible = not_compiled(plan, stats)
    print(
        f"aot: done in {time.perf_counter() - started:.1f}s: {stats.artifacts_stored} compiled, "
        f"{plan.present} already in the store"
        + (f", {failed} failed to compile" if failed else "")
        + (f", {plan.too_large} too large to compile" if plan.too_large else "")
        + (f", {ineligible} {INELIGIBLE}" if ineligible else "")
        + (f"; {unwritten}" if unwritten else ""),
        file=out,
        flush=True,
    )
    return unwritten
