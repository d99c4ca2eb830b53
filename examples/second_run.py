"""The persistent cache, measured: a script that deploys a contract and calls it a few times,
run twice with the default configuration, against the stock interpreter.

    python examples/second_run.py [--calls N] [--n N]

Three fresh processes run the same script: stock py-evm VMs; JIT VMs with an empty cache
(the first run: calls are interpreted until the contract is hot, then it is compiled in the
background and stored); JIT VMs again with the cache the first run left (the second run: the
stored program is used from the first call). The cache is a temporary folder
(`PYEVM_JIT_STORE`), so your own cache is left alone.

`python examples/second_run.py --child stock|jit` runs one side in this process.
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
from typing import Any, cast

from eth import constants
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks import CancunVM
from eth_hash.auto import keccak
from eth_keys import keys
from eth_typing import Address
from eth_utils import to_wei

CONTRACT = Path(__file__).resolve().parents[1] / "fixtures" / "contracts" / "Compute.json"
SENDER_KEY = keys.PrivateKey(b"\x01" * 32)
SENDER = Address(SENDER_KEY.public_key.to_canonical_address())


def build_chain(backend: Any) -> MiningChain:
    vm_configuration: tuple[tuple[int, type], ...] = ((0, CancunVM),)
    if backend is not None:
        from pyevm_jit import jit_vm_configuration

        vm_configuration = jit_vm_configuration(vm_configuration, backend)
    chain_class = MiningChain.configure(
        __name__="SecondRunChain", vm_configuration=vm_configuration, chain_id=1337
    )
    genesis = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": constants.ZERO_ADDRESS,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": constants.ZERO_HASH32,
    }
    state = {SENDER: {"balance": to_wei(1000, "ether"), "nonce": 0, "code": b"", "storage": {}}}
    return cast(MiningChain, chain_class.from_genesis(AtomicDB(), genesis, state))


def send(chain: MiningChain, to: Address, data: bytes) -> bytes:
    vm = chain.get_vm()
    tx = vm.create_unsigned_transaction(
        nonce=vm.state.get_nonce(SENDER),
        gas_price=10**10,
        gas=10_000_000,
        to=to,
        value=0,
        data=data,
    ).as_signed_transaction(SENDER_KEY, chain_id=1337)
    _block, _receipt, computation = chain.apply_transaction(tx)
    computation.raise_if_error()
    return bytes(computation.output)


def child(side: str, calls: int, n: int) -> dict[str, Any]:
    """Deploy and call the contract; the figures of this process as a JSON-able dict."""
    from eth._utils.address import generate_contract_address

    started = time.perf_counter()
    backend = None
    if side == "jit":
        from pyevm_jit import JitBackend, RuntimeConfig

        backend = JitBackend.new(RuntimeConfig(enabled=True))  # the defaults: what users get
    chain = build_chain(backend)
    contract = generate_contract_address(SENDER, 0)
    send(
        chain,
        constants.CREATE_CONTRACT_ADDRESS,
        bytes.fromhex(json.loads(CONTRACT.read_text())["bytecode"].removeprefix("0x")),
    )
    chain.mine_block()
    selector = keccak(b"run(uint256,uint256)")[:4]
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        send(chain, contract, selector + n.to_bytes(32, "big") + (8).to_bytes(32, "big"))
        times.append(time.perf_counter() - t0)
    root = bytes(chain.mine_block().header.state_root).hex()
    figures: dict[str, Any] = {
        "side": side,
        "total": time.perf_counter() - started,
        "first_call": times[0],
        "calls": sum(times),
        "state_root": root,
    }
    if backend is not None:
        s = backend.stats()
        figures.update(
            hits=s.lookup_hits,
            misses=s.lookup_misses,
            compiled=s.compilations_succeeded,
            loaded=s.aot_loaded,
            stored=s.artifacts_stored,
        )
        backend.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="calls of the contract (30)")
    parser.add_argument("--n", type=int, default=400, help="work per call (400)")
    parser.add_argument("--child", choices=("stock", "jit"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls, args.n)))
        return
    with tempfile.TemporaryDirectory(prefix="pyevm-jit-second-run-") as cache:
        env = dict(os.environ, PYEVM_JIT_STORE=cache)
        runs = []
        for label, side in (("stock", "stock"), ("JIT, 1st run", "jit"), ("JIT, 2nd run", "jit")):
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    side,
                    "--calls",
                    str(args.calls),
                    "--n",
                    str(args.n),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                sys.exit(f"{label} failed:\n{out.stderr}")
            runs.append((label, json.loads(out.stdout.strip().splitlines()[-1])))
    stock = runs[0][1]
    assert all(r["state_root"] == stock["state_root"] for _l, r in runs), "state roots differ"
    print(f"{args.calls} calls of Compute.run({args.n}, 8), each in a fresh process:")
    print(f"{'':14} {'process':>9} {'calls':>8} {'1st call':>9}  native")
    for label, r in runs:
        ratio = stock["calls"] / r["calls"]
        native = (
            f"{r['hits']} messages native, {r['misses']} interpreted, "
            f"{r['compiled']} compiled, {r['loaded']} loaded from the cache"
            if "hits" in r
            else "-"
        )
        print(
            f"{label:14} {r['total']:8.2f}s {r['calls']:7.2f}s {r['first_call'] * 1e3:7.0f}ms"
            f"  {native} ({ratio:.1f}x stock)"
        )


if __name__ == "__main__":
    main()
