"""Small batched linear-algebra kernels shared by the solvers and the structured models.

Matrices of up to ``UNROLL_MAX`` rows (the parameter counts of most fits) are factorised by
formulas written out entry by entry rather than by LAPACK: under ``vmap`` every entry is one
vectorised operation across the batch, and the compiled fit then contains no LAPACK call. That
matters beyond speed: jaxlib's CPU LAPACK kernels (0.10) split a batch over XLA's intra-op thread
pool and block until it is done, so several fits running concurrently (the worker threads of
:func:`~jaxmle.fit_many`) could each hold a pool thread while waiting for the others, a deadlock.
Larger matrices use LAPACK, and ``fit_many`` then runs one chunk at a time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


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


def weighted_gram_and(X: jax.Array, w: jax.Array, columns: jax.Array):
    """``(X' diag(w) X, X' columns)`` in one contraction over ``n``: ``X' [diag(w) X, columns]``.

    A GLM's Newton derivatives need both (the Hessian and the gradient); one pass over ``X``
    instead of two.

    Examples:
        >>> import jax.numpy as jnp
        >>> X = jnp.array([[1.0, 2.0], [1.0, -1.0], [1.0, 0.5]])
        >>> gram, products = weighted_gram_and(X, jnp.array([1.0, 2.0, 4.0]), jnp.ones((3, 1)))
        >>> gram.tolist(), products.tolist()
        ([[7.0, 2.0], [2.0, 7.0]], [[3.0], [1.5]])
    """
    p = X.shape[1]
    both = X.T @ jnp.concatenate([X * w[:, None], columns], axis=1)
    return both[:, :p], both[:, p:]


#: Largest matrix factorised by the unrolled kernels below (beyond it, LAPACK's).
UNROLL_MAX = 8


def cholesky(matrix: jax.Array) -> jax.Array:
    """Lower Cholesky factor of the symmetric part of ``matrix``; NaN where it is not PD.

    For ``k <= UNROLL_MAX`` the factor is built column by column with vector operations (a few
    per column, so the compiled program stays small). A pivot below ``k eps`` times its diagonal
    entry (a matrix singular to working precision after diagonal scaling, where LAPACK's outcome
    depends on the last bit of rounding) gives NaN, which propagates through the later columns, as
    a failed LAPACK factorisation does in JAX. Larger matrices use ``jnp.linalg.cholesky``.

    Examples:
        >>> import jax.numpy as jnp
        >>> cholesky(jnp.array([[4.0, 2.0], [2.0, 5.0]])).tolist()
        [[2.0, 0.0], [1.0, 2.0]]
    """
    k = matrix.shape[-1]
    if k > UNROLL_MAX:
        return jnp.linalg.cholesky(matrix)
    symmetric = 0.5 * (matrix + matrix.T)
    rows = jnp.arange(k)
    tol = k * jnp.finfo(matrix.dtype).eps
    columns = []
    for j in range(k):
        residual = symmetric[:, j] - sum(column * column[j] for column in columns)
        # Numerically singular once the pivot is lost in the rounding of its own diagonal entry
        # (a test that diagonal scaling does not change).
        singular = residual[j] <= tol * symmetric[j, j]
        pivot = jnp.where(singular, jnp.nan, jnp.sqrt(residual[j]))
        columns.append(jnp.where(rows >= j, residual / pivot, 0.0))
    return jnp.stack(columns, axis=1)


def cholesky_solve_factor(factor: jax.Array, rhs: jax.Array) -> jax.Array:
    """Solve ``(L L') x = rhs`` given the lower factor ``L``; ``rhs`` is ``(k,)`` or ``(k, m)``.

    Column-oriented forward and back substitution for ``k <= UNROLL_MAX``, else LAPACK's.

    Examples:
        >>> import jax.numpy as jnp
        >>> L = cholesky(jnp.array([[4.0, 2.0], [2.0, 5.0]]))
        >>> cholesky_solve_factor(L, jnp.array([6.0, 7.0])).tolist()
        [1.0, 1.0]
    """
    k = factor.shape[-1]
    if k > UNROLL_MAX:
        return jax.scipy.linalg.cho_solve((factor, True), rhs)
    outer = (lambda a, b: a * b) if rhs.ndim == 1 else (lambda a, b: a[:, None] * b[None, :])
    residual, forward = rhs, []
    for m in range(k):  # L z = rhs
        forward.append(residual[m] / factor[m, m])
        residual = residual - outer(factor[:, m], forward[m])
    residual, back = jnp.stack(forward), [None] * k
    for m in reversed(range(k)):  # L' x = z
        back[m] = residual[m] / factor[m, m]
        residual = residual - outer(factor[m, :], back[m])
    return jnp.stack(back)


def cholesky_solve(matrix: jax.Array, rhs: jax.Array):
    """Solve ``matrix @ x = rhs`` for symmetric positive-definite ``matrix``.

    Returns ``(x, ok)``; ``ok`` is False (and ``x`` zero) when the Cholesky factorisation fails,
    i.e. ``matrix`` is not numerically positive definite.

    Examples:
        >>> import jax.numpy as jnp
        >>> x, ok = cholesky_solve(jnp.array([[4.0, 2.0], [2.0, 5.0]]), jnp.array([6.0, 7.0]))
        >>> x.tolist(), bool(ok)
        ([1.0, 1.0], True)
    """
    chol = cholesky(matrix)
    ok = jnp.all(jnp.isfinite(chol))
    safe = jnp.where(ok, chol, jnp.eye(matrix.shape[0], dtype=matrix.dtype))
    x = cholesky_solve_factor(safe, rhs)
    return jnp.where(ok, x, 0.0), ok


def smallest_eigenvector(matrix: jax.Array, steps: int = 12) -> jax.Array:
    """Unit eigenvector of the smallest eigenvalue of a symmetric positive semi-definite matrix.

    For ``k <= UNROLL_MAX``: inverse iteration ``x <- (A + s I)^{-1} x`` from a fixed generic
    start, with the shift ``s = 1e-12 max(diag A)`` that keeps an exactly singular ``A``
    factorisable. Each step multiplies the wanted component by ``(lambda_2 + s) / (lambda_1 + s)``
    relative to the next one, so a well separated smallest eigenvalue (the near-null direction of
    a diverging fit) is found in one or two steps, a ratio of 3 to about 1e-6 in the default 12;
    with a cluster of nearly equal small eigenvalues the result lies in their span. Larger
    matrices use ``jnp.linalg.eigh``.

    Examples:
        >>> import jax.numpy as jnp
        >>> v = smallest_eigenvector(jnp.array([[2.0, 1.0], [1.0, 2.0]]))
        >>> [round(abs(float(x)), 4) for x in v]
        [0.7071, 0.7071]
    """
    k = matrix.shape[-1]
    if k > UNROLL_MAX:
        return jnp.linalg.eigh(matrix)[1][:, 0]
    diagonal = jnp.diagonal(matrix)
    shift = 1e-12 * jnp.max(jnp.abs(diagonal)) + jnp.finfo(matrix.dtype).tiny
    factor = cholesky(matrix + shift * jnp.eye(k, dtype=matrix.dtype))

    def step(_, vector):
        vector = cholesky_solve_factor(factor, vector)
        return vector / jnp.linalg.norm(vector)

    start = 1.0 / jnp.arange(1, k + 1, dtype=matrix.dtype)  # not orthogonal to any axis
    return jax.lax.fori_loop(0, steps, step, start)
