"""eth-tester (through web3) with `((0, OsakaVM),)`: a contract using CLZ is deployed, called and
transacted, stock and through the JIT, with identical receipts, results and state roots; the
results are what EIP-7939 says. Needs the `web3` extra."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")
pytest.importorskip("web3", reason="web3 not installed (pip install -e '.[web3]')")

from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402
from web3 import EthereumTesterProvider, Web3  # noqa: E402

from pyevm_jit import JitBackend, RuntimeConfig  # noqa: E402
from pyevm_jit.integrations import eth_tester as integration  # noqa: E402
from pyevm_jit.osaka import OsakaVM  # noqa: E402
from pyevm_jit.osaka.constants import TX_MAX_GAS_LIMIT  # noqa: E402
from pyevm_jit.testing.assembler import asm  # noqa: E402

OSAKA = ((0, OsakaVM),)

#: clz(uint256 x) returns (uint256): whatever the selector, CLZ of the first argument, stored
#: in slot 0, logged (LOG1, topic 0xc12) and returned
RUNTIME = asm(
    4, "CALLDATALOAD", "CLZ", "DUP1", 0, "SSTORE",
    0, "MSTORE", 0xC12, 32, 0, "LOG1", 32, 0, "RETURN",
)  # fmt: skip
INIT = asm(len(RUNTIME), "DUP1", 11, 0, "CODECOPY", 0, "RETURN")
assert len(INIT) == 11  # the runtime follows the init code
BYTECODE = "0x" + (INIT + RUNTIME).hex()
ABI = [
    {
        "type": "function",
        "name": "clz",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "x", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


@pytest.fixture(scope="module")
def jit() -> Iterator[JitBackend]:
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        yield backend
    finally:
        backend.close()


def _receipt(w3: Web3, tx_hash: Any) -> dict[str, Any]:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    return {
        "status": receipt["status"],
        "gasUsed": receipt["gasUsed"],
        "cumulativeGasUsed": receipt["cumulativeGasUsed"],
        "contractAddress": receipt["contractAddress"],
        "logs": [
            (e["address"], [bytes(t) for t in e["topics"]], bytes(e["data"]))
            for e in receipt["logs"]
        ],  # fmt: skip
    }


def run_scenario(backend: Any) -> dict[str, Any]:
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    owner = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    record: dict[str, Any] = {"deploy_estimate": factory.constructor().estimate_gas()}
    deployed = _receipt(w3, factory.constructor().transact({"from": owner}))
    record["deploy"] = deployed
    contract = w3.eth.contract(address=deployed["contractAddress"], abi=ABI)
    values = (0, 1, 0xFF, 2**255 - 1, 2**255, 2**256 - 1)
    record["calls"] = [contract.functions.clz(x).call() for x in values]
    record["estimate"] = contract.functions.clz(1).estimate_gas({"from": owner})
    record["receipts"] = [
        _receipt(w3, contract.functions.clz(x).transact({"from": owner})) for x in (1, 0, 2**255)
    ]
    record["slot0"] = bytes(w3.eth.get_storage_at(contract.address, 0))
    latest = w3.eth.get_block("latest")
    record["block"] = (latest["number"], latest["gasUsed"], bytes(latest["stateRoot"]))
    return record


def test_calls_and_estimates_ask_for_at_most_the_gas_cap() -> None:
    """eth-tester calls and estimates with the block's gas (60M here): under Osaka they run
    with the EIP-7825 cap; a transaction over it is rejected."""
    from eth_tester.exceptions import ValidationError as TesterValidationError
    from eth_utils import ValidationError

    backend = PyEVMBackend(vm_configuration=OSAKA)
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    assert w3.eth.get_block("latest")["gasLimit"] > TX_MAX_GAS_LIMIT
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact())
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=ABI)
    assert contract.functions.clz(3).call() == 254
    assert contract.functions.clz(3).estimate_gas() < TX_MAX_GAS_LIMIT
    with pytest.raises((ValidationError, TesterValidationError), match="EIP-7825"):
        contract.functions.clz(3).transact({"gas": TX_MAX_GAS_LIMIT + 1})


def test_clz_contract_stock_and_jit(jit: JitBackend) -> None:
    stock = run_scenario(PyEVMBackend(vm_configuration=OSAKA))
    before = jit.stats().lookup_hits
    jitted = run_scenario(integration.jit_pyevm_backend(jit, vm_configuration=OSAKA))
    assert jit.stats().lookup_hits > before  # compiled code ran
    assert stock.keys() == jitted.keys()
    for key in stock:
        assert jitted[key] == stock[key], key
    # EIP-7939: the number of leading zero bits, 256 for zero
    assert stock["calls"] == [256, 255, 248, 1, 0, 0]
    assert [r["status"] for r in stock["receipts"]] == [1, 1, 1]
    assert [r["logs"][0][2] for r in stock["receipts"]] == [
        n.to_bytes(32, "big") for n in (255, 256, 0)
    ]
    assert stock["slot0"] == bytes(32)  # the last transaction stored clz(2**255) = 0


def test_clz_is_invalid_before_osaka() -> None:
    from eth.vm.forks import PragueVM
    from eth_tester.exceptions import TransactionFailed

    backend = PyEVMBackend(vm_configuration=((0, PragueVM),))
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact())
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=ABI)
    with pytest.raises(TransactionFailed, match="Invalid opcode 0x1e"):
        contract.functions.clz(1).call()


def test_a_call_may_come_from_a_contract() -> None:
    """EIP-3607 makes a transaction from a contract invalid; a call (eth_call's `from`) is
    no transaction and stays allowed, as under py-evm's Prague (the contract is funded: a call
    still needs a sender that can pay its gas, in both forks)."""
    backend = PyEVMBackend(vm_configuration=OSAKA)
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    factory = w3.eth.contract(abi=ABI, bytecode=BYTECODE)
    deploy = factory.constructor().transact({"value": 10**18})
    receipt = w3.eth.wait_for_transaction_receipt(deploy)
    contract = w3.eth.contract(address=receipt["contractAddress"], abi=ABI)
    assert contract.functions.clz(1).call({"from": contract.address}) == 255
