"""A user's web3 script, unchanged by the JIT: deploy the fixture token, transfer it around,
print (as JSON) the receipts, balances and state roots, and what the chain backend is.

Run as `python web3_token_script.py`; with `ETHEREUM_TESTER_CHAIN_BACKEND` set to
`pyevm_jit.integrations.eth_tester.JitPyEVMBackend` eth-tester builds that backend instead of
its own, and the output names it and carries its JIT statistics.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from web3 import EthereumTesterProvider, Web3

TOKEN = Path(__file__).resolve().parents[2] / "fixtures" / "contracts" / "Token.json"
TRANSFERS = 24


def _receipt(w3: Web3, tx_hash: Any) -> dict[str, Any]:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    return {
        "status": receipt["status"],
        "gasUsed": receipt["gasUsed"],
        "cumulativeGasUsed": receipt["cumulativeGasUsed"],
        "contractAddress": receipt["contractAddress"],
        "logs": [
            [entry["address"], [t.hex() for t in entry["topics"]], bytes(entry["data"]).hex()]
            for entry in receipt["logs"]
        ],
        "transactionHash": bytes(receipt["transactionHash"]).hex(),
    }


def main() -> None:
    provider = EthereumTesterProvider()
    w3 = Web3(provider)
    owner, alice, bob = w3.eth.accounts[:3]
    artifact = json.loads(TOKEN.read_text(encoding="utf-8"))
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipts = [_receipt(w3, factory.constructor("Jit Token", "JIT", 10**24).transact())]
    token = w3.eth.contract(address=receipts[0]["contractAddress"], abi=artifact["abi"])
    for i in range(TRANSFERS):
        sender, to = [(owner, alice), (alice, bob), (bob, owner)][i % 3]
        amount = 10**21 // (i + 1)
        receipts.append(
            _receipt(w3, token.functions.transfer(to, amount).transact({"from": sender}))
        )
    receipts.append(
        _receipt(w3, token.functions.transfer(owner, 10**30).transact({"from": bob, "gas": 10**5}))
    )
    latest = w3.eth.get_block("latest")
    backend = provider.ethereum_tester.backend
    jit = getattr(backend, "jit_backend", None)
    if jit is not None:
        jit.wait_idle(60)  # what this run compiled reaches the store before the summary
    json.dump(
        {
            "backend": type(backend).__module__ + "." + type(backend).__name__,
            "receipts": receipts,
            "balances": [token.functions.balanceOf(a).call() for a in (owner, alice, bob)],
            "state_roots": [
                bytes(w3.eth.get_block(n)["stateRoot"]).hex() for n in range(latest["number"] + 1)
            ],
            "jit": None if jit is None else jit.stats().as_dict(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
