"""`python -m pyevm_jit.cli ...`: the `pyevm-jit` command."""

import sys

from pyevm_jit.cli.router import main

sys.exit(main())
