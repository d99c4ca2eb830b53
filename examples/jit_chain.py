"""Build a py-evm chain whose VMs run contracts as native code, deploy a contract, call it in a
loop and print the JIT backend's statistics.

    python examples/jit_chain.py [--calls N] [--background]

By default the backend compiles a contract the first time it runs (``blocking=True``), so
every call is native. With ``--background`` it uses the production setting: calls run on the
interpreter until the contract is hot, a worker compiles it in the background, and later calls
switch to native code.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, cast

from eth import constants
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks import CancunVM
from eth_keys import keys
from eth_typing import Address
from eth_utils import to_wei

from pyevm_jit import JitBackend, RuntimeConfig, jit_vm_configuration

# A contract summing 0 + 1 + ... + (n - 1) for n = the first calldata word, in a loop; it stores
# the sum in slot 0 and returns it.
RUNTIME = bytes.fromhex(
    "600035"
    "6000"
    "6000"  # n = calldata[0]; acc = 0; i = 0
    "5b"
    "8281"
    "1015"
    "6019"
    "57"  # loop: if !(i < n) goto end
    "908101"
    "90"
    "600101"
    "6007"
    "56"  # acc += i; i += 1; goto loop
    "5b"
    "50"
    "80600055"
    "600052"
    "60206000f3"  # end: sstore(0, acc); return acc
)
# Creation code: copy RUNTIME (placed right after these 12 bytes) to memory and return it.
INITCODE = bytes([0x60, len(RUNTIME), 0x60, 12, 0x60, 0, 0x39, 0x60, len(RUNTIME), 0x60, 0, 0xF3])
INITCODE += RUNTIME

SENDER_KEY = keys.PrivateKey(b"\x01" * 32)
SENDER = Address(SENDER_KEY.public_key.to_canonical_address())


def build_chain(backend: JitBackend | None) -> MiningChain:
    """A Cancun chain from genesis; its VM class is the JIT VM of CancunVM when a backend is
    given (the one line a user adds), else stock CancunVM."""
    vm_configuration: tuple[tuple[int, type], ...] = ((0, CancunVM),)
    if backend is not None:
        vm_configuration = jit_vm_configuration(vm_configuration, backend)
    chain_class = MiningChain.configure(
        __name__="ExampleChain", vm_configuration=vm_configuration, chain_id=1337
    )
    genesis_params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "timestamp": 1_700_000_000,
        "coinbase": constants.ZERO_ADDRESS,
        "extra_data": b"",
        "nonce": b"\0" * 8,
        "mix_hash": constants.ZERO_HASH32,
    }
    genesis_state: dict[Any, Any] = {
        SENDER: {"balance": to_wei(1000, "ether"), "nonce": 0, "code": b"", "storage": {}}
    }
    return cast(MiningChain, chain_class.from_genesis(AtomicDB(), genesis_params, genesis_state))


def send(chain: MiningChain, to: Address, data: bytes, gas: int = 1_000_000) -> bytes:
    vm = chain.get_vm()
    nonce = vm.state.get_nonce(SENDER)
    tx = vm.create_unsigned_transaction(
        nonce=nonce, gas_price=10**10, gas=gas, to=to, value=0, data=data
    ).as_signed_transaction(SENDER_KEY, chain_id=1337)
    _block, receipt, computation = chain.apply_transaction(tx)
    computation.raise_if_error()
    return bytes(computation.output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--n", type=int, default=2000, help="loop length of each call")
    parser.add_argument("--background", action="store_true", help="compile in the background")
    args = parser.parse_args()

    backend = JitBackend.new(RuntimeConfig(enabled=True, blocking=not args.background))
    try:
        jit_seconds, jit_root = run_calls(build_chain(backend), args)
        stats = backend.stats()
    finally:
        backend.close()
    stock_seconds, stock_root = run_calls(build_chain(None), args)
    assert jit_root == stock_root, "the JIT chain and the stock chain disagree"
    print(
        f"{args.calls} calls: JIT chain {jit_seconds:.2f} s (compilation included), "
        f"stock chain {stock_seconds:.2f} s; same state root 0x{jit_root.hex()[:16]}..."
    )
    print(f"native hits: {stats.lookup_hits}, interpreted: {stats.lookup_misses}")
    reasons = ", ".join(
        f"{getattr(reason, 'value', reason)}: {count}"
        for reason, count in stats.misses_by_reason.items()
        if count
    )
    print(f"misses by reason: {reasons or '-'}")
    print(
        f"compilations: {stats.compilations_succeeded} succeeded, "
        f"{stats.compilations_failed} failed"
    )


def run_calls(chain: MiningChain, args: argparse.Namespace) -> tuple[float, bytes]:
    """Deploy the contract, call it args.calls times; (seconds for the calls, state root)."""
    from eth._utils.address import generate_contract_address

    contract = generate_contract_address(SENDER, chain.get_vm().state.get_nonce(SENDER))
    send(chain, constants.CREATE_CONTRACT_ADDRESS, INITCODE)
    chain.mine_block()
    started = time.perf_counter()
    for call in range(args.calls):
        output = send(chain, contract, args.n.to_bytes(32, "big"))
        assert int.from_bytes(output, "big") == args.n * (args.n - 1) // 2
        if call % 10 == 9:
            chain.mine_block()
            if args.background:
                time.sleep(0.2)  # give the background compiler a moment
    elapsed = time.perf_counter() - started
    head = chain.mine_block()
    return elapsed, bytes(head.header.state_root)


if __name__ == "__main__":
    main()
