"""Array namespaces: one support rule for concrete (numpy) and traced (JAX) data.

A model's validity rules (:meth:`~jaxmle.Model.valid_rows`) are written once against the
namespace of their input: numpy for eager checks (exact dtypes, no dispatch cost, detailed error
messages) and ``jax.numpy`` inside ``jit``, where a violation becomes a status code.

Examples:
    >>> import numpy as np, jax.numpy as jnp
    >>> namespace(np.zeros(2)) is np, namespace(jnp.zeros(2)) is jnp
    (True, True)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["namespace"]


def namespace(*arrays):
    """``jax.numpy`` if any of ``arrays`` is a JAX array (or tracer), else ``numpy``."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np
