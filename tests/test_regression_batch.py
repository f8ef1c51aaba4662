"""Batched regressions: fit_many, jit(vmap(fit)) and single fits agree; spot checks against
statsmodels. The 1,000-fit logistic batch is the benchmark workload scaled down (bench/ runs
10,000)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm

import jaxmle as jm

B, N, P = 1000, 500, 5


@pytest.fixture(scope="module")
def logistic_batch():
    rng = np.random.default_rng(20240601)
    X = rng.normal(size=(B, N, P))
    X[..., 0] = 1.0
    beta = rng.normal(scale=0.5, size=(B, P))
    prob = 1.0 / (1.0 + np.exp(-np.einsum("bnp,bp->bn", X, beta)))
    y = (rng.random((B, N)) < prob).astype(float)
    model = jm.Logit()
    return model, {"X": X, "y": y}, jm.fit_many(model, {"X": X, "y": y})


def test_fit_many_logistic_all_converge(logistic_batch):
    _, _, res = logistic_batch
    assert res.params["beta"].shape == (B, P)
    assert bool(jnp.all(res.converged)), np.unique(np.asarray(res.status), return_counts=True)
    assert int(jnp.max(res.n_iter)) <= 10


def test_fit_many_matches_statsmodels_and_single_fits(logistic_batch):
    model, data, res = logistic_batch
    for b in (0, 1, 499, B - 1):
        ref = sm.Logit(data["y"][b], data["X"][b]).fit(method="newton", tol=1e-12, disp=0)
        np.testing.assert_allclose(res.params["beta"][b], ref.params, rtol=1e-6)
        np.testing.assert_allclose(res.se["beta"][b], ref.bse, rtol=1e-4)
        np.testing.assert_allclose(res.loglik[b], ref.llf, rtol=1e-8)
        single = jm.fit(model, {"X": data["X"][b], "y": data["y"][b]})
        np.testing.assert_allclose(single.params["beta"], res.params["beta"][b], rtol=1e-10)
        np.testing.assert_allclose(single.se["beta"], res.se["beta"][b], rtol=1e-10)


def test_jit_vmap_fit_matches_fit_many(logistic_batch):
    _, data, res = logistic_batch
    model = jm.Logit()  # unsized: sizes itself from the traced shapes
    sub = jax.tree_util.tree_map(lambda a: jnp.asarray(a[:64]), data)
    out = jax.jit(jax.vmap(lambda d: jm.fit(model, d)))(sub)
    assert model.n_features == P
    np.testing.assert_allclose(out.params["beta"], res.params["beta"][:64], rtol=1e-10)
    np.testing.assert_allclose(out.se["beta"], res.se["beta"][:64], rtol=1e-10)
    np.testing.assert_array_equal(out.status, res.status[:64])


def test_ragged_linear_regressions_match_least_squares():
    rng = np.random.default_rng(7)
    sizes = [12, 30, 21]
    datasets = []
    for n in sizes:
        X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
        datasets.append({"X": X, "y": X @ [1.0, -2.0, 0.5] + rng.normal(size=n)})
    res = jm.fit_many(jm.LinearRegression(), datasets)
    for b, d in enumerate(datasets):
        ref = sm.OLS(d["y"], d["X"]).fit()
        n = sizes[b]
        np.testing.assert_allclose(res.params["beta"][b], ref.params, rtol=1e-10)
        np.testing.assert_allclose(res.params["sigma"][b] ** 2, ref.ssr / n, rtol=1e-10)
        np.testing.assert_allclose(res.se["beta"][b] * np.sqrt(n / (n - 3)), ref.bse, rtol=1e-8)
        np.testing.assert_allclose(res.loglik[b], ref.llf, rtol=1e-10)
