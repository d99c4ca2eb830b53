"""The crypto and encoding backends py-evm's libraries can pick, timed side by side.

    python examples/crypto_backends.py [--number 20000]

What a web3 + eth-tester transaction spends outside the EVM goes largely to three libraries,
each of which picks a native backend by itself when one is installed:

- keccak256 (eth-hash): `pycryptodome` or `pysha3` (the safe-pysha3 distribution); with both
  installed eth-hash takes pycryptodome unless `ETH_HASH_BACKEND=pysha3` names the other.
- secp256k1 signatures (eth-keys): `coincurve` (libsecp256k1) when installed, else eth-keys'
  pure-Python backend. A web3 `send_transaction` on eth-tester signs once; every transaction
  py-evm applies recovers its sender once (cached on the transaction object).
- RLP (pyrlp): `rusty-rlp` when installed, else pyrlp's Python codec. Each backend of this
  script runs in a child process (pyrlp chooses when it is imported).

Per call, best of 5 repeats, CPU time of this process; prints the machine load first.
Missing backends are reported as such.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any


def per_call_us(action: Callable[[], Any], number: int) -> float:
    """Best of 5 repeats of `number` calls, in microseconds of CPU time per call."""
    for _ in range(min(number, 200)):
        action()
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(number):
            action()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


def keccak_rows(number: int) -> list[str]:
    from eth_hash.main import Keccak256
    from eth_hash.utils import load_backend

    rows = []
    for name in ("pycryptodome", "pysha3"):
        try:
            keccak = Keccak256(load_backend(name))
        except ImportError:
            rows.append(f"keccak256 {name:13s} not installed")
            continue
        times = []
        for size in (32, 136, 532):  # a word, one rate block, a typical trie node / tx
            data = bytes(i % 251 for i in range(size))
            times.append(f"{size} B {per_call_us(lambda d=data, k=keccak: k(d), number):5.2f} us")
        rows.append(f"keccak256 {name:13s} " + ", ".join(times))
    return rows


def signature_rows(number: int) -> list[str]:
    from eth_keys.backends import CoinCurveECCBackend, NativeECCBackend
    from eth_keys.datatypes import PrivateKey

    rows = []
    message = bytes(range(32))
    for backend_class in (CoinCurveECCBackend, NativeECCBackend):
        try:
            backend = backend_class()
        except Exception:  # coincurve missing: eth-keys raises on construction
            rows.append(f"secp256k1 {backend_class.__name__:20s} not installed")
            continue
        key = PrivateKey(bytes(31) + b"\x07", backend=backend)
        signature = key.sign_msg_hash(message)
        count = number if backend_class is CoinCurveECCBackend else max(number // 200, 20)
        sign = per_call_us(lambda k=key: k.sign_msg_hash(message), count)
        recover = per_call_us(
            lambda s=signature: s.recover_public_key_from_msg_hash(message), count
        )
        rows.append(f"secp256k1 {backend_class.__name__:20s} sign {sign:8.1f} us, "
                    f"recover {recover:8.1f} us")  # fmt: skip
    return rows


RLP_CHILD = """
import sys, time
if sys.argv[1] == "pyrlp":
    sys.modules["rusty_rlp"] = None  # pyrlp then uses its Python codec
try:
    import rlp.codec
except ImportError:
    raise SystemExit(3)
if sys.argv[1] == "rusty-rlp" and not hasattr(rlp.codec, "rusty_rlp"):
    raise SystemExit(3)
from eth.rlp.receipts import Receipt
from eth.rlp.logs import Log
number = int(sys.argv[2])
node = [bytes([i]) * 32 for i in range(16)] + [b""]  # a trie branch node
receipt = Receipt(b"\\x01", 51234, [Log(b"\\x11" * 20, [7, 8, 9], b"\\x22" * 32)])
def best(action):
    for _ in range(200):
        action()
    times = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(number):
            action()
        times.append(time.process_time() - start)
    return min(times) / number * 1e6
for name, obj, cls in (("branch node", node, None), ("receipt", receipt, Receipt)):
    encoded = rlp.encode(obj, cache=False)
    enc = best(lambda: rlp.encode(obj, cache=False))
    dec = best(lambda: rlp.decode(encoded, cls) if cls else rlp.decode(encoded))
    print(f"{name} encode {enc:.1f} us, decode {dec:.1f} us")
"""


def rlp_rows(number: int) -> list[str]:
    rows = []
    for backend in ("pyrlp", "rusty-rlp"):
        done = subprocess.run(
            [sys.executable, "-c", RLP_CHILD, backend, str(max(number // 10, 100))],
            capture_output=True,
            text=True,
        )
        if done.returncode == 3:
            rows.append(f"rlp {backend:9s} not installed")
        elif done.returncode:
            rows.append(f"rlp {backend:9s} failed: {done.stderr.strip().splitlines()[-1:]}")
        else:
            rows.append(f"rlp {backend:9s} " + "; ".join(done.stdout.strip().splitlines()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="calls per timed repeat")
    args = parser.parse_args()
    if args.number < 1:
        parser.exit(2, "crypto_backends.py: --number must be at least 1\n")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average: {load} ({os.cpu_count()} CPUs); ETH_HASH_BACKEND="
          f"{os.environ.get('ETH_HASH_BACKEND', '')!r}")  # fmt: skip
    for row in (*keccak_rows(args.number), *signature_rows(args.number), *rlp_rows(args.number)):
        print(row)


if __name__ == "__main__":
    main()
