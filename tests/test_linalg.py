"""The LAPACK-free small-matrix kernels of jaxmle._linalg against numpy's LAPACK."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmle._linalg import UNROLL_MAX, cholesky, cholesky_solve_factor, smallest_eigenvector


def _spd(rng, k, condition=1e6):
    q = np.linalg.qr(rng.normal(size=(k, k)))[0]
    return (q * np.logspace(0, np.log10(condition), k)) @ q.T


@pytest.mark.parametrize("k", range(1, UNROLL_MAX + 1))
def test_cholesky_and_solve_match_numpy(k):
    rng = np.random.default_rng(k)
    a = _spd(rng, k)
    b = rng.normal(size=k)
    factor = np.asarray(cholesky(jnp.asarray(a)))
    np.testing.assert_allclose(factor, np.linalg.cholesky(a), rtol=1e-10, atol=1e-12)
    x = np.asarray(cholesky_solve_factor(jnp.asarray(factor), jnp.asarray(b)))
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=1e-8)
    inverse = np.asarray(cholesky_solve_factor(jnp.asarray(factor), jnp.eye(k)))
    np.testing.assert_allclose(inverse, np.linalg.inv(a), rtol=1e-8, atol=1e-12)


def test_cholesky_flags_matrices_that_are_not_positive_definite():
    indefinite = jnp.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    singular = jnp.array([[1.0, 1.0], [1.0, 1.0]])
    for matrix in (indefinite, singular):
        assert not bool(jnp.all(jnp.isfinite(cholesky(matrix))))


def test_batched_kernels_under_vmap_and_jit():
    rng = np.random.default_rng(0)
    mats = np.stack([_spd(rng, 5, 1e3) for _ in range(64)])
    rhs = rng.normal(size=(64, 5))
    solve = jax.jit(jax.vmap(lambda a, b: cholesky_solve_factor(cholesky(a), b)))
    np.testing.assert_allclose(
        solve(mats, rhs), np.linalg.solve(mats, rhs[..., None])[..., 0], rtol=1e-9
    )


@pytest.mark.parametrize("k", [2, 5, 8])
def test_smallest_eigenvector_of_a_near_singular_matrix(k):
    rng = np.random.default_rng(10 + k)
    q = np.linalg.qr(rng.normal(size=(k, k)))[0]
    values = np.concatenate([[1e-9], np.linspace(0.5, 3.0, k - 1)])  # a near-null direction
    a = (q * values) @ q.T
    v = np.asarray(smallest_eigenvector(jnp.asarray(a)))
    assert abs(abs(v @ q[:, 0]) - 1.0) < 1e-10
    exact_null = (q * np.concatenate([[0.0], values[1:]])) @ q.T  # exactly singular
    v = np.asarray(smallest_eigenvector(jnp.asarray(exact_null)))
    assert abs(abs(v @ q[:, 0]) - 1.0) < 1e-8
