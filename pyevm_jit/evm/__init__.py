"""The py-evm glue: the computation that runs native code (`computation`, its run loop `run`, host
operations `hostops`, the frame `frame` and its memory `memory`, the per-table plan `plan`, the
native state path `state_path`, observers `observe`), `jit_vm` (`vm`), whole chain
configurations (`chain`) and the code-hash cache (`codehash`). The guarded copies of py-evm code
paths it uses are in `pyevm_jit.lean`."""
