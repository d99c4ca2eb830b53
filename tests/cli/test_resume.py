"""Case runs that survive their end (`cli.resume`): the --json file is rewritten while a run goes
on, and `--resume FILE` runs only what that file lacks or failed."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_caserun import FAKE, FakeCase, FakeResult, fake_died, fake_run

from pyevm_jit.cli import caserun, main, resume
from pyevm_jit.errors import UsageError


def _cases(*names: str) -> list[FakeCase]:
    return [FakeCase(name, "/t/a.json") for name in names]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    caserun.add_arguments(parser, "GeneralStateTests")
    return parser.parse_args(["/t", "--no-progress", *argv])


def _document(mode: str = "interp", **results: str) -> dict[str, Any]:
    return {
        "kind": FAKE.name,
        "mode": mode,
        "regions": False,
        "seconds": 12.5,
        "native": None,
        "results": [{"id": i, "status": s, "reason": ""} for i, s in results.items()],
    }


def _recording_kind(ran: list[str]) -> caserun.CaseKind[FakeCase, FakeResult]:
    def run(case: FakeCase, factory: Any) -> FakeResult:
        ran.append(case.id)
        return fake_run(case, factory)

    return caserun.CaseKind(FAKE.name, run, fake_died, FAKE.contract_codes)


def test_the_json_file_is_rewritten_while_the_run_goes_on(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    seen: dict[str, Any] = {}

    def run(case: FakeCase, factory: Any) -> FakeResult:
        if case.id == "c":  # what a run killed now would have left
            seen.update(json.loads(report.read_text()))
        return fake_run(case, factory)

    kind = caserun.CaseKind(FAKE.name, run, fake_died, FAKE.contract_codes)
    status = caserun.run_command(
        kind,
        _cases("a", "b", "c"),
        mode="interp",
        jobs=1,
        store=None,
        json_path=report,
        selection={},
        progress=False,
        checkpoint_seconds=0.0,
    )
    assert status == 0
    assert seen["partial"] is True and seen["interrupted"] is False
    assert [r["id"] for r in seen["results"]] == ["a", "b"] and seen["not_run"] == 1
    final = json.loads(report.read_text())
    assert final["partial"] is False and final["not_run"] == 0
    assert [r["id"] for r in final["results"]] == ["a", "b", "c"]


def test_no_checkpoint_before_its_time(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    existed: list[bool] = []

    def run(case: FakeCase, factory: Any) -> FakeResult:
        existed.append(report.exists())
        return fake_run(case, factory)

    kind = caserun.CaseKind(FAKE.name, run, fake_died, FAKE.contract_codes)
    caserun.run_command(
        kind, _cases("a", "b"), mode="interp", jobs=1, store=None, json_path=report,
        selection={}, progress=False, checkpoint_seconds=3600.0,
    )  # fmt: skip
    assert existed == [False, False] and report.exists()


def test_resume_runs_only_what_is_missing_or_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(_document(a="passed", b="failed", d="xfail")))
    ran: list[str] = []
    report = tmp_path / "r.json"
    status = caserun.run_from_arguments(
        _args("--resume", str(earlier), "--json", str(report)),
        _recording_kind(ran),
        lambda: _cases("a", "b", "c", "d", "e"),
        selection={},
    )
    assert status == 0
    assert ran == ["b", "c", "e"]
    out = capsys.readouterr().out
    assert "2 cases' results taken from" in out
    assert "4 passed, 0 failed, 1 expected failures" in out
    document = json.loads(report.read_text())
    assert [r["id"] for r in document["results"]] == ["a", "b", "c", "d", "e"]
    assert document["results"][3] == {"id": "d", "status": "xfail", "reason": ""}
    assert document["summary"]["passed"] == 4 and document["summary"]["xfail"] == 1
    assert document["resumed_from"] == {"file": str(earlier), "cases": 2, "seconds": 12.5}


def test_resume_drops_results_of_cases_not_selected_now(tmp_path: Path) -> None:
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(_document(a="passed", gone="passed")))
    ran: list[str] = []
    report = tmp_path / "r.json"
    caserun.run_from_arguments(
        _args("--resume", str(earlier), "--json", str(report)),
        _recording_kind(ran),
        lambda: _cases("a", "b"),
        selection={},
    )
    assert ran == ["b"]
    assert [r["id"] for r in json.loads(report.read_text())["results"]] == ["a", "b"]


def test_resume_of_a_finished_run_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(_document(a="passed", b="passed")))
    ran: list[str] = []
    status = caserun.run_from_arguments(
        _args("--resume", str(earlier), "--json", str(earlier)),
        _recording_kind(ran),
        lambda: _cases("a", "b"),
        selection={},
    )
    assert status == 0 and ran == []
    assert "2 passed, 0 failed" in capsys.readouterr().out
    document = json.loads(earlier.read_text())
    assert [r["id"] for r in document["results"]] == ["a", "b"] and document["not_run"] == 0


def test_an_interrupted_run_is_resumed_where_it_stopped(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    ran: list[str] = []

    def interrupted_at_c(case: FakeCase, factory: Any) -> FakeResult:
        if case.id == "c":
            raise KeyboardInterrupt
        ran.append(case.id)
        return fake_run(case, factory)

    kind = caserun.CaseKind(FAKE.name, interrupted_at_c, fake_died, FAKE.contract_codes)
    names = ("a", "bad-b", "c", "d")
    status = caserun.run_from_arguments(
        _args("--json", str(report)), kind, lambda: _cases(*names), selection={}
    )
    assert status == 130 and ran == ["a", "bad-b"]
    first = json.loads(report.read_text())
    assert first["interrupted"] is True and first["not_run"] == 2
    ran.clear()
    status = caserun.run_from_arguments(
        _args("--resume", str(report), "--json", str(report)),
        _recording_kind(ran),
        lambda: _cases(*names),
        selection={},
    )
    assert status == 1  # bad-b fails again
    assert ran == ["bad-b", "c", "d"]
    document = json.loads(report.read_text())
    assert [r["status"] for r in document["results"]] == ["passed", "failed", "passed", "passed"]
    assert document["interrupted"] is False and document["not_run"] == 0


def test_the_earlier_native_statistics_are_added() -> None:
    stats = {"lookup_hits": 5, "lookup_misses": 1, "misses_by_reason": {"NotReady": 1}}
    later = {"lookup_hits": 2, "lookup_misses": 0, "misses_by_reason": {}}
    merged = caserun.merged_stats({0: stats, 123: later})
    assert merged["lookup_hits"] == 7 and merged["misses_by_reason"] == {"NotReady": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "is not a JSON file"),
        ("[1, 2]", "is not a result file"),
        (json.dumps(_document(mode="jit", a="passed")), "is a run in mode 'jit'"),
        (json.dumps({**_document(a="passed"), "kind": "blocktest"}), "holds blocktest results"),
        (json.dumps({**_document(a="passed"), "regions": True}), "is a run with --regions"),
        (json.dumps({**_document(), "results": [{"id": 1}]}), "has a malformed result"),
        (json.dumps({**_document(), "results": [{"id": "a", "status": "?"}]}), "malformed"),
    ],
)
def test_a_file_that_cannot_be_resumed_is_a_usage_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "earlier.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message) as raised:
        resume.load(str(path), kind=FAKE.name, mode="interp", regions=False)
    assert "\n" not in str(raised.value)


def test_a_file_that_does_not_say_whether_regions_were_forced_is_taken(tmp_path: Path) -> None:
    path = tmp_path / "earlier.json"
    document = _document(a="passed")
    del document["regions"], document["kind"]
    path.write_text(json.dumps(document))
    resumed = resume.load(str(path), kind=FAKE.name, mode="interp", regions=True)
    assert list(resumed.results) == ["a"]


def test_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"):
        resume.load(str(tmp_path), kind=FAKE.name, mode="interp", regions=False)


SAMPLE = Path(__file__).resolve().parents[2] / "fixtures/ethereum-tests-sample/GeneralStateTests"
#: three small state tests of the bundled sample (one case each)
SMALL = [
    SAMPLE / "stStaticCall/static_log0_emptyMem.json",
    SAMPLE / "stSStoreTest/sstoreGas.json",
    SAMPLE / "stStaticCall/static_Call10.json",
]


def _statetest(argv: Sequence[str]) -> int:
    return main(["statetest", "--no-progress", *argv])


def test_statetest_resume_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(p) for p in SMALL]
    report = tmp_path / "r.json"
    assert _statetest([*paths, "--json", str(report)]) == 0
    first = json.loads(report.read_text())
    count = len(first["results"])
    assert first["kind"] == "statetest" and count >= 3
    assert {r["status"] for r in first["results"]} == {"passed"}
    kept = first["results"][0]
    first["results"] = first["results"][:-1]  # the last case never ran
    first["results"][1]["status"] = "failed"  # the second failed
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps(first))
    capsys.readouterr()
    assert _statetest([*paths, "--resume", str(earlier), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"{count - 2} cases' results taken from" in out and f"{count} passed, 0 failed" in out
    document = json.loads(report.read_text())
    assert document["results"][0] == kept
    assert [r["status"] for r in document["results"]] == ["passed"] * count
    assert document["resumed_from"]["cases"] == count - 2


def test_statetest_resume_of_a_missing_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _statetest([str(SMALL[0]), "--resume", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err
