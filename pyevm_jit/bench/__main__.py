"""`python -m pyevm_jit.bench REQUEST`: measure one bench case in this process (the child side of
`run_case_in_subprocess`)."""

import sys

from pyevm_jit.bench.measure import worker_main

sys.exit(worker_main(sys.argv[1:]))
