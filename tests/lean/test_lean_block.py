"""The lean `VM.get_block` (pyevm_jit/lean/block.py) against py-evm's, and its fall-backs.

A py-evm MiningChain with Shanghai and Cancun VMs (both `from_header`s py-evm has) is built
twice from the same genesis: with the stock VMs and with `lean_block_vm(jit_vm(...))`. The same
signed transactions (several per block, so blocks carry transactions) are applied and mined on
both; block hashes, headers, receipts and state roots must be identical, and every block the
lean VMs give back must equal the one py-evm's `from_header` builds, with the very header asked
for. A VM class or block class with its own `get_block`/`from_header`, and a `get_block`
patched on py-evm's VM after the class was made, run as written.
"""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.vm.base import VM
from eth.vm.forks import CancunVM, ShanghaiVM
from eth.vm.forks.cancun.blocks import CancunBlock
from eth_keys import keys
from eth_typing import Address
from support import fake_backend, mining_chain

from pyevm_jit.evm.vm import jit_vm
from pyevm_jit.lean import block as lean_block

KEY = keys.PrivateKey(b"\x09" * 32)
SENDER = Address(KEY.public_key.to_canonical_address())
CHAIN_ID = 1337
SCHEDULE = ((0, ShanghaiVM), (3, CancunVM))


def _chain(schedule: Any) -> Any:
    return mining_chain(schedule, SENDER, "BlockChain", CHAIN_ID)


def _run(chain: Any, blocks: int = 5, per_block: int = 3) -> list[Any]:
    """Transfers, `per_block` a block, mined at fixed timestamps; every mined block."""
    mined = []
    for number in range(blocks):
        for i in range(per_block):
            vm = chain.get_vm()
            tx = vm.create_unsigned_transaction(
                nonce=vm.state.get_nonce(SENDER), gas_price=10**10, gas=50_000,
                to=bytes([0x30 + i]) * 20, value=1 + i, data=b"",
            ).as_signed_transaction(KEY, chain_id=CHAIN_ID)  # fmt: skip
            chain.apply_transaction(tx)
            # the pending block as a client reads it between transactions
            assert len(chain.get_block().transactions) == i + 1
        chain.set_header_timestamp(1_700_000_012 + 12 * number)
        mined.append(chain.mine_block(mix_hash=bytes([number + 1]) * 32))
    return mined


def _lean_schedule() -> tuple[tuple[int, type], ...]:
    backend = fake_backend()
    return tuple((n, lean_block.lean_block_vm(jit_vm(vm, backend))) for n, vm in SCHEDULE)


def _snapshot(chain: Any, mined: list[Any]) -> list[Any]:
    out = []
    for block in mined:
        receipts = block.get_receipts(chain.chaindb)
        out.append((block.hash, tuple(block.header), block.transactions, receipts))
    return out


def test_same_blocks_receipts_and_roots_as_stock() -> None:
    stock_chain, lean_chain = _chain(SCHEDULE), _chain(_lean_schedule())
    assert type(lean_chain.get_vm()).get_block is not VM.get_block  # the lean one is in use
    before = lean_block.block_cache_stats()
    stock_mined, lean_mined = _run(stock_chain), _run(lean_chain)
    assert _snapshot(stock_chain, stock_mined) == _snapshot(lean_chain, lean_mined)
    assert [b.header.state_root for b in stock_mined] == [b.header.state_root for b in lean_mined]
    after = lean_block.block_cache_stats()
    assert after["hits"] > before["hits"] and after["fallbacks"] == before["fallbacks"]
    # every block a lean VM builds (fresh VMs, kept blocks) is py-evm's, with the header asked for
    for block in lean_mined:
        stored = lean_chain.get_block_header_by_hash(block.hash)
        for header in (stored, stored, rlp.decode(rlp.encode(stored), sedes=type(stored))):
            vm = lean_chain.get_vm(header)  # the same header, then a new equal one
            got = vm.get_block()
            assert got.header is header
            assert vm.get_block() is got
            expected = type(got).from_header(header=header, chaindb=lean_chain.chaindb)
            assert got == expected and type(got) is type(expected)
            assert got.transactions == expected.transactions and got.hash == block.hash
    assert lean_block.block_cache_stats()["copies"] >= after["copies"] + len(lean_mined)


def test_a_vm_or_block_class_of_its_own_runs_as_written() -> None:
    backend = fake_backend()
    calls: list[str] = []

    class OwnGetBlock(CancunVM):
        def get_block(self) -> Any:
            calls.append("get_block")
            return super().get_block()

    class OwnBlock(CancunBlock):
        @classmethod
        def from_header(cls, header: Any, chaindb: Any) -> Any:
            calls.append("from_header")
            return super().from_header(header, chaindb)

    own_block_vm = CancunVM.configure(__name__="OwnBlockVM", block_class=OwnBlock)
    for vm_class in (OwnGetBlock, own_block_vm):
        jit_class = jit_vm(vm_class, backend)
        assert lean_block.lean_get_block(jit_class) is None
        assert lean_block.lean_block_vm(jit_class) is jit_class
    chain = _chain(((0, lean_block.lean_block_vm(jit_vm(own_block_vm, backend))),))
    for _ in range(3):
        chain.get_vm().get_block()
    assert calls == ["from_header"] * 3


def test_a_get_block_patched_after_the_class_was_made_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = _chain(_lean_schedule())
    chain.get_vm().get_block()  # kept
    original = VM.get_block
    calls: list[Any] = []

    def patched(self: Any) -> Any:
        calls.append(self)
        return original(self)

    monkeypatch.setattr(VM, "get_block", patched)
    before = lean_block.block_cache_stats()["fallbacks"]
    vm = chain.get_vm()
    block = vm.get_block()
    assert calls == [vm] and block.header is vm.get_header()
    assert lean_block.block_cache_stats()["fallbacks"] == before + 1


def test_missing_block_data_raises_as_in_py_evm() -> None:
    from eth.exceptions import BlockNotFound

    chain = _chain(_lean_schedule())
    mined = _run(chain, blocks=1, per_block=1)
    header = mined[0].header.copy(transaction_root=b"\x11" * 32)  # names data nobody wrote
    for _ in range(2):
        with pytest.raises(BlockNotFound):
            chain.get_vm(header).get_block()


def test_a_py_evm_of_other_versions_keeps_its_get_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyevm_jit.lean import guard

    jit_class = jit_vm(CancunVM, fake_backend())
    assert lean_block.lean_get_block(jit_class) is not None
    monkeypatch.setitem(guard.PINNED, "eth.vm.forks.shanghai.blocks:ShanghaiBlock.from_header", "0")
    assert lean_block.lean_get_block(jit_class) is None
    assert lean_block.lean_block_vm(jit_class) is jit_class
