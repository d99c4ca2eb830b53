"""Test support shipped with the package: differential execution against stock py-evm
(`differential`) and stand-in compilers and linkers for fault injection (`faults`)."""
