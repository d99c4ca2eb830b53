"""Osaka's block rules on OsakaVM: the excess blob gas bounded by the execution base fee
(EIP-7918) under each blob schedule (EIP-7892), and the block size limit (EIP-7934)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun.constants import GAS_PER_BLOB
from eth_utils import ValidationError

from pyevm_jit.osaka import BPO1VM, BPO2VM, OsakaVM
from pyevm_jit.osaka.blobs import OSAKA_BLOB_SCHEDULE, BlobSchedule
from pyevm_jit.osaka.constants import BLOB_BASE_COST, MAX_RLP_BLOCK_SIZE
from pyevm_jit.osaka.vm import block_size

TARGET = OSAKA_BLOB_SCHEDULE.target_blob_gas  # 6 blobs
MAX = OSAKA_BLOB_SCHEDULE.max_blob_gas  # 9 blobs


class Parent:
    def __init__(self, excess: int, used: int, base_fee: int) -> None:
        self.excess_blob_gas, self.blob_gas_used, self.base_fee_per_gas = excess, used, base_fee


def test_excess_blob_gas_from_the_eip_text() -> None:
    s = OSAKA_BLOB_SCHEDULE
    # below the target: no excess, whatever the base fee
    assert s.excess_blob_gas(Parent(0, TARGET - GAS_PER_BLOB, 10**12)) == 0
    # blob fee (1 wei/gas) above BLOB_BASE_COST * base fee / GAS_PER_BLOB: EIP-4844's rule
    assert s.excess_blob_gas(Parent(0, MAX, 1)) == MAX - TARGET
    # execution dominates (8192 * 100 > 131072 * 1): excess grows by used * (9 - 6) / 9
    assert BLOB_BASE_COST * 100 > GAS_PER_BLOB * s.blob_base_fee(0)
    assert s.excess_blob_gas(Parent(0, MAX, 100)) == MAX * 3 // 9
    assert s.excess_blob_gas(Parent(5 * TARGET, TARGET, 100)) == 5 * TARGET + TARGET * 3 // 9
    # a parent before Cancun has no blob fields
    assert s.excess_blob_gas(object()) == 0


@pytest.mark.parametrize(
    ("vm_class", "fork"), [(OsakaVM, "osaka"), (BPO1VM, "bpo1"), (BPO2VM, "bpo2")]
)
def test_excess_blob_gas_matches_the_spec(vm_class: type, fork: str) -> None:
    spec = pytest.importorskip(f"ethereum.forks.{fork}")
    from ethereum_types.bytes import Bytes8, Bytes32, Bytes256
    from ethereum_types.numeric import U64, U256, Uint

    gas = __import__(f"ethereum.forks.{fork}.vm.gas", fromlist=["gas"])
    schedule: BlobSchedule = vm_class.blob_schedule
    zero = Bytes32(b"\x00" * 32)
    excesses = [0, GAS_PER_BLOB, schedule.target_blob_gas, 10**7, 10**8]
    used = [0, GAS_PER_BLOB, schedule.target_blob_gas, schedule.max_blob_gas]
    base_fees = [0, 1, 7, 16, 17, 10**3, 10**9, 10**12]
    for excess, blob_gas, base_fee in itertools.product(excesses, used, base_fees):
        header = spec.blocks.Header(
            parent_hash=zero, ommers_hash=zero, coinbase=spec.fork_types.Address(b"\x00" * 20),
            state_root=zero, transactions_root=zero, receipt_root=zero,
            bloom=Bytes256(b"\x00" * 256), difficulty=Uint(0), number=Uint(1),
            gas_limit=Uint(30_000_000), gas_used=Uint(0), timestamp=U256(1), extra_data=b"",
            prev_randao=zero, nonce=Bytes8(b"\x00" * 8), base_fee_per_gas=Uint(base_fee),
            withdrawals_root=zero, blob_gas_used=U64(blob_gas), excess_blob_gas=U64(excess),
            parent_beacon_block_root=zero, requests_hash=zero,
        )  # fmt: skip
        expected = int(gas.calculate_excess_blob_gas(header))
        assert schedule.excess_blob_gas(Parent(excess, blob_gas, base_fee)) == expected
        assert schedule.blob_base_fee(excess) == int(gas.calculate_blob_gas_price(U64(excess)))


def test_header_from_parent_uses_the_osaka_rule() -> None:
    genesis = OsakaVM.create_genesis_header(gas_limit=30_000_000, timestamp=1, difficulty=0)
    parent = genesis.copy(excess_blob_gas=0, blob_gas_used=MAX, base_fee_per_gas=100)
    child = OsakaVM.create_header_from_parent(parent, timestamp=13)
    assert child.excess_blob_gas == MAX * 3 // 9  # Prague's rule would give MAX - TARGET


def _chain() -> MiningChain:
    chain_class = MiningChain.configure(__name__="OsakaChain", vm_configuration=((0, OsakaVM),))
    genesis = {"difficulty": 0, "gas_limit": 30_000_000, "timestamp": 1, "nonce": b"\x00" * 8}
    return chain_class.from_genesis(AtomicDB(), genesis)  # type: ignore[no-any-return]


def _block_of_size(chain: MiningChain, size: int) -> object:
    """A block after genesis whose RLP encoding is `size` bytes (padded with one withdrawal-free
    transaction of the right calldata length; validity beyond the size is not the point)."""
    vm = chain.get_vm()
    base = vm.get_block()
    builder = vm.get_transaction_builder()

    def block_with(data_length: int) -> object:
        tx = builder.new_transaction(
            nonce=0, gas_price=1, gas=21_000, to=b"\x11" * 20, value=0,
            data=b"\x01" * data_length, v=27, r=1, s=1,
        )  # fmt: skip
        return base.copy(transactions=[tx])

    length = size - block_size(block_with(0))
    for _ in range(8):  # RLP length prefixes grow with the data: settle on the exact size
        block = block_with(length)
        length += size - block_size(block)
    assert block_size(block) == size
    return block


def test_block_size_limit() -> None:
    chain = _chain()
    vm = chain.get_vm()
    with pytest.raises(ValidationError, match="EIP-7934"):
        vm.validate_block(_block_of_size(chain, MAX_RLP_BLOCK_SIZE + 1))
    with pytest.raises(ValidationError) as at_limit:  # fails later, for its fake transaction
        vm.validate_block(_block_of_size(chain, MAX_RLP_BLOCK_SIZE))
    assert "EIP-7934" not in str(at_limit.value)


def test_blob_base_fee_follows_each_forks_schedule() -> None:
    """EIP-7892: at the same excess blob gas the BPO forks' larger update fractions give a lower
    blob base fee; a blob transaction paying exactly BPO1's fee is valid there, not in Osaka."""
    from dataclasses import replace

    from osaka_cases import ENV, tx_case

    from pyevm_jit.testing.osaka_spec import run_pyevm, run_spec, spec_available

    excess = 10_000_000
    fees = {vm.fork: vm.blob_schedule.blob_base_fee(excess) for vm in (OsakaVM, BPO1VM, BPO2VM)}
    assert fees["osaka"] > fees["bpo1"] > fees["bpo2"]
    case = tx_case(
        b"", blob_hashes=[b"\x01" * 32], env=replace(ENV, excess_blob_gas=excess),
        max_fee_per_blob_gas=fees["bpo1"],
    )  # fmt: skip
    expected = {"osaka": False, "bpo1": True, "bpo2": True}
    for vm_class in (OsakaVM, BPO1VM, BPO2VM):
        result = run_pyevm(case, vm_class)
        assert result.valid is expected[vm_class.fork], vm_class.fork
        if spec_available():
            assert run_spec(case, vm_class.fork).difference(result) is None


