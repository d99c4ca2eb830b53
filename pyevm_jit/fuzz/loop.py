"""The fuzz loop behind `pyevm-jit fuzz` (`fuzz`): programs generated, run on the stock
interpreter and the JIT, compared; divergences minimised and saved; coverage of the opcodes the
stock interpreter executed."""

from __future__ import annotations

import collections
import dataclasses
import gc
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pyevm_jit.files import atomic_write
from pyevm_jit.forks import fork_name, fork_vm, valid_opcodes
from pyevm_jit.fuzz import call_patterns, state_patterns
from pyevm_jit.fuzz.generate import (
    RandomSource,
    SeedContract,
    Source,
    adversarial,
    generate_program,
    load_seed_contracts,
    mutate,
)
from pyevm_jit.fuzz.regressions import diff_signature, minimise, save_regression
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.assembler import MNEMONICS

# ---------------------------------------------------------------------------------------------
# Coverage: which opcodes the stock interpreter executed


def traced_vm(fork: str, seen: collections.Counter[int]) -> Any:
    """The stock VM of `fork` with every opcode wrapped to count executions in `seen`."""
    vm = fork_vm(fork)
    state_cls: Any = vm._state_class  # type: ignore[attr-defined]
    comp_cls: Any = state_cls.computation_class

    def wrap(op: int, fn: Any) -> Any:
        def traced(computation: Any) -> Any:
            seen[op] += 1
            return fn(computation=computation)

        traced.mnemonic = getattr(fn, "mnemonic", MNEMONICS.get(op, hex(op)))  # type: ignore[attr-defined]
        return traced

    opcodes = {op: wrap(op, fn) for op, fn in comp_cls.opcodes.items()}
    traced_comp = comp_cls.configure(__name__="Traced" + comp_cls.__name__, opcodes=opcodes)
    traced_state = state_cls.configure(
        __name__="Traced" + state_cls.__name__, computation_class=traced_comp
    )
    return vm.configure(__name__="Traced" + vm.__name__, _state_class=traced_state)


#: programs a worker remembers before the current one (a crash may need them to recur)
HISTORY_LENGTH = 40
#: share of the cases other than state patterns that are chains of calls between native
#: programs (`call_patterns`)
CALL_CHAIN_SHARE = 0.08


# ---------------------------------------------------------------------------------------------
# The fuzz loop


@dataclass(frozen=True)
class FuzzPlan:
    """What a fuzz run covers, in this process (`fuzz`) or in worker processes
    (`fuzz_isolated`): programs generated from `seed` for `forks` during `seconds` (and
    `max_programs` at the most); each new kind of divergence minimised in `minimise_budget`
    runs and saved to `out_dir`. Fork names are checked (ValueError) and made canonical."""

    seconds: float
    seed: int
    forks: Sequence[str]
    out_dir: Path
    max_programs: int | None = None
    minimise_budget: int = 200

    def __post_init__(self) -> None:
        object.__setattr__(self, "forks", tuple(fork_name(f) for f in self.forks))

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "forks": list(self.forks), "out_dir": str(self.out_dir)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FuzzPlan:
        return cls(**{**data, "out_dir": Path(data["out_dir"])})


@dataclass
class FuzzTally:
    """How long a fuzz run took and how many programs it ran (each fuzzer's report adds its own
    counts)."""

    seconds: float = 0.0
    programs: int = 0

    @property
    def rate(self) -> float:
        return self.programs / self.seconds if self.seconds > 0 else 0.0


@dataclass
class FuzzReport(FuzzTally):
    native_runs: int = 0
    interpreted_runs: int = 0
    divergences: int = 0
    side_exits: int = 0  # taken by region programs (docs/regions.md; `fuzz --regions`)
    by_generator: collections.Counter[str] = field(default_factory=collections.Counter)
    executed: collections.Counter[int] = field(default_factory=collections.Counter)
    fixtures: list[Path] = field(default_factory=list)
    forks: tuple[str, ...] = ()

    def coverage(self) -> tuple[int, int, list[str]]:
        """(opcodes executed, opcodes that exist in the fuzzed forks, missing mnemonics)."""
        universe: set[int] = set()
        for fork in self.forks:
            universe |= valid_opcodes(fork)
        hit = universe & set(self.executed)
        missing = sorted(universe - hit)
        return len(hit), len(universe), [MNEMONICS.get(op, hex(op)) for op in missing]

    def summary(self) -> str:
        hit, total, missing = self.coverage()
        lines = [
            f"programs: {self.programs} in {self.seconds:.1f}s ({self.rate:.1f}/s); "
            f"native runs {self.native_runs}, interpreted-only runs {self.interpreted_runs}",
            "by generator: " + ", ".join(f"{k} {v}" for k, v in sorted(self.by_generator.items())),
            f"opcode coverage: {hit}/{total} executed by the interpreter"
            + (f" (missing: {' '.join(missing)})" if missing else ""),
            f"side exits: {self.side_exits}",
            f"divergences: {self.divergences}",
        ]
        lines += [f"  saved {p}" for p in self.fixtures]
        return "\n".join(lines)


