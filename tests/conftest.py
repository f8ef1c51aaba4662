"""Tests run in float64: standard errors and certified digits need it (the library itself never
changes JAX's global configuration; see README).

Compiled programs go to JAX's persistent compilation cache under ``.pytest_cache/`` (the clone's
own, so a fresh clone starts empty): a rerun of the suite reuses them (test_censoring.py: 42 s
with an empty cache, 15 s with a filled one, two workers), and the two pytest-xdist workers share
what both compile.
"""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update(
    "jax_compilation_cache_dir",
    str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

sys.path.insert(0, str(Path(__file__).parent))
