"""`python -m pyevm_jit.bench REQUEST`: measure one bench case in this process (the child side of
`run_case_in_subprocess`)."""

import sys

from pyevm_jit.bench import _worker_main

sys.exit(_worker_main(sys.argv[1:]))
