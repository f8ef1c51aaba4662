"""cov_type= on fit/fit_many: expected, HC0, HC1 and cluster covariances.

References: statsmodels 0.14 ``Logit(...).fit(cov_type="HC0")`` on its shipped ``spector`` data and
``Poisson(...).fit(cov_type="cluster", cov_kwds={"groups": firm})`` on ``grunfeld`` (computed live
in the tests, offline); closed-form normal scores and Hessian for the delta-method check.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm

import jaxmle as jm


def _logit_logpdf(p, d):
    eta = d["X"] @ p["beta"]
    return d["y"] * eta - jnp.logaddexp(0.0, eta)


class ExpectedLogit(jm.Model):
    """Logistic regression that supplies its Fisher information ``X' diag(w p (1-p)) X``."""

    def expected_information(self, u, problem):
        data, weights = problem.data, problem.weights
        prob = jax.nn.sigmoid(data["X"] @ u)
        return jnp.einsum("ni,n,nj->ij", data["X"], weights * prob * (1 - prob), data["X"])


LOGIT = ExpectedLogit(_logit_logpdf, {"beta": jm.Real(np.zeros(4))}, name="Logit")
POISSON = jm.Model(
    lambda p, d: (
        d["y"] * (d["X"] @ p["beta"])
        - jnp.exp(d["X"] @ p["beta"])
        - jax.scipy.special.gammaln(d["y"] + 1.0)
    ),
    {"beta": jm.Real(np.zeros(3))},
    name="Poisson",
)
NORMAL = jm.Model(
    lambda p, x: jax.scipy.stats.norm.logpdf(x, p["loc"], p["scale"]),
    {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)},
)


@pytest.fixture(scope="module")
def spector():
    data = sm.datasets.spector.load_pandas()
    X = sm.add_constant(data.exog.values, prepend=True)
    return {"X": X, "y": data.endog.values}


@pytest.fixture(scope="module")
def grunfeld():
    frame = sm.datasets.grunfeld.load_pandas().data
    X = np.column_stack([np.ones(len(frame)), frame["value"] / 1000, frame["capital"] / 1000])
    firm = frame["firm"].astype("category").cat.codes.to_numpy().astype(np.int64)
    return {"X": X, "y": frame["invest"].to_numpy() / 100}, firm


def test_hc0_hc1_match_statsmodels_logit(spector):
    ref = sm.Logit(spector["y"], spector["X"]).fit(disp=0, cov_type="HC0")
    hc0 = jm.fit(LOGIT, spector, cov_type="HC0")
    hc1 = jm.fit(LOGIT, spector, cov_type="HC1")
    np.testing.assert_allclose(hc0.params["beta"], ref.params, rtol=1e-7)
    np.testing.assert_allclose(hc0.cov, ref.cov_params(), rtol=1e-5)
    np.testing.assert_allclose(hc0.se["beta"], ref.bse, rtol=1e-5)
    np.testing.assert_allclose(hc0.pvalues["beta"], ref.pvalues, rtol=1e-5)
    n, k = 32, 4
    np.testing.assert_allclose(hc1.cov, hc0.cov * n / (n - k), rtol=1e-12)
    text = hc0.summary()
    assert "HC0" in text and f"{float(hc0.se['beta'][1]):.4f}" in text


def test_expected_equals_observed_for_canonical_logit(spector):
    ref = sm.Logit(spector["y"], spector["X"]).fit(disp=0)
    res = jm.fit(LOGIT, spector, cov_type="expected")
    np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-6)
    assert res.cov_type == "expected"


def test_expected_without_hook_raises():
    with pytest.raises(ValueError, match="expected_information"):
        jm.fit(NORMAL, jnp.array([0.1, 0.5, 0.9]), cov_type="expected")


