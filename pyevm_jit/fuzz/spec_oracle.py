"""The fuzzer's programs under Osaka against the execution specification.

A fuzz scenario (`testing.differential.Scenario` for the `osaka` fork, made by the fuzzer's
generators: random programs, mutated state-test contracts, adversarial shapes, state patterns)
becomes a `TxCase` of `testing.osaka_spec` with the same world, block and transaction, and
runs on the specification, on `OsakaVM` and on `jit_vm(OsakaVM, ...)`. Any difference in
validity, post-state root, logs, gas used is a divergence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_typing import Address

from pyevm_jit.fuzz.generate import RandomSource, load_seed_contracts
from pyevm_jit.fuzz.loop import FuzzTally, make_scenario
from pyevm_jit.testing import differential as d
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.block import BlockEnv
from pyevm_jit.testing.osaka_spec import SpecCannotRun, TxCase, run_pyevm, run_spec

FORK = "osaka"


def scenario_case(scenario: d.Scenario) -> TxCase:
    """The scenario as a `TxCase`: the same accounts, block and (legacy, unprotected)
    transaction as `testing.differential.execute` gives py-evm."""
    from eth.vm.forks.london.constants import INITIAL_BASE_FEE

    from pyevm_jit.osaka import OsakaVM

    pre: dict[bytes, Account] = {
        d.SENDER: Account(balance=d.SENDER_BALANCE),
        d.COINBASE: Account(balance=1),
    }
    if not scenario.create:
        pre[d.CONTRACT] = Account(
            balance=scenario.balance, code=scenario.code, storage=dict(scenario.storage)
        )
    for address, account in scenario.accounts.items():
        pre[address] = Account(account.balance, account.nonce, account.code, dict(account.storage))
    env = BlockEnv(
        coinbase=d.COINBASE,
        number=d.BLOCK_NUMBER,
        timestamp=d.TIMESTAMP,
        gas_limit=d.BLOCK_GAS_LIMIT,
        base_fee=INITIAL_BASE_FEE,
        prev_randao=b"\x5a" * 32,
        block_hashes=d.PREV_HASHES,
    )
    unsigned = OsakaVM.create_unsigned_transaction(
        nonce=0,
        gas_price=d.GAS_PRICE,
        gas=scenario.gas,
        to=Address(b"" if scenario.create else d.CONTRACT),
        value=scenario.value,
        data=scenario.code if scenario.create else scenario.calldata,
    )
    signed = unsigned.as_signed_transaction(d.SENDER_KEY)
    return TxCase("fuzz", pre, env, signed.encode())


@dataclass
class SpecFuzzReport(FuzzTally):
    valid: int = 0
    spec_cannot_run: list[str] = field(default_factory=list)
    divergences: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.programs} Osaka programs in {self.seconds:.1f}s ({self.rate:.1f}/s; "
            f"{self.valid} valid transactions): {len(self.divergences)} divergences from the "
            f"specification, {len(self.spec_cannot_run)} the specification cannot run"
        )


def fuzz_against_spec(
    seconds: float,
    seed: int,
    sides: Sequence[tuple[str, type[Any]]],
    *,
    max_programs: int | None = None,
    on_divergence: Callable[[str, d.Scenario], None] | None = None,
    on_progress: Callable[[SpecFuzzReport], None] | None = None,
    progress_interval: float = 30.0,
) -> SpecFuzzReport:
    """Generate Osaka programs for `seconds` (or `max_programs`) and compare each side with
    the specification; `on_progress` sees the report so far every `progress_interval`
    seconds."""
    rng = random.Random(seed)
    src = RandomSource(rng)
    seeds = load_seed_contracts(random.Random(seed))
    report = SpecFuzzReport()
    start = time.monotonic()
    last_progress = start
    while time.monotonic() - start < seconds and (
        max_programs is None or report.programs < max_programs
    ):
        _, scenario = make_scenario(src, rng, FORK, seeds)
        case = scenario_case(scenario)
        report.programs += 1
        now = time.monotonic()
        if on_progress is not None and now - last_progress >= progress_interval:
            last_progress = now
            report.seconds = now - start
            on_progress(report)
        try:
            expected = run_spec(case)
        except SpecCannotRun as exc:
            report.spec_cannot_run.append(str(exc))
            continue
        report.valid += expected.valid
        for name, vm_class in sides:
            difference = expected.difference(run_pyevm(case, vm_class))
            if difference is not None:
                detail = f"spec vs {name}: {difference}"
                report.divergences.append((detail, scenario.to_json()))
                if on_divergence is not None:
                    on_divergence(detail, scenario)
                break
    report.seconds = time.monotonic() - start
    return report
