"""pyevm-jit: run py-evm contract code as native code compiled with llvmlite."""

__version__ = "0.1.0"
