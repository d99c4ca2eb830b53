"""Glue between pyevm-jit and tools built on py-evm (eth-tester, web3.py, ape).

Each integration lives in its own module and imports its tool only when used; install the
tools with the matching extra (`pip install 'pyevm-jit[web3]'`).
"""
