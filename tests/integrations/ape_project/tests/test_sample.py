"""ape's usual testing tools on the fixture token and compute contracts: accounts from the
mnemonic, deployments, transactions, calls, custom errors and revert reasons, gas estimates,
events, snapshots and isolation, mining and time travel."""

import ape


def test_accounts_from_the_mnemonic(accounts, record):
    record([a.address for a in accounts])
    record([a.balance for a in accounts])


def test_transfers(token, owner, accounts, record):
    alice, bob = accounts[1], accounts[2]
    for i, (sender, to) in enumerate([(owner, alice), (alice, bob), (bob, owner)] * 4):
        amount = 10**20 // (i + 1)
        receipt = token.transfer(to, amount, sender=sender)
        record(
            [receipt.gas_used, receipt.status, [dict(e.event_arguments) for e in receipt.events]]
        )
    record([token.balanceOf(a) for a in (owner, alice, bob)])
    record(token.transfer.estimate_gas_cost(alice, 5, sender=owner))


def test_isolation_between_tests(token, owner, accounts):
    # the previous test's transfers were reverted (ape's per-test snapshots)
    assert token.balanceOf(owner) == 10**24
    assert token.balanceOf(accounts[1]) == 0


def test_custom_error_and_allowance(token, owner, accounts, record):
    bob = accounts[2]
    with ape.reverts(token.InsufficientBalance):
        token.transfer(owner, 10**30, sender=bob)
    token.approve(bob, 1000, sender=owner)
    with ape.reverts(token.InsufficientAllowance):
        token.transferFrom(owner, bob, 1001, sender=bob)
    receipt = token.transferFrom(owner, bob, 1000, sender=bob)
    record([receipt.gas_used, token.allowance(owner, bob), token.balanceOf(bob)])


def test_compute(compute, accounts, record):
    record([compute.fib(300), compute.countPrimes(2000), compute.hashChain(b"\x11" * 32, 100)])
    with ape.reverts("odd"):
        compute.half(3)
    record(compute.run.estimate_gas_cost(60, 4, sender=accounts[2]))
    receipt = compute.run(60, 4, sender=accounts[2])
    record([receipt.gas_used, compute.lastResult(), compute.runs(), compute.table(3)])


def test_snapshots_and_chain_manipulation(chain, token, owner, accounts, record):
    start = chain.blocks.head.number
    snapshot = chain.snapshot()
    token.transfer(accounts[3], 77, sender=owner)
    chain.mine(5)
    assert chain.blocks.head.number == start + 6
    chain.restore(snapshot)
    assert chain.blocks.head.number == start
    assert token.balanceOf(accounts[3]) == 0
    chain.pending_timestamp += 3600
    receipt = token.transfer(accounts[3], 78, sender=owner)
    record([receipt.gas_used, token.balanceOf(accounts[3])])
