"""web3.py + eth-tester on JIT VMs (`pyevm_jit.integrations.eth_tester`) against stock.

The same scenario (deploy a token and a compute-heavy contract, transactions, calls, gas
estimates, reverts) runs through web3's `EthereumTesterProvider` on a stock `PyEVMBackend` and
on `jit_pyevm_backend(...)` in this process; balances, return values, receipts, logs, errors
and state roots must be identical, and the JIT backend must have run native code. Needs the
`web3` extra (`pip install -e '.[web3]'`); skipped otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")
pytest.importorskip("web3", reason="web3 not installed (pip install -e '.[web3]')")

from eth.vm.forks import CancunVM, PragueVM, ShanghaiVM  # noqa: E402
from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402
from eth_tester.backends.pyevm.utils import is_supported_pyevm_version_available  # noqa: E402
from eth_tester.exceptions import TransactionFailed  # noqa: E402
from web3 import EthereumTesterProvider, Web3  # noqa: E402
from web3.exceptions import ContractCustomError, ContractLogicError  # noqa: E402
from web3.types import Wei  # noqa: E402

from pyevm_jit import JitBackend, RuntimeConfig  # noqa: E402
from pyevm_jit.integrations import eth_tester as integration  # noqa: E402

if not is_supported_pyevm_version_available():
    pytest.skip("eth-tester does not accept the installed py-evm", allow_module_level=True)

CONTRACTS = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"
SUPPLY = 10**24


def _artifact(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONTRACTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def jit() -> Iterator[JitBackend]:
    """Blocking mode: every contract is compiled on its first message, so native code runs
    from the first call, deterministically."""
    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        yield backend
    finally:
        backend.close()


def _web3(backend: Any) -> tuple[Web3, EthereumTester]:
    tester = EthereumTester(backend)
    return Web3(EthereumTesterProvider(tester)), tester


def _log(entry: Any) -> tuple[Any, ...]:
    # Block hashes differ between two chains (timestamps, eth-tester's random prevrandao);
    # everything else in a log is the same.
    return (
        entry["address"],
        tuple(bytes(topic) for topic in entry["topics"]),
        bytes(entry["data"]),
        entry["logIndex"],
        entry["transactionIndex"],
        entry["blockNumber"],
    )


def _receipt(w3: Web3, tx_hash: Any) -> dict[str, Any]:
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    return {
        "status": receipt["status"],
        "gasUsed": receipt["gasUsed"],
        "cumulativeGasUsed": receipt["cumulativeGasUsed"],
        "contractAddress": receipt["contractAddress"],
        "logs": [_log(entry) for entry in receipt["logs"]],
        "transactionHash": bytes(receipt["transactionHash"]),
    }


def _error(call: Any) -> tuple[str, Any]:
    """What a reverting call raises, as comparable data (the exception must be raised)."""
    try:
        call()
    except ContractCustomError as exc:
        return ("custom", exc.data)
    except ContractLogicError as exc:
        return ("logic", str(exc))
    except TransactionFailed as exc:  # web3's eth-tester provider, estimating a custom error
        return ("failed", str(exc))
    raise AssertionError("the call did not revert")


def run_scenario(w3: Web3) -> dict[str, Any]:
    """Deploy, transact, call and estimate through web3; return everything observable."""
    record: dict[str, Any] = {}
    accounts = list(w3.eth.accounts)
    owner, alice, bob = accounts[0], accounts[1], accounts[2]
    token_art, compute_art = _artifact("Token"), _artifact("Compute")

    token_factory = w3.eth.contract(abi=token_art["abi"], bytecode=token_art["bytecode"])
    deploy = token_factory.constructor("Jit Token", "JIT", SUPPLY)
    record["token_deploy_estimate"] = deploy.estimate_gas({"from": owner})
    receipt = _receipt(w3, deploy.transact({"from": owner}))
    record["token_deploy"] = receipt
    token = w3.eth.contract(address=receipt["contractAddress"], abi=token_art["abi"])

    compute_factory = w3.eth.contract(abi=compute_art["abi"], bytecode=compute_art["bytecode"])
    receipt = _receipt(w3, compute_factory.constructor().transact({"from": alice}))
    record["compute_deploy"] = receipt
    compute = w3.eth.contract(address=receipt["contractAddress"], abi=compute_art["abi"])

    # Token transactions, calls and estimates.
    transfers = []
    for i, (sender, to, amount) in enumerate(
        [(owner, alice, 10**21), (owner, bob, 3 * 10**20), (alice, bob, 12345), (bob, owner, 7)]
    ):
        fn = token.functions.transfer(to, amount + i)
        transfers.append(
            (
                fn.call({"from": sender}),
                fn.estimate_gas({"from": sender}),
                _receipt(w3, fn.transact({"from": sender})),
            )
        )
    record["transfers"] = transfers
    record["approve"] = _receipt(
        w3, token.functions.approve(bob, 5 * 10**18).transact({"from": alice})
    )
    transfer_from = token.functions.transferFrom(alice, owner, 10**18)
    record["transfer_from_estimate"] = transfer_from.estimate_gas({"from": bob})
    record["transfer_from"] = _receipt(w3, transfer_from.transact({"from": bob}))
    record["allowance"] = token.functions.allowance(alice, bob).call()
    record["token_balances"] = [token.functions.balanceOf(a).call() for a in (owner, alice, bob)]
    record["token_meta"] = (
        token.functions.name().call(),
        token.functions.symbol().call(),
        token.functions.decimals().call(),
        token.functions.totalSupply().call(),
    )
    record["overdraw"] = _error(lambda: token.functions.transfer(owner, 10**30).call({"from": bob}))
    record["overdraw_estimate"] = _error(
        lambda: token.functions.transfer(owner, 10**30).estimate_gas({"from": bob})
    )
    record["over_allowance"] = _error(
        lambda: token.functions.transferFrom(alice, bob, 10**19).call({"from": bob})
    )
    # A reverting transaction is mined with status 0 (gas given, so web3 does not estimate).
    record["failed_transfer"] = _receipt(
        w3, token.functions.transfer(owner, 10**30).transact({"from": bob, "gas": 100_000})
    )
    transfer_events = token.events.Transfer().get_logs(from_block=0)
    record["transfer_events"] = [
        (e["args"]["from"], e["args"]["to"], e["args"]["value"], e["blockNumber"])
        for e in transfer_events
    ]

    # Compute-heavy calls, estimates and transactions.
    record["calls"] = [
        compute.functions.fib(300).call(),
        bytes(compute.functions.hashChain(b"\x11" * 32, 200).call()),
        compute.functions.countPrimes(2000).call(),
        compute.functions.powmod(3, 2**200 + 12345, 2**255 - 19).call(),
        compute.functions.half(1234).call(),
    ]
    record["half_odd"] = _error(lambda: compute.functions.half(1235).call())
    record["powmod_zero"] = _error(lambda: compute.functions.powmod(2, 3, 0).call())
    runs = []
    for n, width in [(60, 4), (100, 9), (31, 0)]:
        fn = compute.functions.run(n, width)
        runs.append(
            (
                fn.call({"from": bob}),
                fn.estimate_gas({"from": bob}),
                _receipt(w3, fn.transact({"from": bob})),
            )
        )
    record["runs"] = runs
    record["compute_state"] = (
        compute.functions.lastResult().call(),
        compute.functions.runs().call(),
        [compute.functions.table(i).call() for i in range(10)],
    )
    record["computed_events"] = [
        (e["args"]["caller"], e["args"]["n"], e["args"]["result"])
        for e in compute.events.Computed().get_logs(from_block=0)
    ]

    # Ether: a plain transfer, then every balance and nonce.
    record["ether"] = _receipt(
        w3, w3.eth.send_transaction({"from": alice, "to": bob, "value": Wei(10**17)})
    )
    record["balances"] = [w3.eth.get_balance(a) for a in w3.eth.accounts]
    record["nonces"] = [w3.eth.get_transaction_count(a) for a in w3.eth.accounts]
    record["code"] = [bytes(w3.eth.get_code(c.address)) for c in (token, compute)]
    latest = w3.eth.get_block("latest")
    record["block"] = (latest["number"], latest["gasUsed"], bytes(latest["stateRoot"]))
    record["state_roots"] = [
        bytes(w3.eth.get_block(n)["stateRoot"]) for n in range(latest["number"] + 1)
    ]
    return record


def _compare(stock: dict[str, Any], jitted: dict[str, Any]) -> None:
    assert stock.keys() == jitted.keys()
    for key in stock:
        assert jitted[key] == stock[key], key


@pytest.fixture(scope="module")
def stock_record() -> dict[str, Any]:
    w3, _ = _web3(PyEVMBackend())
    return run_scenario(w3)


def test_scenario_matches_stock_and_runs_native(
    jit: JitBackend, stock_record: dict[str, Any]
) -> None:
    before = jit.stats().lookup_hits
    backend = integration.jit_pyevm_backend(jit)
    assert isinstance(backend, PyEVMBackend)
    assert backend.jit_backend is jit
    w3, _ = _web3(backend)
    record = run_scenario(w3)
    _compare(stock_record, record)
    assert jit.stats().lookup_hits > before
    # eth-tester's default schedule, with its VM classes replaced by JIT subclasses of them.
    vm_classes = [vm for _, vm in type(backend.chain).vm_configuration]
    stock_classes = [vm for _, vm in type(PyEVMBackend().chain).vm_configuration]
    assert len(vm_classes) == len(stock_classes)
    for vm_class, stock_class in zip(vm_classes, stock_classes, strict=True):
        assert vm_class is not stock_class and issubclass(vm_class, stock_class)


def test_default_backend(stock_record: dict[str, Any]) -> None:
    backend = integration.jit_pyevm_backend()
    assert backend.jit_backend is integration.default_backend()
    assert backend.jit_backend.stats().enabled
    w3, _ = _web3(backend)
    _compare(stock_record, run_scenario(w3))


def test_vm_configuration(jit: JitBackend) -> None:
    # Fork transitions in the middle of the scenario (the contracts are compiled for Shanghai).
    vm_configuration = ((0, ShanghaiVM), (4, CancunVM), (9, PragueVM))
    stock = run_scenario(_web3(PyEVMBackend(vm_configuration=vm_configuration))[0])
    before = jit.stats().lookup_hits
    backend = integration.jit_pyevm_backend(jit, vm_configuration=vm_configuration)
    _compare(stock, run_scenario(_web3(backend)[0]))
    assert jit.stats().lookup_hits > before
    blocks = [block for block, _ in type(backend.chain).vm_configuration]
    assert blocks == [block for block, _ in vm_configuration]


def test_reset_and_snapshots_keep_jit_vms(jit: JitBackend, stock_record: dict[str, Any]) -> None:
    backend = integration.jit_pyevm_backend(jit)
    w3, tester = _web3(backend)
    snapshot = tester.take_snapshot()
    accounts = list(w3.eth.accounts)
    sender, to = accounts[0], accounts[1]
    for value in (1, 2, 3):
        w3.eth.send_transaction({"from": sender, "to": to, "value": Wei(value)})
    tester.revert_to_snapshot(snapshot)
    assert w3.eth.block_number == 0
    assert w3.eth.get_transaction_count(sender) == 0
    tester.reset_to_genesis()
    before = jit.stats().lookup_hits
    _compare(stock_record, run_scenario(w3))
    assert jit.stats().lookup_hits > before


def test_jit_vms_given_are_kept(jit: JitBackend) -> None:
    first = integration.jit_pyevm_backend(jit, vm_configuration=((0, CancunVM),))
    configuration = type(first.chain).vm_configuration
    # eth-tester amends the classes it is given (consensus); the JIT classes stay JIT classes.
    second = integration.jit_pyevm_backend(jit, vm_configuration=configuration)
    for (_, given), (_, used) in zip(
        configuration, type(second.chain).vm_configuration, strict=True
    ):
        assert issubclass(used, given)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="JitBackend"):
        integration.jit_pyevm_backend("not a backend")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="block number, VM class"):
        integration.jit_pyevm_backend(vm_configuration=[(0, "CancunVM")])  # type: ignore[list-item]


def test_missing_eth_tester_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    integration.jit_pyevm_backend_class.cache_clear()
    monkeypatch.setitem(sys.modules, "eth_tester", None)
    try:
        with pytest.raises(ImportError, match=r"pyevm-jit\[web3\]"):
            integration.jit_pyevm_backend_class()
    finally:
        monkeypatch.undo()
        integration.jit_pyevm_backend_class.cache_clear()
