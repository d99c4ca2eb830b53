"""JIT VMs in whole chain configurations: configured subclasses, fork boundaries, threads.

Every scenario runs on a chain of JIT VMs and on the same chain of stock VMs, and the block
state roots must agree; the backend's statistics must show native execution."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from eth import constants
from eth.chains.mainnet import MainnetChain
from eth.vm.forks import CancunVM, ShanghaiVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth_hash.auto import keccak
from eth_keys import keys
from eth_typing import Address
from support import mining_chain

from pyevm_jit.evm.chain import JitVMCache, jit_chain, jit_vm_configuration

# sum 0..n-1 for n = calldata word 0; stores the sum in slot 0 and returns it
RUNTIME = bytes.fromhex(
    "600035600060005b82811015601957908101906001016007565b508060005560005260206000f3"
)
INITCODE = bytes([0x60, len(RUNTIME), 0x60, 12, 0x60, 0, 0x39, 0x60, len(RUNTIME), 0x60, 0, 0xF3])
INITCODE += RUNTIME

KEY = keys.PrivateKey(b"\x07" * 32)
SENDER = Address(KEY.public_key.to_canonical_address())
CHAIN_ID = 1337


def _chain(vm_configuration: Any) -> Any:
    return mining_chain(vm_configuration, SENDER, "TestChain", CHAIN_ID)


def _send(chain: Any, to: bytes, data: bytes) -> Any:
    vm = chain.get_vm()
    tx = vm.create_unsigned_transaction(
        nonce=vm.state.get_nonce(SENDER), gas_price=10**10, gas=2_000_000, to=to, value=0, data=data
    ).as_signed_transaction(KEY, chain_id=CHAIN_ID)
    _block, _receipt, computation = chain.apply_transaction(tx)
    return computation


def _scenario(chain: Any, calls: int = 3, blocks: int = 1) -> list[bytes]:
    """Deploy, call the contract `calls` times per block for `blocks` blocks; state roots."""
    from eth._utils.address import generate_contract_address

    contract = generate_contract_address(SENDER, chain.get_vm().state.get_nonce(SENDER))
    assert _send(chain, constants.CREATE_CONTRACT_ADDRESS, INITCODE).is_success
    roots = [bytes(chain.mine_block().header.state_root)]
    for block in range(blocks):
        for call in range(calls):
            n = 50 + 7 * call + block
            computation = _send(chain, contract, n.to_bytes(32, "big"))
            assert computation.is_success
            assert int.from_bytes(computation.output, "big") == n * (n - 1) // 2
        roots.append(bytes(chain.mine_block().header.state_root))
    return roots


def test_configuration_maps_every_vm_and_keeps_block_numbers(backend: Any) -> None:
    configuration = MainnetChain.vm_configuration
    mapped = jit_vm_configuration(configuration, backend)
    assert [n for n, _ in mapped] == [n for n, _ in configuration]
    for (_n, stock), (_m, jit) in zip(configuration, mapped, strict=True):
        assert issubclass(jit, stock) and jit is not stock
        assert jit.fork == stock.fork
    # the documented one-liner works for the whole mainnet configuration
    chain_class = MainnetChain.configure(vm_configuration=mapped)
    assert chain_class.vm_configuration == mapped
    assert jit_chain(MainnetChain, backend).vm_configuration[-1][1].fork == "prague"


def test_same_vm_class_maps_to_one_jit_class(backend: Any) -> None:
    cache = JitVMCache(backend)
    first = jit_vm_configuration(((0, CancunVM), (10, ShanghaiVM)), backend, cache=cache)
    second = jit_vm_configuration(((0, ShanghaiVM), (5, CancunVM)), backend, cache=cache)
    assert first[0][1] is second[1][1] and first[1][1] is second[0][1]
    with pytest.raises(TypeError):
        jit_vm_configuration(cast(Any, ((0, "not a VM"),)), backend)
    with pytest.raises(ValueError):
        jit_vm_configuration(((0, CancunVM),), object(), cache=cache)


# A user's own configured subclass: custom state and computation classes that must keep working.
class CountingComputation(CancunComputation):
    messages = 0

    @classmethod
    def apply_message(cls, *args: Any, **kwargs: Any) -> Any:
        CountingComputation.messages += 1
        return super().apply_message(*args, **kwargs)


class CustomState(CancunState):
    computation_class = CountingComputation
    touched = 0

    def get_code(self, address: Any) -> bytes:
        CustomState.touched += 1
        return super().get_code(address)


CustomCancunVM = CancunVM.configure(__name__="CustomCancunVM", _state_class=CustomState)


def test_configured_subclass_keeps_its_overrides(backend: Any) -> None:
    CountingComputation.messages = CustomState.touched = 0
    stock_roots = _scenario(_chain([(0, CustomCancunVM)]))
    stock_messages, stock_touched = CountingComputation.messages, CustomState.touched
    assert stock_messages > 0 and stock_touched > 0

    CountingComputation.messages = CustomState.touched = 0
    hits = backend.stats().lookup_hits
    jit_config = jit_vm_configuration([(0, CustomCancunVM)], backend)
    jit_vm_class = jit_config[0][1]
    assert issubclass(jit_vm_class.get_state_class(), CustomState)
    assert issubclass(jit_vm_class.get_state_class().computation_class, CountingComputation)
    jit_roots = _scenario(_chain(jit_config))
    assert jit_roots == stock_roots
    assert CountingComputation.messages == stock_messages  # the override still runs
    assert CustomState.touched == stock_touched
    assert backend.stats().lookup_hits > hits  # and the contract ran native code


def test_multi_fork_chain_compiles_per_fork(backend: Any) -> None:
    configuration = [(0, ShanghaiVM), (3, CancunVM)]
    stock_roots = _scenario(_chain(configuration), calls=2, blocks=4)  # blocks 1..5
    jit_configuration = jit_vm_configuration(configuration, backend)
    jit_roots = _scenario(_chain(jit_configuration), calls=2, blocks=4)
    assert jit_roots == stock_roots
    code_hash = keccak(RUNTIME)
    shanghai = backend.get_compiled(code_hash, "shanghai")
    cancun = backend.get_compiled(code_hash, "cancun")
    assert shanghai is not None and cancun is not None
    assert shanghai.key != cancun.key and shanghai is not cancun
    assert {shanghai.key.fork, cancun.key.fork} == {"shanghai", "cancun"}


def test_one_backend_two_threads(backend: Any) -> None:
    configuration = jit_vm_configuration([(0, CancunVM)], backend)
    expected = _scenario(_chain([(0, CancunVM)]), calls=4, blocks=2)
    results: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(index: int) -> None:
        try:
            chain = _chain(configuration)
            start.wait()
            results[index] = _scenario(chain, calls=4, blocks=2)
        except BaseException as exc:  # reported below
            errors.append(exc)

    hits = backend.stats().lookup_hits
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert results == {0: expected, 1: expected}
    # deploy (initcode) + 8 calls per thread, all native
    assert backend.stats().lookup_hits - hits >= 2 * 9