def test_bad_cov_type_and_missing_groups():
    x = jnp.array([0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="cov_type must be one of"):
        jm.fit(NORMAL, x, cov_type="HC3")
    with pytest.raises(ValueError, match="groups"):
        jm.fit(NORMAL, x, cov_type="cluster")
    with pytest.raises(ValueError, match="groups must have shape"):
        jm.fit(NORMAL, x, cov_type="cluster", groups=np.array([0, 1]))


def test_cluster_matches_statsmodels_poisson(grunfeld):
    data, firm = grunfeld
    ref = sm.Poisson(data["y"], data["X"]).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": firm}
    )
    # Labels need not be 0..G-1: use sparse, unordered ones.
    res = jm.fit(POISSON, data, cov_type="cluster", groups=1000 - 7 * firm)
    np.testing.assert_allclose(res.params["beta"], ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.cov, ref.cov_params(), rtol=1e-5)
    np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-5)


def test_cluster_in_fit_many_ignores_zero_weight_groups(grunfeld):
    """A firm whose rows all have weight 0 (padding) must not count as a cluster."""
    data, firm = grunfeld
    dropped = firm == 9
    keep = ~dropped
    weights = np.stack([np.ones(len(firm)), keep.astype(float)])
    stacked = jax.tree_util.tree_map(lambda leaf: np.stack([leaf, leaf]), data)
    groups = np.stack([firm, firm])
    res = jm.fit_many(POISSON, stacked, weights=weights, cov_type="cluster", groups=groups)
    for b, rows in enumerate([np.ones(len(firm), bool), keep]):
        ref = sm.Poisson(data["y"][rows], data["X"][rows]).fit(
            disp=0, cov_type="cluster", cov_kwds={"groups": firm[rows]}
        )
        np.testing.assert_allclose(res[b].se["beta"], ref.bse, rtol=1e-5)
    assert res.cov_type == "cluster"


def test_undefined_sandwich_corrections_are_never_converged(grunfeld):
    """One cluster (G / (G - 1)) or no more observations than parameters (n / (n - k)): eager
    fits refuse, traced fits and fit_many give NaN SEs with SINGULAR_HESSIAN, not CONVERGED."""
    data, firm = grunfeld
    one_cluster = np.zeros_like(firm)
    with pytest.raises(ValueError, match="at least two clusters"):
        jm.fit(POISSON, data, cov_type="cluster", groups=one_cluster)
    few = np.where(np.arange(len(firm)) < 3, 1.0, 0.0)  # 3 observations, 3 parameters
    with pytest.raises(ValueError, match="more observations than free parameters"):
        jm.fit(POISSON, data, cov_type="HC1", weights=few)

    traced = jax.jit(lambda w: jm.fit(POISSON, data, cov_type="HC1", weights=w))
    for weights, converged in ((few, False), (np.ones(len(firm)), True)):
        res = traced(jnp.asarray(weights))
        assert bool(res.converged) == converged
        assert bool(jnp.all(jnp.isfinite(res.se["beta"]))) == converged
    stacked = jax.tree_util.tree_map(lambda leaf: np.stack([leaf, leaf]), data)
    res = jm.fit_many(POISSON, stacked, cov_type="cluster", groups=np.stack([firm, one_cluster]))
    assert [jm.Status(int(s)) for s in res.status] == [
        jm.Status.CONVERGED,
        jm.Status.SINGULAR_HESSIAN,
    ]
    assert np.all(np.isnan(res[1].se["beta"])) and np.all(np.isfinite(res[0].se["beta"]))


def test_nan_cluster_label_under_jit_is_invalid_data(grunfeld):
    data, firm = grunfeld
    labels = firm.astype(float)
    labels[5] = np.nan
    with pytest.raises(ValueError, match="NaN labels"):
        jm.fit(POISSON, data, cov_type="cluster", groups=labels)
    res = jax.jit(lambda g: jm.fit(POISSON, data, cov_type="cluster", groups=g))(labels)
    assert jm.Status(int(res.status)) == jm.Status.INVALID_DATA


