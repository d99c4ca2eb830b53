"""Stock py-evm against the JIT under titanoboa: CPU time of a pytest run, test by test.

    python examples/boa/bench.py                      # the compute-heavy tests beside this file
    python examples/boa/bench.py --runs 3 [--cwd DIR] PATH ... -- PYTEST-ARGS

Each run is a fresh `python -m pytest` process (stock, or with
`-p pyevm_jit.integrations.boa_pytest`). The JIT side first runs once to fill the store
(`--store`, default: a new temporary folder, so that run starts cold), then `--runs` times,
each a "second run": programs come from the store from the first call. Figures are CPU
seconds (medians): of the tests (setup + call + teardown), of the pytest session, and of the
whole process (interpreter start and imports included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(paths: list[str], extra: list[str], jit: bool, store: str, cwd: str | None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = dict(os.environ, CPU_TIMES_OUT=out.name)
        env.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.gettempdir() + "/hypothesis")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "cpu_times"]
        if jit:
            args += ["-p", "pyevm_jit.integrations.boa_pytest"]
            env["PYEVM_JIT_STORE"] = store
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            args + paths + extra, env=env, cwd=cwd, capture_output=True, text=True
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        lines = done.stdout.strip().splitlines()
        tail = [line for line in lines if line.startswith("pyevm-jit:")] + lines[-1:]
        result = json.loads(Path(out.name).read_text())
    result["process"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["summary"] = tail
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(HERE / "test_compute_heavy.py")])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", default=None, help="artifact store folder (default: new)")
    parser.add_argument("--cwd", default=None, help="folder to run pytest in")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    store = args.store or tempfile.mkdtemp(prefix="pyevm-jit-boa-bench-")
    first = run(args.paths, extra, True, store, args.cwd)
    print(f"JIT first run (store {store}): tests {sum(first['tests'].values()):.2f} s CPU")
    print("  " + "\n  ".join(first["summary"]))
    stock, jit = [], []
    for _ in range(args.runs):  # alternating, so load changes hit both sides alike
        stock.append(run(args.paths, extra, False, store, args.cwd))
        jit.append(run(args.paths, extra, True, store, args.cwd))
    print(f"stock: {stock[-1]['summary'][-1]}")
    print("JIT:   " + "\n       ".join(jit[-1]["summary"]))

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(
            r[key] if key != "tests" else sum(r["tests"].values()) for r in rows
        )

    print(
        f"{'CPU seconds (median of ' + str(args.runs) + ')':44} {'stock':>9} {'JIT':>9} "
        f"{'speed-up':>9}"
    )
    for label, key in (
        ("tests (setup + call)", "tests"),
        ("pytest session", "session"),
        ("process (start, imports, session)", "process"),
    ):
        s, j = med(stock, key), med(jit, key)
        print(f"{label:44} {s:9.2f} {j:9.2f} {s / j:8.1f}x")
    if len(stock[0]["tests"]) <= 12:
        for name in stock[0]["tests"]:
            s = statistics.median(r["tests"][name] for r in stock)
            j = statistics.median(r["tests"].get(name, float("nan")) for r in jit)
            print(f"  {name.split('::')[-1][:42]:42} {s:9.3f} {j:9.3f} {s / j:8.1f}x")


if __name__ == "__main__":
    main()
