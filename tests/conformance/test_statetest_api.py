"""The state-test library: discovery, execution, judging, known deviations, fixture location."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from pyevm_jit.cli.progress import Progress
from pyevm_jit.conformance import known_deviations, statetest
from pyevm_jit.conformance.fixtures import (
    BENCH_ENV,
    ETHEREUM_TESTS_ENV,
    NO_FULL_CORPUS,
    bench_dir,
    ethereum_tests_dir,
    general_state_tests_dir,
    is_bundled_sample,
)
from pyevm_jit.conformance.results import CaseStatus
from pyevm_jit.conformance.statetest import Case, discover_cases, run_case
from pyevm_jit.conformance.statetx import EMPTY_LOGS_HASH, logs_hash, state_test_block_hash
from pyevm_jit.errors import UsageError
from pyevm_jit.forks import FIXTURE_FORKS


@pytest.fixture(scope="module")
def state_tests() -> Path:
    try:
        return general_state_tests_dir()
    except UsageError as exc:
        pytest.skip(str(exc))


def _fixture(state_tests: Path, relative: str) -> dict[str, Any]:
    with open(state_tests / relative) as handle:
        return json.load(handle)  # type: ignore[no-any-return]


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


ADD = "VMTests/vmArithmeticTest/add.json"


def test_discover_counts_every_post_entry(state_tests: Path) -> None:
    folder = state_tests / "VMTests" / "vmArithmeticTest"
    expected = 0
    for file in folder.glob("*.json"):
        for test in json.loads(file.read_text()).values():
            expected += sum(len(entries) for entries in test["post"].values())
    cases = discover_cases([folder])
    assert len(cases) == expected
    assert len({case.id for case in cases}) == expected
    assert cases == sorted(cases, key=lambda c: (c.path, c.name, c.fork, c.index))
    first = cases[0]
    assert first.id.startswith("VMTests/vmArithmeticTest/")
    assert first.category == "VMTests/vmArithmeticTest"


def test_discover_filters(state_tests: Path) -> None:
    folder = state_tests / "VMTests" / "vmArithmeticTest"
    every = discover_cases([folder])
    only_add = discover_cases([folder], substring="add.json::add::")
    assert only_add and all("add.json::add::" in case.id for case in only_add)
    assert discover_cases([folder], fork="cancun") == [c for c in every if c.fork == "Cancun"]
    assert discover_cases([folder], fork="Frontier") == []
    # a file given twice (directly and through its folder) is discovered once
    assert len(discover_cases([folder, folder / "add.json"])) == len(every)


@pytest.mark.parametrize(
    "maker, message",
    [
        (lambda tmp: tmp / "missing.json", "no such file"),
        (lambda tmp: _text(tmp, "bad.json", "{not json"), "not valid JSON"),
        (lambda tmp: _write(tmp, "list.json", [1, 2]), "not a state test fixture"),
        (lambda tmp: _write(tmp, "block.json", {"t": {"blocks": []}}), "not a state test"),
        (lambda tmp: _mkdir(tmp, "empty"), "no .json fixture files"),
    ],
)
def test_discover_bad_input(tmp_path: Path, maker: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        discover_cases([maker(tmp_path)])


def _text(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _mkdir(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.mkdir()
    return path


def test_unknown_fork_is_usage_error(state_tests: Path) -> None:
    with pytest.raises(UsageError, match="unknown fork"):
        discover_cases([state_tests / ADD], fork="Atlantis")
    # py-evm's own names are accepted too
    assert statetest.canonical_fork_name("tangerine_whistle") == "EIP150"
    assert statetest.canonical_fork_name("osaka") == "Osaka"


def test_every_pyevm_fork_has_a_vm() -> None:
    forks = {statetest.vm_class_for_fork(name).fork for name in FIXTURE_FORKS}
    assert {"frontier", "homestead", "tangerine-whistle", "spurious-dragon", "byzantium"} <= {
        f.replace("_", "-") for f in forks
    }
    assert {"cancun", "prague"} <= forks


def test_case_passes_and_runner_can_fail(state_tests: Path, tmp_path: Path) -> None:
    original = _fixture(state_tests, ADD)
    case = discover_cases([state_tests / ADD], fork="Cancun")[0]
    assert run_case(case).status is CaseStatus.PASSED

    name = case.name
    wrong_root = copy.deepcopy(original)
    wrong_root[name]["post"]["Cancun"][0]["hash"] = "0x" + "11" * 32
    path = _write(tmp_path, "wrong_root.json", wrong_root)
    result = run_case(discover_cases([path], fork="Cancun")[0])
    assert result.status is CaseStatus.FAILED
    assert "state root" in result.reason

    wrong_logs = copy.deepcopy(original)
    wrong_logs[name]["post"]["Cancun"][0]["logs"] = "0x" + "22" * 32
    path = _write(tmp_path, "wrong_logs.json", wrong_logs)
    result = run_case(discover_cases([path], fork="Cancun")[0])
    assert result.status is CaseStatus.FAILED
    assert "logs hash" in result.reason

    expects_error = copy.deepcopy(original)
    expects_error[name]["post"]["Cancun"][0]["expectException"] = "TransactionException.X"
    path = _write(tmp_path, "expects.json", expects_error)
    result = run_case(discover_cases([path], fork="Cancun")[0])
    assert result.status is CaseStatus.FAILED
    assert "expected exception" in result.reason


def test_rejected_transaction_keeps_pre_state(state_tests: Path, tmp_path: Path) -> None:
    """A transaction the sender cannot pay for is rejected; with expectException it passes only
    when the post hash is the pre-state root."""
    original = _fixture(state_tests, ADD)
    name = next(iter(original))
    test = original[name]
    sender = test["transaction"]["sender"]
    pre = {k.lower(): v for k, v in test["pre"].items()}
    pre[sender.lower()]["balance"] = "0x00"
    test["pre"] = pre
    test["post"] = {"Cancun": [test["post"]["Cancun"][0]]}
    path = _write(tmp_path, "poor.json", original)
    case = discover_cases([path])[0]

    outcome = statetest.execute_case(case)
    assert outcome.rejected is not None
    assert outcome.state_root == outcome.pre_state_root

    test["post"]["Cancun"][0]["hash"] = "0x" + outcome.pre_state_root.hex()
    test["post"]["Cancun"][0]["logs"] = "0x" + EMPTY_LOGS_HASH.hex()
    path = _write(tmp_path, "poor_no_expect.json", original)
    result = run_case(discover_cases([path])[0])
    assert result.status is CaseStatus.FAILED
    assert "transaction rejected" in result.reason

    test["post"]["Cancun"][0]["expectException"] = "TransactionException.INSUFFICIENT_ACCOUNT_FUNDS"
    path = _write(tmp_path, "poor_expect.json", original)
    assert run_case(discover_cases([path])[0]).status is CaseStatus.PASSED


def test_unsupported_fork_is_counted(state_tests: Path, tmp_path: Path) -> None:
    original = _fixture(state_tests, ADD)
    for test in original.values():
        test["post"] = {"Amsterdam": test["post"]["Cancun"][:1]}
    path = _write(tmp_path, "amsterdam.json", original)
    cases = discover_cases([path])
    assert len(cases) == 1
    result = run_case(cases[0])
    assert result.status is CaseStatus.UNSUPPORTED


def test_vm_factory_is_used(state_tests: Path) -> None:
    seen: list[type[Any]] = []

    def factory(vm_class: type[Any]) -> type[Any]:
        seen.append(vm_class)
        return type("Recorded" + vm_class.__name__, (vm_class,), {})

    case = discover_cases([state_tests / ADD], fork="Cancun")[0]
    assert run_case(case, factory).status is CaseStatus.PASSED
    assert [cls.fork for cls in seen] == ["cancun"]

    def broken(vm_class: type[Any]) -> type[Any]:
        class Broken(vm_class):  # type: ignore[misc,valid-type]
            def apply_transaction(self, header: Any, transaction: Any) -> Any:
                receipt, computation = super().apply_transaction(header, transaction)
                self.state.delta_balance(b"\x42" * 20, 1)
                return receipt, computation

        return Broken

    result = run_case(case, broken)
    assert result.status is CaseStatus.FAILED and "state root" in result.reason


def test_known_deviations(monkeypatch: pytest.MonkeyPatch, state_tests: Path) -> None:
    case = discover_cases([state_tests / ADD], fork="Cancun")[0]
    file, test, fork, index = case.id.split("::")
    monkeypatch.setattr(known_deviations, "KNOWN_DEVIATIONS", {f"{file}::{test}": "because"})
    assert known_deviations.deviation_reason(case.id) == "because"
    assert known_deviations.deviation_reason(f"{file}::other::{fork}::{index}") is None
    # a listed case that passes is a failure, so the list stays exact
    result = run_case(case)
    assert result.status is CaseStatus.FAILED
    assert "known deviation" in result.reason


def test_listed_deviations_are_well_formed() -> None:
    for key, reason in known_deviations.KNOWN_DEVIATIONS.items():
        assert key.split("::")[0].endswith(".json"), key
        assert reason.strip(), key


def test_block_hash_and_logs_hash() -> None:
    assert state_test_block_hash(0) == keccak(b"0")
    assert state_test_block_hash(255) == keccak(b"255")
    assert logs_hash([]) == EMPTY_LOGS_HASH
    one = logs_hash([(b"\x01" * 20, [1], b"data")])
    assert one != EMPTY_LOGS_HASH and len(one) == 32


def test_contract_codes(state_tests: Path) -> None:
    cases = discover_cases([state_tests / ADD])
    codes = contract_codes_of(cases)
    assert codes
    for (code_hash, fork), code in codes.items():
        assert keccak(code) == code_hash
        assert fork == "cancun"


def contract_codes_of(cases: list[Case]) -> dict[tuple[bytes, str], bytes]:
    return statetest.contract_codes(cases)


def test_fixture_locations(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ETHEREUM_TESTS_ENV, str(tmp_path))
    assert ethereum_tests_dir() == tmp_path
    with pytest.raises(UsageError, match="GeneralStateTests"):
        general_state_tests_dir()
    monkeypatch.setenv(ETHEREUM_TESTS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UsageError, match=ETHEREUM_TESTS_ENV):
        ethereum_tests_dir()
    monkeypatch.setenv(BENCH_ENV, str(tmp_path))
    assert bench_dir() == tmp_path
    monkeypatch.setenv(BENCH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UsageError, match=BENCH_ENV):
        bench_dir()


def test_progress_plain_and_tty() -> None:
    plain = io.StringIO()
    with Progress(10, "work", stream=plain, tty=False, plain_interval=0.0) as progress:
        for _ in range(10):
            progress.advance()
        progress.write("a message")
    lines = plain.getvalue().splitlines()
    assert "a message" in lines
    assert any(line.startswith("work: 100.0% 10/10") for line in lines)
    assert "\r" not in plain.getvalue()

    bar = io.StringIO()
    with Progress(4, "work", stream=bar, tty=True) as progress:
        progress.advance(4)
        progress.write("failure line")
    text = bar.getvalue()
    assert "\r" in text and "[" in text and "failure line\n" in text

    silent = io.StringIO()
    with Progress(3, stream=silent, tty=False, enabled=False) as progress:
        progress.advance(3)
    assert silent.getvalue() == ""


def test_listed_deviations_exist(state_tests: Path) -> None:
    """Every entry names a fixture file (and test, fork, index) that exists."""
    if is_bundled_sample(state_tests):
        pytest.skip(NO_FULL_CORPUS)
    for key in known_deviations.KNOWN_DEVIATIONS:
        file, *rest = key.split("::")
        path = state_tests / file
        assert path.is_file(), key
        ids = {case.id for case in discover_cases([path])}
        assert any(case_id == key or case_id.startswith(key + "::") for case_id in ids), key
