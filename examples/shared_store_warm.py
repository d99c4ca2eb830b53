"""The shared artifact store, measured: the compile seconds a warm shared store saves a fresh
machine, on the contract codes of the bundled state-test sample.

    python examples/shared_store_warm.py [--fork Cancun] [--limit N]

Two fresh processes, each with an empty local cache of its own, share one store
(`file://` in a temporary folder, signed with a key pair made for the run; needs the
`[cluster]` extra): the first (a cold start: nothing anywhere) compiles every code and
publishes it signed; the second (a fresh CI runner, say: empty local cache, warm shared store)
looks every code up. Each prints its runtime statistics: compilations, their seconds
(`compile_seconds`, dispatch to linked), loads from the shared store, and its wall time.

`python examples/shared_store_warm.py --child` is one side (its settings in the environment).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def child(codes_file: str) -> None:
    from pyevm_jit.runtime import JitBackend, LookupRequest, RuntimeCacheKey, RuntimeConfig

    codes = json.loads(Path(codes_file).read_text())
    started = time.perf_counter()
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, dump_dir=None))
    native = 0
    try:
        for code_hash, fork, code in codes:
            key = RuntimeCacheKey(bytes.fromhex(code_hash), fork)
            native += backend.lookup(LookupRequest(key, bytes.fromhex(code))).is_compiled
    finally:
        backend.close()
    stats = backend.stats()
    print(
        json.dumps(
            {
                "codes": len(codes),
                "native": native,
                "seconds": time.perf_counter() - started,
                "compilations": stats.compilations_succeeded,
                "compile_seconds": stats.compile_seconds,
                "shared_loaded": stats.shared_loaded,
                "shared_published": stats.shared_published,
            }
        )
    )


def run_side(name: str, env: dict[str, str], codes_file: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(codes_file)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{name}: {result['native']}/{result['codes']} codes native in {result['seconds']:.1f} s; "
        f"{result['compilations']} compilations, {result['compile_seconds']:.1f} compile "
        f"seconds; {result['shared_loaded']} loaded from the shared store, "
        f"{result['shared_published']} published"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fork", default="Cancun", help="the sample's cases of this fork")
    parser.add_argument("--limit", type=int, help="the first N codes only")
    parser.add_argument("--child", metavar="CODES", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from pyevm_jit.conformance.fixtures import bundled_general_state_tests_dir
    from pyevm_jit.conformance.statetest import contract_codes, discover_cases
    from pyevm_jit.runtime.store.signing import write_keypair

    cases = discover_cases([bundled_general_state_tests_dir()], fork=args.fork)
    codes = [(h.hex(), fork, code.hex()) for (h, fork), code in contract_codes(cases).items()]
    codes = codes[: args.limit] if args.limit else codes
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-shared-") as tmp:
        root = Path(tmp)
        codes_file = root / "codes.json"
        codes_file.write_text(json.dumps(codes))
        private, public = write_keypair(root / "keys")
        shared = {
            "PYEVM_JIT_SHARED_STORE": (root / "shared").as_uri(),
            "PYEVM_JIT_TRUSTED_KEYS": str(public),
        }
        print(f"{len(codes)} contract codes of the bundled sample ({args.fork})")
        producer = {"PYEVM_JIT_STORE": str(root / "cache-a"), "PYEVM_JIT_SIGNING_KEY": str(private)}
        cold = run_side(
            "cold (empty local cache, empty shared store)", {**shared, **producer}, codes_file
        )
        warm = run_side(
            "warm (empty local cache, warm shared store)",
            {**shared, "PYEVM_JIT_STORE": str(root / "cache-b")},
            codes_file,
        )
    saved = cold["compile_seconds"] - warm["compile_seconds"]
    print(
        f"compile seconds saved by the warm shared store: {saved:.1f} "
        f"(wall {cold['seconds']:.1f} s -> {warm['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
