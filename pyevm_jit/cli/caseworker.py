"""`python -m pyevm_jit.cli.caseworker IN_FD OUT_FD`: a worker process of the case runner
(`statetest`/`blocktest --jobs N`), started by `runtime.children`
(see `caseworkers.worker_main`)."""

import sys

from pyevm_jit.cli.caseworkers import worker_main
from pyevm_jit.runtime import children

worker_main(*children.connect(sys.argv[1:]))
