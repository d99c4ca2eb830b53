"""Entry point of a compile worker process: `python -m pyevm_jit.runtime.worker_process IN OUT`."""

import sys

from pyevm_jit.runtime.workers import worker_entry

if __name__ == "__main__":
    sys.exit(worker_entry(sys.argv[1:]))
