"""The Ethereum execution specification's Osaka as an oracle for `OsakaVM`.

A `TxCase` is one signed transaction, the pre-state it runs on and its block environment, in
plain Python values. `run_spec` executes it on the specification (`ethereum.forks.osaka`,
from the `ethereum-execution` package: the `osaka-spec` extra, needed by tests and tools
only, never at runtime); `run_pyevm` on a py-evm VM class (`OsakaVM`, or `jit_vm(OsakaVM, ...)`).
Both answer a `TxResult`: whether the transaction is valid, the post-state root, the hash of
its logs and the gas it used; `difference` tells two results apart.

Like a state test, only the transaction is applied: no block-level system calls, no rewards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyevm_jit.conformance.statetx import CHAIN_ID, EMPTY_LOGS_HASH, logs_hash
from pyevm_jit.testing.account import Account
from pyevm_jit.testing.block import BlockEnv


class SpecUnavailable(RuntimeError):
    """The specification package is not installed."""


class SpecCannotRun(Exception):
    """The specification cannot run this case (the reason is the message)."""


@dataclass(frozen=True)
class TxCase:
    name: str
    pre: Mapping[bytes, Account]
    env: BlockEnv
    tx: bytes  # the signed transaction's encoding (RLP list, or type byte + payload)
    #: storage slots whose values after the transaction the results also carry (and compare)
    probe: Sequence[tuple[bytes, int]] = ()


@dataclass(frozen=True)
class TxResult:
    valid: bool
    state_root: bytes
    logs_hash: bytes
    gas_used: int
    reason: str = ""  # why the transaction is invalid (not compared)
    probed: tuple[int, ...] = ()  # the values of the case's `probe` slots afterwards

    def difference(self, other: TxResult) -> str | None:
        """None when both results agree on validity, state root, logs and gas used."""
        if self.valid != other.valid:
            return f"valid {self.valid} ({self.reason}) vs {other.valid} ({other.reason})"
        if self.state_root != other.state_root:
            return f"state root 0x{self.state_root.hex()} vs 0x{other.state_root.hex()}"
        if self.logs_hash != other.logs_hash:
            return f"logs hash 0x{self.logs_hash.hex()} vs 0x{other.logs_hash.hex()}"
        if self.gas_used != other.gas_used:
            return f"gas used {self.gas_used} vs {other.gas_used}"
        if self.probed != other.probed:
            return f"probed storage {self.probed} vs {other.probed}"
        return None


def spec_available() -> bool:
    try:
        import ethereum.forks.osaka.fork  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The specification


def _accounts(case: TxCase) -> list[tuple[bytes, Account]]:
    """The pre-state's accounts that are not empty."""
    return [(address, account) for address, account in case.pre.items() if not account.empty]


#: the specification's forks a case can run on (`OsakaVM.fork` and the BPO forks' ids)
SPEC_FORKS = ("osaka", "bpo1", "bpo2")


def run_spec(case: TxCase, fork_id: str = "osaka") -> TxResult:
    """The case executed by the specification's Osaka (or `fork_id`, one of SPEC_FORKS).
    Raises SpecUnavailable without the package, SpecCannotRun when the specification fails on
    the case itself."""
    if fork_id not in SPEC_FORKS:
        raise ValueError(f"no specification fork {fork_id!r} here (known: {SPEC_FORKS})")
    try:
        import importlib

        from ethereum.exceptions import EthereumException

        package = f"ethereum.forks.{fork_id}"
        fork = importlib.import_module(f"{package}.fork")
        state = importlib.import_module(f"{package}.state")
        vm = importlib.import_module(f"{package}.vm")
        SpecAccount = importlib.import_module(f"{package}.fork_types").Account
        transactions = importlib.import_module(f"{package}.transactions")
        LegacyTransaction = transactions.LegacyTransaction
        decode_transaction = transactions.decode_transaction
        from ethereum_rlp import rlp
        from ethereum_rlp.exceptions import DecodingError
        from ethereum_types.bytes import Bytes, Bytes20, Bytes32
        from ethereum_types.numeric import U64, U256, Uint
    except ImportError as exc:
        raise SpecUnavailable(
            f"the execution specification is not installed ({exc}): "
            "pip install 'pyevm-jit[osaka-spec]'"
        ) from None

    try:
        world = state.State()
        for address, account in _accounts(case):
            state.set_account(
                world,
                Bytes20(address),
                SpecAccount(
                    nonce=Uint(account.nonce), balance=U256(account.balance), code=account.code
                ),
            )
            for slot, value in account.storage.items():
                if value:
                    state.set_storage(
                        world, Bytes20(address), Bytes32(slot.to_bytes(32, "big")), U256(value)
                    )
        pre_root = bytes(state.state_root(world))
        env = case.env
        block_env = vm.BlockEnvironment(
            chain_id=U64(CHAIN_ID),
            state=world,
            block_gas_limit=Uint(env.gas_limit),
            block_hashes=[Bytes32(h) for h in reversed(env.block_hashes)],
            coinbase=Bytes20(env.coinbase),
            number=Uint(env.number),
            base_fee_per_gas=Uint(env.base_fee),
            time=U256(env.timestamp),
            prev_randao=Bytes32(env.prev_randao.rjust(32, b"\x00")),
            excess_blob_gas=U64(env.excess_blob_gas),
            parent_beacon_block_root=Bytes32(env.beacon_root),
        )
        output = vm.BlockOutput()

        def probe(world: Any) -> tuple[int, ...]:
            return tuple(
                int(state.get_storage(world, Bytes20(a), Bytes32(slot.to_bytes(32, "big"))))
                for a, slot in case.probe
            )
    except (ValueError, OverflowError, TypeError, AssertionError) as exc:
        raise SpecCannotRun(f"pre-state or environment: {type(exc).__name__}: {exc}") from exc
    try:
        raw = Bytes(case.tx)
        tx = rlp.decode_to(LegacyTransaction, raw) if raw[0] >= 0xC0 else decode_transaction(raw)
        fork.process_transaction(block_env, output, tx, Uint(0))
    except (EthereumException, DecodingError) as exc:  # an invalid or undecodable transaction
        reason = f"{type(exc).__name__}: {exc}"
        return TxResult(False, pre_root, EMPTY_LOGS_HASH, 0, reason, probe(world))
    except Exception as exc:  # noqa: BLE001 - the specification's own failure, reported
        raise SpecCannotRun(f"{type(exc).__name__}: {exc}") from exc
    entries = [
        (bytes(log.address), [int.from_bytes(t, "big") for t in log.topics], bytes(log.data))
        for log in output.block_logs
    ]
    root = bytes(state.state_root(world))
    return TxResult(True, root, logs_hash(entries), int(output.block_gas_used), "", probe(world))


