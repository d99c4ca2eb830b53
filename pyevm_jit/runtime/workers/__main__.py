"""`python -m pyevm_jit.runtime.workers IN_FD OUT_FD`: a compile worker (see `workers.child`)."""

import sys

from pyevm_jit.runtime.workers.child import worker_entry

sys.exit(worker_entry(sys.argv[1:]))
