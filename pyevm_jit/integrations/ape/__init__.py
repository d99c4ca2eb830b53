"""ape on the JIT: a provider of ape's local network whose py-evm runs native code.

    pip install -e '.[ape]' -e ./plugins/ape-pyevm-jit
    ape test --network ethereum:local:pyevm-jit

`pyevm_jit.integrations.ape.provider.JitLocalProvider` is ape_test's `LocalProvider` (accounts
from the test mnemonic, snapshots and reverts, gas estimation, chain manipulation, its `test:`
configuration) whose eth-tester chain runs JIT VMs of `pyevm_jit.integrations.eth_tester`'s
`default_backend()` (`PYEVM_JIT_*` variables apply). ape finds providers in distributions
named `ape-*`, so the registration is the small `ape-pyevm-jit` distribution kept in
`plugins/ape-pyevm-jit/` of this repository; the provider itself lives here. Without the plugin
(or with `--network ethereum:local:test`, ape's default) nothing changes.

Needs ape (`pip install 'pyevm-jit[ape]'`); written against eth-ape 0.8.
"""

from __future__ import annotations

INSTALL_HINT = "pyevm-jit's ape integration needs ape: pip install 'pyevm-jit[ape]'"
#: the provider's name in ape's network choices: `--network ethereum:local:pyevm-jit`
PROVIDER_NAME = "pyevm-jit"