# ---------------------------------------------------------------------------------------------
# py-evm


def _header(vm_class: type[Any], env: BlockEnv) -> Any:
    from eth.constants import BLANK_ROOT_HASH

    parent = env.block_hashes[0] if env.block_hashes else b"\x00" * 32
    return env.header(
        vm_class,
        state_root=BLANK_ROOT_HASH,
        parent_hash=parent,
        excess_blob_gas=env.excess_blob_gas,
        blob_gas_used=0,
        parent_beacon_block_root=env.beacon_root,
        withdrawals_root=BLANK_ROOT_HASH,
    )


def _with_hashes(vm_class: type[Any], hashes: Sequence[bytes]) -> type[Any]:
    """`vm_class` whose ancestors' hashes are `hashes` instead of a chain database's."""
    frozen = tuple(hashes)
    return type(vm_class.__name__, (vm_class,), {"previous_hashes": property(lambda _: frozen)})


def run_pyevm(case: TxCase, vm_class: type[Any]) -> TxResult:
    """The case executed by py-evm with `vm_class` (an Osaka VM class, stock or JIT)."""
    import rlp
    from eth.consensus.context import ConsensusContext
    from eth.db.atomic import AtomicDB
    from eth.db.chain import ChainDB
    from eth.vm.chain_context import ChainContext
    from eth_utils import ValidationError

    klass = _with_hashes(vm_class, case.env.block_hashes)
    base_db = AtomicDB()
    vm = klass(
        header=_header(klass, case.env),
        chaindb=ChainDB(base_db),
        chain_context=ChainContext(CHAIN_ID),
        consensus_context=ConsensusContext(base_db),
    )
    world = vm.state
    for address, account in _accounts(case):
        for slot, value in account.storage.items():
            world.set_storage(address, slot, value)
        world.set_nonce(address, account.nonce)
        world.set_code(address, account.code)
        world.set_balance(address, account.balance)
    world.persist()
    pre_root = bytes(world.state_root)
    try:
        try:
            tx = klass.get_transaction_builder().decode(case.tx)
        except rlp.exceptions.RLPException as exc:  # not a transaction: as invalid as any
            raise ValidationError(f"undecodable transaction: {exc}") from exc
        blobs = len(tx.blob_versioned_hashes) if tx.type_id == 3 else 0
        from eth.vm.forks.cancun.constants import GAS_PER_BLOB

        # the block's blob gas limit (a state test's block holds this transaction alone)
        if blobs * GAS_PER_BLOB > klass.blob_schedule.max_blob_gas:
            raise ValidationError(f"{blobs} blobs exceed the block's blob gas limit")
        receipt, computation = vm.apply_transaction(vm.get_header(), tx)
    except ValidationError as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return TxResult(False, pre_root, EMPTY_LOGS_HASH, 0, reason, _probe(world, case))
    world.persist()
    entries = logs_hash(computation.get_log_entries())
    return TxResult(
        True, bytes(world.state_root), entries, receipt.gas_used, "", _probe(world, case)
    )


def _probe(world: Any, case: TxCase) -> tuple[int, ...]:
    return tuple(int(world.get_storage(address, slot)) for address, slot in case.probe)
