"""Bootstrap of a normal mean against its analytic standard error.

For the nonparametric bootstrap the resampled mean has conditional variance ``s^2 / n`` with
``s^2 = mean((x - xbar)^2)`` the plug-in (MLE) variance; for the parametric bootstrap from
``N(xbar, s^2)`` it is the same. Both equal the MLE's observed-information SE of ``loc``.

Monte Carlo tolerance: the SD of ``B`` (near-)normal replicates has relative standard error
``1 / sqrt(2 (B - 1))``, 1.6 % for ``B = 2000``; we allow 5 % (about 3 standard errors).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmle as jm

NORMAL = jm.Model(
    lambda p, x: jax.scipy.stats.norm.logpdf(x, p["loc"], p["scale"]),
    {"loc": jm.Real(0.0), "scale": jm.Positive()},
)
N_BOOT = 2000
X = np.asarray(jax.random.normal(jax.random.key(11), (40,))) * 2.0 + 1.0


def _simulate(key, params):
    return params["loc"] + params["scale"] * jax.random.normal(key, (X.shape[0],))


@pytest.mark.parametrize("kind", ["nonparametric", "parametric"])
def test_bootstrap_se_of_normal_mean(kind):
    simulate = _simulate if kind == "parametric" else None
    boot = jm.bootstrap(NORMAL, X, N_BOOT, jax.random.key(5), kind=kind, simulate=simulate)
    analytic = X.std() / np.sqrt(X.shape[0])
    assert boot.params["loc"].shape == (N_BOOT,)
    assert bool(jnp.all(boot.converged))
    np.testing.assert_allclose(boot.fit.se["loc"], analytic, rtol=1e-7)
    np.testing.assert_allclose(boot.se["loc"], analytic, rtol=0.05)
    # Percentile and basic intervals are reflections of each other about the estimate.
    (plo, phi), (blo, bhi) = boot.conf_int(0.9), boot.conf_int(0.9, method="basic")
    est = boot.fit.params["loc"]
    np.testing.assert_allclose(
        [blo["loc"], bhi["loc"]], [2 * est - phi["loc"], 2 * est - plo["loc"]]
    )
    # ... and close to the normal-theory interval (quantiles of 2000 replicates: loose check).
    np.testing.assert_allclose(plo["loc"], est - 1.6449 * analytic, atol=0.25 * analytic)


def test_nonparametric_replicates_are_resamples_with_weights():
    """With frequency weights the bootstrap resamples sum(w) rows in proportion to w."""
    w = np.where(np.arange(X.shape[0]) < 30, 2.0, 0.0)  # 10 rows dropped, 30 doubled: N = 60
    boot = jm.bootstrap(NORMAL, X, N_BOOT, jax.random.key(1), weights=w)
    assert float(boot.fit.nobs) == 60.0
    np.testing.assert_allclose(boot.replicates.nobs, 60.0)
    # 60 draws from the empirical distribution of X[:30]: SD of the mean = std(X[:30]) / sqrt(60).
    np.testing.assert_allclose(boot.se["loc"], X[:30].std() / np.sqrt(60.0), rtol=0.05)


def test_bootstrap_validates():
    with pytest.raises(ValueError, match="sample"):
        jm.bootstrap(NORMAL, X, 10, jax.random.key(0), kind="parametric")
    with pytest.raises(ValueError, match="kind"):
        jm.bootstrap(NORMAL, X, 10, jax.random.key(0), kind="jackknife")


def test_replicates_in_batches_equal_all_at_once(monkeypatch):
    # batch_size bounds memory only: the same keys give the same resamples and fits, whether
    # batches are asked for or chosen from the memory budget (here 9 replicates' worth).
    module = importlib.import_module("jaxmle._inference.bootstrap")

    w = np.where(np.arange(X.shape[0]) % 4 == 0, 0.0, 1.0)
    whole = jm.bootstrap(NORMAL, X, 50, jax.random.key(3), weights=w)
    batched = jm.bootstrap(NORMAL, X, 50, jax.random.key(3), weights=w, batch_size=7)
    monkeypatch.setattr(module, "BATCH_BYTES", 9 * 4 * (X.nbytes + 8 * X.shape[0]))
    budgeted = jm.bootstrap(NORMAL, X, 50, jax.random.key(3), weights=w)
    for other in (batched, budgeted):
        np.testing.assert_allclose(other.params["loc"], whole.params["loc"], rtol=1e-12)
        np.testing.assert_allclose(other.params["scale"], whole.params["scale"], rtol=1e-10)
    with pytest.raises(ValueError, match="batch_size"):
        jm.bootstrap(NORMAL, X, 50, jax.random.key(3), batch_size=0)
    np.testing.assert_allclose(whole.replicates.nobs, w.sum())  # sum(w) rows drawn each time


def test_zero_weight_rows_are_never_resampled():
    # Ten rows at 1e6 with weight zero: one of them drawn into a replicate would move its mean
    # by at least 1e6 / 30.
    x = np.concatenate([X[:30], np.full(10, 1e6)])
    w = np.concatenate([np.ones(30), np.zeros(10)])
    boot = jm.bootstrap(NORMAL, x, 500, jax.random.key(8), weights=w)
    assert float(boot.fit.params["loc"]) == pytest.approx(X[:30].mean())
    assert np.max(np.abs(boot.params["loc"])) < 100.0
