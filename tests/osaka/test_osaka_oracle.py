"""The execution specification as the oracle of OsakaVM: GeneralStateTests transactions replayed
under Osaka, the fuzzer's programs under Osaka, and Osaka posts filled from the specification
run by `pyevm-jit statetest --fork Osaka` (interp, jit and aot). Needs the `osaka-spec` extra."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ethereum.forks.osaka", reason="needs the osaka-spec extra")

from osaka_cases import Sides, agreed, tx_case  # noqa: E402

from pyevm_jit.cli.router import main  # noqa: E402
from pyevm_jit.conformance import osaka_replay  # noqa: E402
from pyevm_jit.conformance.fixtures import bundled_general_state_tests_dir  # noqa: E402
from pyevm_jit.fuzz.spec_oracle import fuzz_against_spec, scenario_case  # noqa: E402
from pyevm_jit.osaka import OsakaComputation, OsakaState, OsakaVM  # noqa: E402
from pyevm_jit.osaka.opcodes import clz  # noqa: E402
from pyevm_jit.testing import differential as d  # noqa: E402
from pyevm_jit.testing.account import Account  # noqa: E402
from pyevm_jit.testing.assembler import asm  # noqa: E402
from pyevm_jit.testing.osaka_spec import run_pyevm, run_spec  # noqa: E402

SAMPLE = bundled_general_state_tests_dir()


def test_replayed_state_tests_agree_with_the_spec(jit_osaka: type[Any]) -> None:
    cases = osaka_replay.discover([SAMPLE / "stExample", SAMPLE / "stEIP1559"])
    assert len(cases) > 40
    results: list[osaka_replay.ReplayResult] = []
    sides = [("interp", OsakaVM), ("jit", jit_osaka)]
    counts = osaka_replay.replay_all(cases, sides, results.append)
    assert counts["agree"] == len(cases), [r.detail for r in results if r.status != "agree"]
    # both verdicts occur: the comparison covers rejected transactions too
    assert {r.valid for r in results} == {True, False}


def test_cap_gas_replays_what_the_cap_would_reject(jit_osaka: type[Any]) -> None:
    """Over the EIP-7825 cap a transaction is only rejected; with cap_gas it runs with the cap,
    executes, and the sides still agree with the specification."""
    folder = SAMPLE / "stChainId"
    plain = osaka_replay.discover([folder])
    capped = osaka_replay.discover([folder], cap_gas=True)
    assert len(plain) == len(capped) > 0
    assert all(c.capped and c.id.endswith("::gas-capped") for c in capped)
    sides = [("interp", OsakaVM), ("jit", jit_osaka)]
    for cases, valid in ((plain, False), (capped, True)):
        results: list[osaka_replay.ReplayResult] = []
        counts = osaka_replay.replay_all(cases, sides, results.append)
        assert counts["agree"] == len(cases), [r.detail for r in results]
        assert {r.valid for r in results} == {valid}
    rejected = run_spec(osaka_replay.tx_case(plain[0], OsakaVM))
    assert rejected.reason.startswith("TransactionGasLimitExceededError"), rejected.reason


def test_an_empty_account_with_storage_is_no_osaka_pre_state(sides: Sides) -> None:
    """Found by a 30-minute `osaka-fuzz` run: a pre-state account with storage but no code,
    nonce or balance, called with no value. py-evm deletes it as a touched empty account
    (EIP-161); the specification only deletes accounts it modifies. EIP-161's emptiness
    ignores storage, and since EIP-7523 no post-merge state holds an empty account: such an
    account is left out of the pre-state, like one without storage."""
    assert Account(storage={1: 1}).empty and Account().empty
    assert not Account(balance=1, storage={1: 1}).empty
    assert not Account(nonce=1).empty and not Account(code=b"\x00").empty
    case = tx_case(b"", storage={1: 1}, data=b"\x96" * 32, probe=[1])
    result = agreed(sides(case))
    assert result.valid and result.probed == (0,)


def test_replay_reports_a_vm_that_differs() -> None:
    broken_opcodes = {**OsakaComputation.opcodes}
    broken_opcodes[0x01] = broken_opcodes[0x03]  # ADD subtracts
    computation = OsakaComputation.configure(__name__="Broken", opcodes=broken_opcodes)
    state = OsakaState.configure(__name__="BrokenState", computation_class=computation)
    broken = OsakaVM.configure(__name__="BrokenVM", _state_class=state)
    cases = osaka_replay.discover([SAMPLE / "stExample" / "add11.json"])
    counts = osaka_replay.replay_all(cases, [("broken", broken)])
    assert counts["differ"] == len(cases) > 0


def test_fuzz_programs_agree_with_the_spec(jit_osaka: type[Any]) -> None:
    report = fuzz_against_spec(600, 7, [("interp", OsakaVM), ("jit", jit_osaka)], max_programs=25)
    assert report.programs == 25
    assert report.divergences == []


def test_fuzz_reports_progress() -> None:
    seen: list[int] = []
    report = fuzz_against_spec(
        600, 3, [("interp", OsakaVM)], max_programs=3,
        on_progress=lambda r: seen.append(r.programs), progress_interval=0,
    )  # fmt: skip
    assert report.programs == 3 and seen == [1, 2, 3]


def test_fuzz_case_is_the_differential_world() -> None:
    """`scenario_case` builds the world `testing.differential.execute` runs: same post root."""
    scenario = d.Scenario(
        code=asm(
            5, "CLZ", 0, "SSTORE", 1, 0, 0, 0, 0, int.from_bytes(d.CALLEE, "big"), 50_000, "CALL"
        ),
        fork="osaka",
        accounts=d.standard_accounts(),
    )
    stock = d.execute(scenario, OsakaVM)
    assert stock.status == "success"
    assert run_pyevm(scenario_case(scenario), OsakaVM).state_root == stock.state_root


def test_fuzz_reports_a_divergence() -> None:
    cheap_clz = {**OsakaComputation.opcodes}
    cheap_clz[0x1E] = type(cheap_clz[0x1E])(clz, "CLZ", 3)  # EIP-7939 says 5
    computation = OsakaComputation.configure(__name__="CheapClz", opcodes=cheap_clz)
    state = OsakaState.configure(__name__="CheapClzState", computation_class=computation)
    vm = OsakaVM.configure(__name__="CheapClzVM", _state_class=state)
    case = scenario_case(d.Scenario(code=asm(5, "CLZ", 0, "SSTORE"), fork="osaka"))
    assert run_spec(case).difference(run_pyevm(case, vm)) is not None
    assert run_spec(case).difference(run_pyevm(case, OsakaVM)) is None


def _osaka_fixture(source: Path, target: Path) -> int:
    """`source`'s tests with one Osaka post per distinct transaction, whose expectation is the
    specification's (a tiny filler); returns how many posts."""
    data = json.loads(source.read_text())
    posts = 0
    for name, test in data.items():
        entries = []
        for case in osaka_replay.discover([source]):
            if case.test != name:
                continue
            result = run_spec(osaka_replay.tx_case(case, OsakaVM))
            dg, g, v = case.indexes
            entry: dict[str, Any] = {
                "indexes": {"data": dg, "gas": g, "value": v},
                "hash": "0x" + result.state_root.hex(),
                "logs": "0x" + result.logs_hash.hex(),
            }
            if not result.valid:
                entry["expectException"] = result.reason.split(":")[0]
            entries.append(entry)
        test["post"] = {"Osaka": entries}
        posts += len(entries)
    target.write_text(json.dumps(data))
    return posts


