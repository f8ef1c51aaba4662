"""Small batched linear-algebra kernels shared by the structured models."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def weighted_gram(X: jax.Array, w: jax.Array) -> jax.Array:
    """``X' diag(w) X`` for ``X`` of shape ``(n, p)`` and ``w`` of shape ``(n,)``."""
    return jnp.einsum("ni,n,nj->ij", X, w, X)