@pytest.mark.parametrize(
    ("vm_class", "fork", "max_blobs"), [(OsakaVM, "osaka", 9), (BPO1VM, "bpo1", 15),
                                        (BPO2VM, "bpo2", 21)],
)  # fmt: skip
def test_block_blob_count_at_and_past_the_schedules_max(
    vm_class: type, fork: str, max_blobs: int
) -> None:
    """EIP-7892: a block holds at most its fork's `max` blobs (in transactions of at most 6,
    EIP-7594); one more is an invalid block. The specification's limit is the same."""
    from types import SimpleNamespace

    from pyevm_jit.osaka.constants import BLOB_COUNT_LIMIT

    assert vm_class.blob_schedule.max_blob_gas == max_blobs * GAS_PER_BLOB
    if (spec_fork := _spec_fork(fork)) is not None:
        assert int(spec_fork.MAX_BLOB_GAS_PER_BLOCK) == max_blobs * GAS_PER_BLOB
    chain_class = MiningChain.configure(__name__="C", vm_configuration=((0, vm_class),))
    genesis = {"difficulty": 0, "gas_limit": 30_000_000, "timestamp": 1, "nonce": b"\x00" * 8}
    chain = chain_class.from_genesis(AtomicDB(), genesis)
    vm = chain.get_vm()
    parent = chain.get_canonical_head()

    def block_with(blobs: int) -> object:
        sizes = [BLOB_COUNT_LIMIT] * (blobs // BLOB_COUNT_LIMIT) + [blobs % BLOB_COUNT_LIMIT]
        txs = [SimpleNamespace(blob_versioned_hashes=[b"\x01" * 32] * n) for n in sizes if n]
        header = vm_class.create_header_from_parent(
            parent, timestamp=13, blob_gas_used=blobs * GAS_PER_BLOB
        )
        return SimpleNamespace(header=header, transactions=txs)

    vm.validate_block_blobs(block_with(max_blobs))
    with pytest.raises(ValidationError, match="maximum blob gas"):
        vm.validate_block_blobs(block_with(max_blobs + 1))


def _spec_fork(fork: str) -> Any:
    try:
        return __import__(f"ethereum.forks.{fork}.fork", fromlist=["fork"])
    except ImportError:
        return None
