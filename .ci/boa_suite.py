"""titanoboa's own unit tests with py-evm alone and with the JIT: the same tests must fail, and
titanoboa must observe the same of every message (`.ci/boa_messages.py`: pc traces, errors,
gas, per-pc gas, output, memory, SHA3 and SSTORE traces, children).

    python .ci/boa_suite.py [TITANOBOA_TESTS]

TITANOBOA_TESTS is a checkout of titanoboa's `tests/` folder for the installed titanoboa
(default: $PYEVM_JIT_TITANOBOA_TESTS, else ../shared/titanoboa-tests beside the repository).
Both runs leave out what its README says needs Jupyter/IPython, old Vyper compilers from the
network, or does not collect with pytest 9; hypothesis runs with a fixed seed. The JIT run
loads `pyevm_jit.integrations.boa_pytest` with a blocking backend (every contract compiled
before its first message) and a fresh store, and must report native hits and no interpreted
message. Exit status 1 when the failures
differ, 2 when the tests are not there.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IGNORED = ("contracts/vvm", "jupyter", "test_ipython.py", "test_isolation.py")


def tests_dir(argv: list[str]) -> Path:
    if argv:
        return Path(argv[0])
    env = os.environ.get("PYEVM_JIT_TITANOBOA_TESTS")
    return Path(env) if env else REPO.parent / "shared" / "titanoboa-tests"


def run(root: Path, jit: bool, scratch: Path) -> tuple[set[str], str, float, Path]:
    """(failed test ids, last output lines, CPU seconds, message log) of one pytest run."""
    name = "jit" if jit else "stock"
    report, messages = scratch / f"{name}.xml", scratch / f"{name}.messages"
    args = [sys.executable, "-m", "pytest", "tests/unitary", "-q", "-p", "no:cacheprovider"]
    args += [f"--ignore=tests/unitary/{path}" for path in IGNORED]
    args += [f"--junitxml={report}", "-p", "boa_messages", "--hypothesis-seed=1"]
    env = dict(
        os.environ,
        HYPOTHESIS_STORAGE_DIRECTORY=str(scratch / "hypothesis"),
        BOA_MESSAGES_OUT=str(messages),
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    )
    if jit:
        args += ["-p", "pyevm_jit.integrations.boa_pytest"]
        env.update(PYEVM_JIT_BLOCKING="1", PYEVM_JIT_STORE=str(scratch / "store"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if not report.exists():
        sys.exit(f"boa_suite: pytest did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    failed = set()
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(f"{case.get('classname')}::{case.get('name')}")
    lines = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("pyevm-jit:") or re.search(r"\d+ (passed|failed)", line)
    ]
    return failed, "\n  ".join(lines), cpu, messages


def messages_by_test(path: Path) -> dict[str, list[str]]:
    tests: dict[str, list[str]] = {}
    current: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = tests.setdefault(line[3:], [])
        else:
            current.append(line)
    return tests


def message_differences(stock: Path, jit: Path) -> list[str]:
    expected, actual = messages_by_test(stock), messages_by_test(jit)
    problems = []
    for test in sorted(set(expected) | set(actual)):
        mine, theirs = actual.get(test, []), expected.get(test, [])
        if mine == theirs:
            continue
        if len(mine) != len(theirs):
            problems.append(f"{test}: {len(theirs)} messages without the JIT, {len(mine)} with")
            continue
        index = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
        pairs = zip(mine[index].split(), theirs[index].split(), strict=False)
        fields = [f"{b} -> {a}" for a, b in pairs if a != b]
        problems.append(f"{test}: message {index} differs: {', '.join(fields[:4])}")
    return problems


def main(argv: list[str]) -> int:
    root = tests_dir(argv)
    if not (root / "tests" / "unitary").is_dir():
        print(f"boa_suite: no titanoboa tests at {root} (set PYEVM_JIT_TITANOBOA_TESTS)")
        return 2
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-boa-") as tmp:
        scratch = Path(tmp)
        stock, stock_out, stock_cpu, stock_messages = run(root, False, scratch)
        print(f"titanoboa unit tests, py-evm alone ({stock_cpu:.0f} s CPU):\n  {stock_out}")
        jit, jit_out, jit_cpu, jit_messages = run(root, True, scratch)
        print(f"titanoboa unit tests, on the JIT ({jit_cpu:.0f} s CPU):\n  {jit_out}")
        differences = message_differences(stock_messages, jit_messages)
        tests = len(messages_by_test(stock_messages))
        count = sum(map(len, messages_by_test(stock_messages).values()))
    native = re.search(r"pyevm-jit: (\d+) messages ran native code, (\d+) were interpr", jit_out)
    problems = differences[:20]
    if jit != stock:
        problems += [f"fails only with the JIT: {t}" for t in sorted(jit - stock)]
        problems += [f"fails only without the JIT: {t}" for t in sorted(stock - jit)]
    if native is None or int(native.group(1)) == 0:
        problems.append("no message ran native code")
    elif int(native.group(2)):
        problems.append(f"{native.group(2)} messages were interpreted")
    for problem in problems:
        print(f"boa_suite: {problem}")
    if not problems:
        print(f"boa_suite: the same {len(stock)} tests fail with and without the JIT; titanoboa "
              f"observed the same of all {count} messages of {tests} tests")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
