"""The C library's `realloc` and `free`, through ctypes: the native frames' memory
(evm/frame.py) and the observed runs' logs (evm/observe.py) are C heap blocks that native
code reads and writes directly."""

from __future__ import annotations

import ctypes

_libc = ctypes.CDLL(None)
realloc = _libc.realloc
realloc.restype = ctypes.c_void_p
realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
free = _libc.free
free.restype = None
free.argtypes = [ctypes.c_void_p]