def make_scenario(
    src: Source, rng: random.Random, fork: str, seeds: Sequence[SeedContract]
) -> tuple[str, d.Scenario]:
    """One fuzz case: (generator name, scenario)."""
    r = rng.random()
    calldata = bytes(rng.getrandbits(8) for _ in range(rng.choice((0, 4, 32, 36, 68))))
    rest = 1.0 - state_patterns.share()
    if r >= rest:  # storage, transient storage and log patterns
        return state_patterns.state_scenario(src, fork)
    # the other generators keep their proportions of what is left (a large state share must
    # not crowd out mutation and adversarial programs)
    r /= rest
    if r < CALL_CHAIN_SHARE:  # chains of calls between native programs
        return "calls:chain", call_patterns.call_chain(src, fork)
    r = (r - CALL_CHAIN_SHARE) / (1.0 - CALL_CHAIN_SHARE)
    if r < 0.55 or (r < 0.80 and not seeds):
        code = generate_program(src, fork, max_ops=rng.choice((10, 30, 60, 120)))
        create = rng.random() < 0.05
        gas = rng.choice((200_000, 300_000) if create else (30_000, 100_000, 200_000))
        return "random", d.Scenario(
            code=code,
            fork=fork,
            gas=gas,
            calldata=calldata,
            accounts=d.standard_accounts(),
            create=create,
            value=rng.choice((0, 0, 0, 1)),
        )
    if r < 0.80:
        seed = rng.choice(seeds)
        code = mutate(src, seed.code, fork)
        accounts = {**d.standard_accounts(), **seed.accounts}
        accounts.pop(d.SENDER, None)
        return "mutation", d.Scenario(
            code=code,
            fork=fork,
            gas=rng.choice((100_000, 400_000)),
            calldata=calldata,
            storage=seed.storage,
            accounts=accounts,
        )
    return "adversarial", adversarial(src, fork)


def fuzz(
    plan: FuzzPlan,
    *,
    stream: TextIO | None = None,
    backend: Any = None,
    current_file: Path | None = None,
) -> FuzzReport:
    """Run the differential fuzzer as `plan` says, in this process.

    With `current_file`, each scenario is written there before the JIT runs it, so that a
    supervisor (`fuzz_isolated`) can tell which program killed the process."""
    stream = stream if stream is not None else sys.stderr
    rng = random.Random(plan.seed)
    src = RandomSource(rng)
    forks = tuple(plan.forks)
    seeds = load_seed_contracts(random.Random(plan.seed))
    report = FuzzReport(forks=forks)
    traced = {fork: traced_vm(fork, report.executed) for fork in forks}
    seen_signatures: set[tuple[str, frozenset[str]]] = set()
    tty = bool(getattr(stream, "isatty", lambda: False)())
    start = time.monotonic()
    deadline = start + plan.seconds
    max_programs = plan.max_programs
    last_progress = start

    # the programs this process ran before the current one (a crash may need them to recur)
    history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY_LENGTH)

    def check(s: d.Scenario) -> list[str]:
        stock = d.execute(s, fork_vm(s.fork))
        jit = d.run_jit(s, backend)
        return d.compare(stock, jit)

    while time.monotonic() < deadline and (max_programs is None or report.programs < max_programs):
        fork = forks[report.programs % len(forks)]
        generator, scenario = make_scenario(src, rng, fork, seeds)
        stock = d.execute(scenario, traced[fork])
        if current_file is not None:
            entry = scenario.to_json()
            write_json(
                current_file,
                {
                    "scenario": entry,
                    "generator": generator,
                    "history": list(history),
                    "programs_before": report.programs,
                },
            )
            history.append(entry)
            injected_crash(scenario)
        jit = d.run_jit(scenario, backend)
        if current_file is not None:
            gc.collect()  # heap corruption shows up here, blamed on this program
        report.programs += 1
        report.by_generator[generator] += 1
        if jit.ran_native:
            report.native_runs += 1
        else:
            report.interpreted_runs += 1
        diffs = d.compare(stock, jit)
        if diffs:
            report.divergences += 1
            key = (fork, diff_signature(diffs))
            if key not in seen_signatures:
                seen_signatures.add(key)
                small, small_diffs = minimise(
                    scenario, check, budget=plan.minimise_budget, deadline=time.monotonic() + 120
                )
                path = save_regression(
                    small,
                    small_diffs,
                    plan.out_dir,
                    found_by=f"pyevm-jit fuzz --seed {plan.seed} ({generator})",
                )
                report.fixtures.append(path)
                print(
                    ("\n" if tty else "") + f"divergence ({generator}, {fork}): {small_diffs[0]}"
                    f" -> {path}",
                    file=stream,
                )
        now = time.monotonic()
        if now - last_progress >= (1.0 if tty else 15.0):
            last_progress = now
            hit, total, _ = report.coverage()
            report.seconds = now - start
            line = (
                f"[{report.seconds:6.0f}s] programs {report.programs} ({report.rate:.1f}/s) "
                f"native {report.native_runs} divergences {report.divergences} "
                f"coverage {hit}/{total}"
            )
            print(("\r" + line) if tty else line, end="" if tty else "\n", file=stream, flush=True)
    report.seconds = time.monotonic() - start
    report.side_exits = (backend if backend is not None else d.get_backend()).side_exit_count()
    if tty:
        print(file=stream)
    return report


#: fault injection for the tests of the crash supervisor: a worker or replay process aborts
#: before running a program whose code contains these bytes (hex)
CRASH_MARKER_ENV = "PYEVM_JIT_FUZZ_ABORT_MARKER"


#: "<hex A>:<hex B>": abort on a program containing B once a program containing A has run in
#: the same process (a crash that needs earlier programs to recur)
CRASH_AFTER_ENV = "PYEVM_JIT_FUZZ_ABORT_AFTER"
_armed = False


def injected_crash(scenario: d.Scenario) -> None:
    global _armed
    marker = os.environ.get(CRASH_MARKER_ENV)
    if marker and bytes.fromhex(marker) in scenario.code:
        os.abort()
    after = os.environ.get(CRASH_AFTER_ENV)
    if after:
        first, then = (bytes.fromhex(x) for x in after.split(":"))
        if _armed and then in scenario.code:
            os.abort()
        if first in scenario.code:
            _armed = True


def write_json(path: Path, payload: Any) -> None:
    atomic_write(path, json.dumps(payload).encode())
