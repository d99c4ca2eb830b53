"""A real client's view: web3.py over eth-tester's py-evm backend, stock VMs against JIT VMs.

    python examples/web3_transfers.py [--transfers 60] [--warmup 20] [--calls 20] [--rounds 2]
                                      [--hash-backend auto|pycryptodome|pysha3]

Each side (a fresh eth-tester chain of stock VMs; the same with `jit_pyevm_backend`) deploys
WETH9 and a compute contract (fibonacci of calldata, both from fixtures/bench), wraps ether,
makes `--warmup` token transfers (the JIT compiles and tiers up the hot contracts here), then
times `--transfers` transfers -- each `send_transaction` without a gas limit, so web3 asks
eth-tester for a gas estimate (a bisection of `apply_transaction` runs) before eth-tester signs
and mines it -- and `--calls` `eth_call`s of the compute contract. The sides take turns for
`--rounds` rounds in this process (same libraries: the eth-keys and eth-hash backends in use
are printed); the best round of each side is reported, CPU time of this process and wall time.
Both sides must end with the same receipts (status, gas used), balances and call results.
`--hash-backend` sets `ETH_HASH_BACKEND` for this process before anything hashes (`auto`: as
the environment has it; eth-hash then takes pycryptodome when it is installed). The machine's
load average is printed before and after the run (the CPU time of a process still grows with the
machine's load: caches and memory bandwidth are shared).
Needs `pip install 'pyevm-jit[web3]'` (coincurve included: eth-keys signs with libsecp256k1).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bench"
DEPOSIT = bytes.fromhex("d0e30db0")
TRANSFER = bytes.fromhex("a9059cbb")
BALANCE_OF = bytes.fromhex("70a08231")


def runtime_code(case: str) -> bytes:
    """The called contract's code of a bundled bench case."""
    body = next(iter(json.loads((FIXTURES / f"{case}.json").read_text()).values()))
    tx = body["transaction"][0] if isinstance(body["transaction"], list) else body["transaction"]
    return bytes.fromhex(body["pre"][tx["to"]]["code"][2:])


def deployer(code: bytes) -> bytes:
    """Initcode that returns `code` (CODECOPY of what follows it, RETURN)."""
    size = len(code).to_bytes(2, "big")
    # PUSH2 size, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN (12 bytes)
    return bytes([0x61, *size, 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3]) + code


def word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\0")
    return value.to_bytes(32, "big")


class Side:
    """One web3 + eth-tester chain, stock or JIT."""

    def __init__(self, kind: str) -> None:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider, Web3

        self.kind = kind
        if kind == "jit":
            from pyevm_jit import JitBackend, RuntimeConfig
            from pyevm_jit.integrations.eth_tester import jit_pyevm_backend

            self.jit = JitBackend.new(RuntimeConfig(enabled=True, blocking=True))
            backend = jit_pyevm_backend(self.jit)
        else:
            self.jit = None
            backend = PyEVMBackend()
        self.w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
        self.sender = self.w3.eth.accounts[0]
        self.recipients = self.w3.eth.accounts[1:10]
        self.weth = self.deploy(runtime_code("weth"))
        self.fib = self.deploy(runtime_code("fibonacci-calldata"))
        self.send({"to": self.weth, "value": 10**18, "data": DEPOSIT})
        self.receipts: list[tuple[int, int]] = []
        self.outputs: list[bytes] = []

    def deploy(self, code: bytes) -> str:
        receipt = self.send({"data": deployer(code)})
        assert receipt["status"] == 1, receipt
        address = receipt["contractAddress"]
        assert bytes(self.w3.eth.get_code(address)) == code
        return str(address)

    def send(self, fields: dict[str, Any]) -> Any:
        tx_hash = self.w3.eth.send_transaction({"from": self.sender, **fields})
        return self.w3.eth.get_transaction_receipt(tx_hash)

    def transfers(self, count: int) -> None:
        for i in range(count):
            to = self.recipients[i % len(self.recipients)]
            data = TRANSFER + word(bytes.fromhex(to[2:])) + word(1 + i)
            receipt = self.send({"to": self.weth, "data": data})  # gas: web3 estimates it
            self.receipts.append((receipt["status"], receipt["gasUsed"]))

    def calls(self, count: int) -> None:
        for i in range(count):
            data = word(900 + i)
            self.outputs.append(bytes(self.w3.eth.call({"to": self.fib, "data": data})))

    def balances(self) -> list[int]:
        return [
            int.from_bytes(
                bytes(
                    self.w3.eth.call(
                        {"to": self.weth, "data": BALANCE_OF + word(bytes.fromhex(a[2:]))}
                    )
                ),
                "big",
            )
            for a in [self.sender, *self.recipients]
        ]


def timed(action: Any) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--hash-backend", choices=("auto", "pycryptodome", "pysha3"), default="auto"
    )
    args = parser.parse_args()
    if min(args.transfers, args.warmup, args.calls, args.rounds) < 0 or args.rounds < 1:
        parser.exit(2, "web3_transfers.py: counts must be >= 0 and --rounds >= 1\n")
    if args.hash_backend != "auto":
        os.environ["ETH_HASH_BACKEND"] = args.hash_backend
    load_before = os.getloadavg()

    from eth_hash.auto import keccak
    from eth_keys.backends import get_backend

    keccak(b"")
    print(f"eth-keys backend: {type(get_backend()).__name__}; "
          f"eth-hash backend: {type(keccak.hasher.__self__).__name__}")  # fmt: skip
    best: dict[tuple[str, str], tuple[float, float]] = {}
    outcomes: dict[str, Any] = {}
    for round_ in range(args.rounds):
        for kind in ("stock", "jit") if round_ % 2 == 0 else ("jit", "stock"):
            side = Side(kind)
            side.transfers(args.warmup)
            side.calls(2)
            side.receipts.clear()
            side.outputs.clear()
            for part, action in (
                ("transfers", lambda s=side: s.transfers(args.transfers)),
                ("calls", lambda s=side: s.calls(args.calls)),
            ):
                cpu, wall = timed(action)
                key = (kind, part)
                if key not in best or cpu < best[key][0]:
                    best[key] = (cpu, wall)
            outcome = (side.receipts, side.outputs, side.balances())
            if outcomes.setdefault(kind, outcome) != outcome:
                raise SystemExit(f"{kind}: rounds disagree")
            if side.jit is not None:
                stats = side.jit.stats()
                side.jit.close()
                if not stats.lookup_hits:
                    raise SystemExit("the JIT side ran no native code")
    if outcomes["stock"] != outcomes["jit"]:
        raise SystemExit("stock and JIT outcomes differ")
    assert all(status == 1 for status, _gas in outcomes["stock"][0])
    for part, count in (("transfers", args.transfers), ("calls", args.calls)):
        stock, jit = best[("stock", part)], best[("jit", part)]
        print(
            f"{count} {part}: stock {stock[0]:.3f} s CPU ({stock[1]:.3f} s wall), "
            f"JIT {jit[0]:.3f} s CPU ({jit[1]:.3f} s wall): {stock[0] / jit[0]:.2f}x"
        )
    print("same receipts (status, gas used), call results and balances on both sides")
    load = "; ".join(
        f"{when} {', '.join(f'{x:.2f}' for x in values)}"
        for when, values in (("before", load_before), ("after", os.getloadavg()))
    )
    print(f"load average (1, 5, 15 min): {load} ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
