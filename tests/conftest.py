"""Tests run in float64: standard errors and certified digits need it (the library itself never
changes JAX's global configuration; see README).

JAX's persistent compilation cache is not switched on here: a fresh clone (CI) starts with an
empty cache, where it measurably buys nothing (tests/test_implicit_diff.py and test_starts.py
cold: 76 s with it, 78 s without), and writing it once crashed a worker (a segmentation fault
inside ``compilation_cache.put_executable_and_time``). To reuse compiled programs across local
reruns, export ``JAX_COMPILATION_CACHE_DIR=.pytest_cache/jax`` (JAX reads it).
"""

import os
import sys
from pathlib import Path

from jaxmle._compile import SINGLE_FIT_OPTIONS

#: The tests' own ``jit`` programs (``jit(vmap(fit))``, ``grad`` through fits, eager operations)
#: compile as jaxmle compiles one dataset's fit (:data:`jaxmle._compile.SINGLE_FIT_OPTIONS`:
#: XLA's older CPU emitters, LLVM level 0); jaxmle's own programs set their options themselves.
#: The programs are the same HLO with the same IEEE semantics (XLA's CPU backend does no fast-math
#: at any level); compiling them takes 2-3 times less (tests/test_implicit_diff.py: 58.6 s with
#: XLA's defaults, 22.3 s). ``JAXMLE_TEST_XLA_DEFAULTS=1`` runs the tests with XLA's defaults.
if not os.environ.get("JAXMLE_TEST_XLA_DEFAULTS"):
    _flags = " ".join(f"--{key}={str(value).lower()}" for key, value in SINGLE_FIT_OPTIONS.items())
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flags}".strip()

import jax  # noqa: E402  (after XLA_FLAGS)
import pytest  # noqa: E402

from jaxmle._batch import _programs  # noqa: E402

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).parent))


#: Release compiled programs once a worker holds this many memory mappings (Linux's default
#: limit, ``vm.max_map_count``, is 65,530; one test module added at most about 13,000).
MAPPINGS_BEFORE_RELEASE = 40_000


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop every compiled program after a test module once the worker holds many mappings.

    Each compiled XLA program keeps memory mappings for its code, and a worker that ran a few
    hundred test modules' programs reached Linux's default limit of 65,530 mappings per process:
    compilation then failed with "Failed to materialize symbols" or crashed (measured: 30,600
    mappings after 56 tests of three modules). Releasing only past a threshold keeps the
    programs that later modules share (the same small fits recur across modules).
    """
    yield
    if _mappings() > MAPPINGS_BEFORE_RELEASE:
        jax.clear_caches()
        _programs._PROGRAMS.clear()  # fit_many's ahead-of-time chunk programs


def _mappings() -> int:
    try:
        with open("/proc/self/maps") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux: no such limit to guard
        return 0
