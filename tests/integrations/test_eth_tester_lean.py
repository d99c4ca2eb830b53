"""What `jit_pyevm_backend` does once that eth-tester does again: blocks, signing keys.

Blocks: eth-tester's chain on JIT VMs builds each block once per header (lean/block.py).

The same transfers go through eth-tester's API on a stock `PyEVMBackend` and on
`jit_pyevm_backend(...)`: every block (its transactions and roots, gas used, bloom) and every
receipt eth-tester serves must be identical (mix hashes are random in eth-tester's mining, so
block hashes differ between the chains: within each, a block served by number is served the
same by its hash), and the JIT chain's VMs must have answered from kept blocks. A VM class of
the user's schedule with a `get_block` of its own keeps it.

Signing keys: `JitPyEVMBackend._key_lookup` is PyEVMBackend's mapping, derived once per
`account_keys` tuple (a new account is seen), a new dict each time; a getter patched on
PyEVMBackend, or a subclass's own, runs as written.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("eth_tester", reason="eth-tester not installed (pip install -e '.[web3]')")

from eth.vm.base import VM  # noqa: E402
from eth.vm.forks import CancunVM  # noqa: E402
from eth_tester import EthereumTester, PyEVMBackend  # noqa: E402
from eth_tester.backends.pyevm.utils import is_supported_pyevm_version_available  # noqa: E402

from pyevm_jit import JitBackend, RuntimeConfig  # noqa: E402
from pyevm_jit.integrations.eth_tester import jit_pyevm_backend  # noqa: E402
from pyevm_jit.lean.block import block_cache_stats  # noqa: E402

if not is_supported_pyevm_version_available():
    pytest.skip("eth-tester does not accept the installed py-evm", allow_module_level=True)

BLOCK_FIELDS = ("number", "transactions", "state_root", "receipts_root", "transactions_root",
                "gas_used", "logs_bloom", "base_fee_per_gas")  # fmt: skip


def _scenario(tester: EthereumTester) -> tuple[list[Any], list[Any]]:
    accounts = tester.get_accounts()
    hashes = []
    for i in range(6):
        hashes.append(
            tester.send_transaction(
                {"from": accounts[0], "to": accounts[1 + i % 3], "value": 10 + i, "gas": 21000}
            )
        )
    blocks = []
    for number in range(tester.get_block_by_number("latest")["number"] + 1):
        block = tester.get_block_by_number(number)
        assert tester.get_block_by_hash(block["hash"]) == block
        blocks.append({field: block[field] for field in BLOCK_FIELDS})
    receipts = [tester.get_transaction_receipt(h) for h in hashes]
    for receipt in receipts:
        receipt.pop("block_hash")
    return blocks, receipts


def test_same_blocks_and_receipts_as_stock() -> None:
    jit = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        before = block_cache_stats()
        stock = _scenario(EthereumTester(PyEVMBackend()))
        backend = jit_pyevm_backend(jit)
        assert type(backend.chain.get_vm()).get_block is not VM.get_block
        assert _scenario(EthereumTester(backend)) == stock
        after = block_cache_stats()
        assert after["hits"] > before["hits"] and after["fallbacks"] == before["fallbacks"]
    finally:
        jit.close()


def test_a_vm_with_its_own_get_block_keeps_it() -> None:
    calls: list[int] = []

    class OwnGetBlock(CancunVM):
        def get_block(self) -> Any:
            calls.append(1)
            return super().get_block()

    jit = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        backend = jit_pyevm_backend(jit, vm_configuration=((0, OwnGetBlock),))
        vm = backend.chain.get_vm()
        assert type(vm).get_block is OwnGetBlock.get_block
        tester = EthereumTester(backend)
        tester.send_transaction(
            {"from": tester.get_accounts()[0], "to": tester.get_accounts()[1], "value": 1,
             "gas": 21000}
        )  # fmt: skip
        assert calls
    finally:
        jit.close()


def _jit_tester(jit: JitBackend, backend_class: Any = None) -> Any:
    if backend_class is None:
        return jit_pyevm_backend(jit)
    return backend_class(jit_backend=jit)


def test_key_lookup_is_py_evm_backends_mapping_kept_per_account_keys() -> None:
    jit = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        backend = _jit_tester(jit)
        expected = PyEVMBackend()._key_lookup
        first = backend._key_lookup
        assert first == expected and len(first) == 10
        first.clear()  # a caller's copy: the kept mapping is not touched
        assert backend._key_lookup == expected
        assert backend._key_lookup is not backend._key_lookup
        keys = backend.account_keys
        assert backend.__dict__["_jit_key_lookup"][0] is keys
        backend.add_account(b"\x05" * 32)  # a new account_keys tuple: derived again
        lookup = backend._key_lookup
        assert len(lookup) == 11 and lookup == {
            k.public_key.to_canonical_address(): k for k in backend.account_keys
        }
        tester = EthereumTester(backend)
        new_account = tester.get_accounts()[-1]
        tester.send_transaction(
            {"from": tester.get_accounts()[0], "to": new_account, "value": 10**18, "gas": 21000}
        )
        tester.send_transaction(  # signed with the added key, found through the new mapping
            {"from": new_account, "to": tester.get_accounts()[0], "value": 1, "gas": 21000}
        )
    finally:
        jit.close()


def test_key_lookup_patched_or_overridden_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyevm_jit.integrations.eth_tester import jit_pyevm_backend_class

    jit = JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    try:
        calls: list[str] = []
        stock_getter = vars(PyEVMBackend)["_key_lookup"].fget

        class Own(jit_pyevm_backend_class()):  # type: ignore[misc]
            @property
            def _key_lookup(self) -> Any:
                calls.append("own")
                return stock_getter(self)

        own = _jit_tester(jit, Own)
        expected = PyEVMBackend()._key_lookup
        assert own._key_lookup == expected and own._key_lookup == expected
        assert calls == ["own", "own"]

        def patched(self: Any) -> Any:
            calls.append("patched")
            return stock_getter(self)

        backend = _jit_tester(jit)
        assert backend._key_lookup == expected  # kept before the patch
        monkeypatch.setattr(PyEVMBackend, "_key_lookup", property(patched))
        assert backend._key_lookup == expected
        assert calls == ["own", "own", "patched"]
    finally:
        jit.close()
