"""Tests run in float64: standard errors and certified digits need it (the library itself never
changes JAX's global configuration; see README)."""

import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).parent))
