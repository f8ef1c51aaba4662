"""Small batched linear-algebra kernels shared by the structured models."""

from __future__ import annotations

import jax


def weighted_gram(X: jax.Array, w: jax.Array) -> jax.Array:
    """``X' diag(w) X`` for ``X`` of shape ``(n, p)`` and ``w`` of shape ``(n,)``.

    Computed as ``(X * w[:, None])' X``: one scaling pass, then a single contraction over ``n``
    that XLA lowers to a (batched, under ``vmap``) matrix product. Measured under
    ``vmap`` over 128-2,048 logistic datasets (n=500, p=5, float64, 2-core CPU; see
    ``bench/RESULTS.md``), this form and the three-operand ``einsum("ni,n,nj->ij")`` are the
    fastest and within noise of each other; the broadcast-multiply-then-reduce forms
    ``sum(X[:, :, None] * X[:, None, :] * w[:, None, None], 0)`` are 1.5-2x slower inside the
    solver loop, since their reduction runs over the non-contiguous axis.

    Args:
        X: design matrix, ``(n, p)``.
        w: observation weights, ``(n,)``.

    Returns:
        The symmetric ``(p, p)`` matrix ``sum_i w_i x_i x_i'``.

    Examples:
        >>> import jax.numpy as jnp
        >>> X = jnp.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]])
        >>> weighted_gram(X, jnp.array([1.0, 2.0, 4.0])).tolist()
        [[7.0, 2.0], [2.0, 7.0]]
    """
    return (X * w[:, None]).T @ X