def test_frequency_weights_equal_repeated_rows(spector):
    """Weight k must give the same robust covariance as k copies of the row (HC1 = HC0 * n/(n-k)
    with n the sum of the weights, so it checks HC0's meat and the weighted count at once)."""
    counts = np.tile([1, 2, 3, 1], 8)
    repeated = {key: np.repeat(value, counts, axis=0) for key, value in spector.items()}
    groups = np.arange(32) % 5
    for cov_type, extra in [("HC1", {}), ("cluster", {"groups": groups})]:
        weighted = jm.fit(LOGIT, spector, weights=counts.astype(float), cov_type=cov_type, **extra)
        if cov_type == "cluster":
            extra = {"groups": np.repeat(groups, counts)}
        copies = jm.fit(LOGIT, repeated, cov_type=cov_type, **extra)
        np.testing.assert_allclose(weighted.cov, copies.cov, rtol=1e-7, err_msg=cov_type)


def test_sandwich_delta_method_equals_natural_scale_sandwich():
    """HC0 on the log-scale of ``scale`` mapped by the delta method = HC0 on the natural scale."""
    x = np.array([0.3, 1.9, 1.2, 2.8, 0.7, 1.5, -0.4, 2.2])
    res = jm.fit(NORMAL, x, cov_type="HC0")
    mu, s = float(res.params["loc"]), float(res.params["scale"])
    r = x - mu
    scores = np.column_stack([r / s**2, -1 / s + r**2 / s**3])  # d log N(x | mu, s) / d(mu, s)
    neg_hess = np.array(
        [
            [len(x) / s**2, 2 * r.sum() / s**3],
            [2 * r.sum() / s**3, -len(x) / s**2 + 3 * (r**2).sum() / s**4],
        ]
    )
    bread = np.linalg.inv(neg_hess)
    natural = bread @ (scores.T @ scores) @ bread
    # The solver may report the Hessian of the point before its last (tiny) polishing step, a
    # relative difference of order 1e-8 (Newton ptol); the identity itself is exact.
    np.testing.assert_allclose(res.cov, natural, rtol=1e-6)


def test_aic_bic_match_statsmodels(spector):
    ref = sm.Logit(spector["y"], spector["X"]).fit(disp=0)
    res = jm.fit(LOGIT, spector)
    np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-10)
    np.testing.assert_allclose(res.aic, ref.aic, rtol=1e-10)
    np.testing.assert_allclose(res.bic, ref.bic, rtol=1e-10)
    # AICc = AIC + 2k(k+1)/(n-k-1) (Hurvich & Tsai 1989).
    np.testing.assert_allclose(res.aicc, ref.aic + 2 * 4 * 5 / (32 - 4 - 1), rtol=1e-10)
    np.testing.assert_allclose(res.zvalues["beta"], ref.tvalues, rtol=1e-6)
    np.testing.assert_allclose(res.pvalues["beta"], ref.pvalues, rtol=1e-6)


def test_undefined_cluster_correction_same_status_at_batch_sizes_1_and_1000(grunfeld):
    """Under jit(vmap), a dataset with one cluster is SINGULAR_HESSIAN with NaN SEs whether it
    is alone or among 999 well-clustered ones, and no dataset is CONVERGED with a NaN SE."""
    data, firm = grunfeld
    traced = jax.jit(jax.vmap(lambda g: jm.fit(POISSON, data, cov_type="cluster", groups=g)))
    for batch in (1, 1000):
        groups = np.tile(firm, (batch, 1))
        groups[0] = 0
        res = traced(jnp.asarray(groups))
        assert jm.Status(int(res.status[0])) == jm.Status.SINGULAR_HESSIAN
        assert np.all(np.isnan(res.se["beta"][0]))
        assert np.all(np.asarray(res.converged)[1:])
        assert not np.any(np.asarray(res.converged) & np.isnan(res.se["beta"]).any(axis=1))
