"""`pyevm-jit aot`: collecting codes from every input kind, filling a store, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from pyevm_jit.cli import main
from pyevm_jit.cli.aot import collect, py_evm_fork
from pyevm_jit.conformance.fixtures import BUNDLED_BENCH
from pyevm_jit.errors import UsageError
from pyevm_jit.runtime.store import FileArtifactStore

BENCH = BUNDLED_BENCH
SSTORE = "600160005500"
ADD = "6002600301500000"


def state_test(tmp_path: Path, forks: tuple[str, ...] = ("Cancun", "Shanghai")) -> Path:
    test = {
        "t": {
            "env": {},
            "pre": {
                "0x" + "aa" * 20: {"code": "0x" + SSTORE, "balance": "0x0", "nonce": "0x0"},
                "0x" + "bb" * 20: {"code": "0x", "balance": "0x0", "nonce": "0x0"},
            },
            "transaction": {"to": "", "data": ["0x" + ADD]},
            "post": {fork: [{"indexes": {"data": 0, "gas": 0, "value": 0}}] for fork in forks},
        }
    }
    path = tmp_path / "state.json"
    path.write_text(json.dumps(test))
    return path


def bench_file(tmp_path: Path) -> Path:
    case = {
        "b": {
            "env": {},
            "pre": {"0x" + "cc" * 20: {"code": "0x" + ADD, "balance": "0x0"}},
            "transaction": [{"to": "0x" + "cc" * 20, "data": "0x"}],
        }
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(case))
    return path


def test_fork_names() -> None:
    assert py_evm_fork("cancun") == "cancun"
    assert py_evm_fork("Cancun") == "cancun"
    assert py_evm_fork("tangerine_whistle") == "tangerine-whistle"
    assert py_evm_fork("nonsense") is None


def test_collect_state_test(tmp_path: Path) -> None:
    found = collect([str(state_test(tmp_path))], None)
    sstore, add = bytes.fromhex(SSTORE), bytes.fromhex(ADD)
    assert found == {
        (keccak(sstore), "cancun"): sstore,
        (keccak(add), "cancun"): add,
        (keccak(sstore), "shanghai"): sstore,
        (keccak(add), "shanghai"): add,
    }
    only = collect([str(state_test(tmp_path))], "shanghai")
    assert {fork for _h, fork in only} == {"shanghai"}


def test_collect_bench_hex_and_folders(tmp_path: Path) -> None:
    bench_file(tmp_path)
    (tmp_path / "codes.hex").write_text(f"# two codes\n0x{SSTORE}\n\n{ADD}\n")
    found = collect([str(tmp_path)], None)
    assert set(found.values()) == {bytes.fromhex(SSTORE), bytes.fromhex(ADD)}
    assert {fork for _h, fork in found} == {"cancun"}
    assert {fork for _h, fork in collect([str(tmp_path)], "berlin")} == {"berlin"}


def test_codes_screened_out_are_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Code pathological to compile (a block per byte) is never dispatched: the summary says
    how many codes were left to the interpreter instead of leaving them out of every count."""
    inputs = tmp_path / "codes.hex"
    inputs.write_text(f"{SSTORE}\n{'5b' * 6000}\n")
    argv = ["aot", str(inputs), "--store", str(tmp_path / "store"), "--jobs", "0", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 to compile" in out, out
    assert "1 stored, 0 failed to compile, 0 already present, 1 left to the interpreter" in out


def test_collect_bench_case() -> None:
    found = collect([str(BENCH / "counter.json")], None)
    assert len(found) == 1


def test_fills_store_then_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "codes.hex").write_text(f"{SSTORE}\n{ADD}\n")
    store = tmp_path / "store"
    argv = ["aot", str(inputs), "--store", str(store), "--jobs", "0", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 to compile" in out, out
    assert "2 stored, 0 failed" in out, out
    assert len(FileArtifactStore(store).load_all()) == 2
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 already in" in out and "0 to compile" in out


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("{not json", ".json", "not valid JSON"),
        ("[1, 2]", ".json", "not a state test or bench fixture"),
        ('{"x": {"pre": {}}}', ".json", "lacks pre, transaction"),
        ('{"x": {"pre": {"0x01": {"code": "0xzz"}}, "transaction": {}}}', ".json", "not valid hex"),
        ("60zz", ".hex", "not valid hex"),
        ("# nothing\n", ".hex", "no code"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, suffix: str, message: str
) -> None:
    path = tmp_path / ("input" + suffix)
    path.write_text(content)
    assert main(["aot", str(path), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_other_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hexfile = tmp_path / "a.hex"
    hexfile.write_text(SSTORE)
    cases = [
        (["aot", str(tmp_path / "missing"), "--store", str(tmp_path / "s")], "no such file"),
        (["aot", str(hexfile), "--store", str(tmp_path / "s"), "--fork", "nope"], "unknown fork"),
        (["aot", str(hexfile), "--store", str(hexfile)], "not a directory"),
        (["aot", str(hexfile), "--store", str(tmp_path / "s"), "--jobs", "-1"], "negative"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    cases.append((["aot", str(empty), "--store", str(tmp_path / "s")], "no .json or .hex"))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)


def test_unsafe_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hexfile = tmp_path / "a.hex"
    hexfile.write_text(SSTORE)
    store = tmp_path / "open"
    store.mkdir()
    store.chmod(0o777)
    assert main(["aot", str(hexfile), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "other users" in err and len(err.strip().splitlines()) == 1, err


def test_usage_error_type() -> None:
    with pytest.raises(UsageError):
        collect(["/nonexistent/path"], None)
