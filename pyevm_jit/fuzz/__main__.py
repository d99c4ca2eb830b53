"""`python -m pyevm_jit.fuzz (worker OPTIONS_JSON | replay CASE_JSON)`: the child processes of
`fuzz_isolated` and `replay_in_subprocess`."""

import sys

from pyevm_jit.fuzz.isolated import worker_main

sys.exit(worker_main(sys.argv[1:]))