@pytest.mark.parametrize("mode", ["interp", "jit", "aot"])
def test_statetest_runs_osaka_posts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    fixture = tmp_path / "osaka.json"
    posts = _osaka_fixture(SAMPLE / "stExample" / "add11.json", fixture)
    status = main(["statetest", str(fixture), "--fork", "Osaka", "--mode", mode, "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{posts} passed, 0 failed" in out


def test_osaka_replay_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "replay.json"
    folder = SAMPLE / "stExample"
    status = main(["osaka-replay", str(folder), "--mode", "interp", "--json", str(report),
                   "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    document = json.loads(report.read_text())
    total = len(osaka_replay.discover([folder]))
    assert status == 0
    assert document["counts"]["agree"] == total
    assert f"{total} transactions replayed under Osaka (spec vs interp): {total} agree" in out


def test_osaka_replay_aot_runs_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """aot: every contract compiled into the store first, the replay runs native code from it
    and compiles nothing; a second run finds the store full. Two worker processes."""
    folder = SAMPLE / "stExample"
    cases = osaka_replay.discover([folder])
    codes = osaka_replay.contract_codes(cases)
    assert codes and {fork for _, fork in codes} == {"osaka"}
    store = tmp_path / "store"
    report = tmp_path / "replay.json"
    argv = ["osaka-replay", str(folder), "--mode", "aot", "--jobs", "2", "--store", str(store),
            "--json", str(report), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    total = len(cases)
    assert f"{len(codes)} compiled, 0 already in the store" in out, out
    assert f"{total} transactions replayed under Osaka (spec vs aot): {total} agree" in out
    assert "aot: 0 compilations while running (store only)" in out
    document = json.loads(report.read_text())
    assert document["jobs"] == 2 and document["native"]["lookup_hits"] > 0
    assert [r["id"] for r in document["results"]] == [c.id for c in cases]
    assert main(argv) == 0
    assert f"0 compiled, {len(codes)} already in the store" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--mode", "jit", "--store", "s"], "--store only applies to --mode aot"),
        (["-k", "no-such-case"], "no state test transactions selected"),
    ],
)
def test_osaka_replay_bad_input(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = SAMPLE / "stExample"
    assert main(["osaka-replay", str(folder), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_osaka_fuzz_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["osaka-fuzz", "--max-programs", "5", "--mode", "interp",
                   "--out", str(tmp_path / "out")])  # fmt: skip
    assert status == 0
    assert "5 Osaka programs" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()
