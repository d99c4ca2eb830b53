"""Where the test data lives: the Ethereum tests and the benchmark cases.

The repository bundles a curated sample of ethereum/tests (`fixtures/ethereum-tests-sample`)
and the benchmark cases (`fixtures/bench`), so everything works in a clone with nothing beside
it. The full ethereum/tests corpus is found, in order, at `$PYEVM_JIT_ETHEREUM_TESTS`,
`<repo>/fixtures/ethereum-tests` (ignored by git) or `<repo>/../shared/ethereum-tests`; the
bundled sample stands in for it when none of them exists. The benchmark cases are read from
`$PYEVM_JIT_BENCH`, else the bundled ones.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyevm_jit.errors import UsageError
from pyevm_jit.files import describe_entry, load_json

ETHEREUM_TESTS_ENV = "PYEVM_JIT_ETHEREUM_TESTS"
BENCH_ENV = "PYEVM_JIT_BENCH"

REPO_ROOT = Path(__file__).resolve().parents[2]

#: the curated sample of ethereum/tests shipped with the repository
BUNDLED_ETHEREUM_TESTS = REPO_ROOT / "fixtures" / "ethereum-tests-sample"
#: the benchmark cases shipped with the repository
BUNDLED_BENCH = REPO_ROOT / "fixtures" / "bench"
#: where a full ethereum/tests checkout is looked for when the variable is not set
FULL_CORPUS_LOCATIONS = (
    REPO_ROOT / "fixtures" / "ethereum-tests",
    REPO_ROOT.parent / "shared" / "ethereum-tests",
)

#: the reason a test that needs the full corpus gives when it skips
NO_FULL_CORPUS = (
    f"needs the full ethereum/tests corpus: set ${ETHEREUM_TESTS_ENV} to a checkout of "
    "https://github.com/ethereum/tests (or put one at fixtures/ethereum-tests or "
    "../shared/ethereum-tests)"
)


def _configured(env: str) -> Path | None:
    value = os.environ.get(env, "").strip()
    return Path(value).expanduser() if value else None


def full_ethereum_tests_dir() -> Path | None:
    """The full ethereum/tests checkout, or None when only the bundled sample is available.

    `$PYEVM_JIT_ETHEREUM_TESTS` when set (whether or not it exists: a wrong setting is reported
    by `ethereum_tests_dir`, never replaced silently), else the first of
    `FULL_CORPUS_LOCATIONS` that is a folder.
    """
    configured = _configured(ETHEREUM_TESTS_ENV)
    if configured is not None:
        return configured
    return next((path for path in FULL_CORPUS_LOCATIONS if path.is_dir()), None)


def ethereum_tests_dir(*, must_exist: bool = True) -> Path:
    """The ethereum/tests folder to use (the one holding GeneralStateTests).

    The full corpus (`full_ethereum_tests_dir`) when there is one, else the bundled sample.
    Raises UsageError when `$PYEVM_JIT_ETHEREUM_TESTS` names a missing folder and `must_exist`
    is true.
    """
    full = full_ethereum_tests_dir()
    path = full if full is not None else BUNDLED_ETHEREUM_TESTS
    if must_exist and not path.is_dir():
        origin = f"${ETHEREUM_TESTS_ENV}" if full is not None else "the bundled sample"
        raise UsageError(
            f"Ethereum tests not found at {path} ({origin}); clone "
            f"https://github.com/ethereum/tests there or set {ETHEREUM_TESTS_ENV}"
        )
    return path


def is_bundled_sample(path: Path) -> bool:
    """Is `path` the bundled sample (or inside it)?"""
    try:
        path.resolve().relative_to(BUNDLED_ETHEREUM_TESTS.resolve())
    except ValueError:
        return False
    return True


def general_state_tests_dir(*, must_exist: bool = True) -> Path:
    """`<ethereum tests>/GeneralStateTests`."""
    path = ethereum_tests_dir(must_exist=must_exist) / "GeneralStateTests"
    if must_exist and not path.is_dir():
        raise UsageError(f"no GeneralStateTests folder in {path.parent}")
    return path


#: what to do when the repository's fixtures are not beside the package (a non-editable install)
_NOT_IN_A_CLONE = (
    "the bundled {what} ships with the repository, not with an installed package: install from "
    "a clone with `pip install -e .`, or {instead}"
)


def _bundled(path: Path, what: str, instead: str) -> Path:
    if not path.is_dir():
        raise UsageError(_NOT_IN_A_CLONE.format(what=what, instead=instead))
    return path


def _bundled_sample(folder: str) -> Path:
    return _bundled(
        BUNDLED_ETHEREUM_TESTS / folder,
        "sample of ethereum/tests",
        "give a fixture file or folder (e.g. a checkout of https://github.com/ethereum/tests)",
    )


def bundled_general_state_tests_dir() -> Path:
    """The bundled sample's GeneralStateTests: what `pyevm-jit statetest` runs with no path
    (UsageError when the package runs without its repository)."""
    return _bundled_sample("GeneralStateTests")


def bundled_blockchain_tests_dir() -> Path:
    """The bundled sample's BlockchainTests: what `pyevm-jit blocktest` runs with no path
    (UsageError when the package runs without its repository)."""
    return _bundled_sample("BlockchainTests")


def bench_dir(*, must_exist: bool = True) -> Path:
    """The benchmark cases: `$PYEVM_JIT_BENCH`, default the bundled `<repo>/fixtures/bench`."""
    configured = _configured(BENCH_ENV)
    if configured is None:
        if not must_exist:
            return BUNDLED_BENCH
        return _bundled(BUNDLED_BENCH, "benchmark cases", f"give a PATH or set {BENCH_ENV}")
    if must_exist and not configured.is_dir():
        raise UsageError(f"benchmark cases not found at {configured}; set {BENCH_ENV}")
    return configured


# --- reading fixture files ----------------------------------------------------------------------


def relative_id_path(path: Path, root: str = "GeneralStateTests") -> str:
    """`path` relative to the innermost folder named `root` above it (its name alone when there
    is none): the file part of case ids."""
    parts = path.resolve().parts
    if root in parts:
        where = len(parts) - 1 - parts[::-1].index(root)
        return "/".join(parts[where + 1 :])
    return path.name


def read_fixture(path: str, kind: str, required: Sequence[str]) -> dict[str, Any]:
    """A fixture file: a non-empty JSON object of tests, each an object with the `required`
    keys. Anything else raises UsageError naming the file (`kind` says what was expected)."""
    try:
        data = load_json(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # not JSON, not UTF-8, nested too deep
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise UsageError(f"{path}: not a {kind} fixture (expected a JSON object of tests)")
    for name, test in data.items():
        if not isinstance(test, dict) or any(key not in test for key in required):
            raise UsageError(
                f"{path}: not a {kind} fixture (test {name!r} lacks {', '.join(required)})"
            )
    return data


def input_files(
    paths: Sequence[str | Path], suffixes: Sequence[str] = (".json",), what: str = "fixture files"
) -> list[Path]:
    """The files named, and those with one of `suffixes` in the folders named (recursively,
    sorted), each once. A missing path or a folder without such files raises UsageError. An
    entry of a folder that has the suffix but is no file to read (a dangling link, a FIFO, a
    folder named `x.json`) is skipped with one line on stderr naming it."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or directory")
        if path.is_dir():
            found = []
            for entry in sorted(path.rglob("*")):
                if entry.suffix not in suffixes:
                    continue
                if entry.is_file():
                    found.append(entry)
                else:
                    print(f"skipped {entry}: {describe_entry(entry)}", file=sys.stderr)
            if not found:
                raise UsageError(f"{raw}: no {' or '.join(suffixes)} {what} in this folder")
            files.extend(found)
        else:
            files.append(path)
    seen: set[Path] = set()
    unique = []
    for file in files:
        resolved = file.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(file)
    return unique
