"""Compute-heavy Vyper tests under titanoboa: DeFi-style fixed-point math and a sort.

    python -m pytest examples/boa                                           # py-evm alone
    python -m pytest examples/boa -p pyevm_jit.integrations.boa_pytest      # on the JIT

Each test checks its result against Python, so a wrong native result fails it. The speed
figures of docs/titanoboa.md come from these tests (examples/boa/bench.py runs them).
"""

import random

import boa
import pytest

FIXED_POINT = """
# pragma version ~=0.4.0
ONE: constant(uint256) = 10**18

@internal
@pure
def _exp(x: uint256) -> uint256:
    # e^x in 18-decimal fixed point, x in [0, 1]: 30 terms of the Taylor series
    term: uint256 = ONE
    acc: uint256 = ONE
    for k: uint256 in range(1, 31):
        term = term * x // (ONE * k)
        acc += term
    return acc

@external
@pure
def sum_exp(n: uint256) -> uint256:
    s: uint256 = 0
    for i: uint256 in range(n, bound=100000):
        s += self._exp(i * ONE // n)
    return s
"""

SORT = """
# pragma version ~=0.4.0
@external
@pure
def sort(xs: DynArray[uint256, 400]) -> DynArray[uint256, 400]:
    a: DynArray[uint256, 400] = xs
    for i: uint256 in range(1, len(a), bound=400):
        v: uint256 = a[i]
        j: uint256 = i
        for _k: uint256 in range(i, bound=400):
            if j == 0 or a[j - 1] <= v:
                break
            a[j] = a[j - 1]
            j -= 1
        a[j] = v
    return a
"""


def py_exp(x: int) -> int:
    one = 10**18
    term = acc = one
    for k in range(1, 31):
        term = term * x // (one * k)
        acc += term
    return acc


def test_fixed_point_exp_loop():
    contract = boa.loads(FIXED_POINT)
    n = 300
    assert contract.sum_exp(n) == sum(py_exp(i * 10**18 // n) for i in range(n))


@pytest.mark.parametrize("seed", [1, 2])
def test_insertion_sort(seed):
    rng = random.Random(seed)
    xs = [rng.randrange(2**64) for _ in range(250)]
    contract = boa.loads(SORT)
    assert contract.sort(xs) == sorted(xs)
