"""Tests run in float64: standard errors and certified digits need it (the library itself never
changes JAX's global configuration; see README).

JAX's persistent compilation cache is not switched on here: a fresh clone (CI) starts with an
empty cache, where it measurably buys nothing (tests/test_implicit_diff.py and test_starts.py
cold: 76 s with it, 78 s without), and writing it once crashed a worker (a segmentation fault
inside ``compilation_cache.put_executable_and_time``). To reuse compiled programs across local
reruns, export ``JAX_COMPILATION_CACHE_DIR=.pytest_cache/jax`` (JAX reads it).
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).parent))
