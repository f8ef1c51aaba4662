"""Likelihood-ratio, Wald and score tests against statsmodels on its shipped ``spector`` data.

References (computed live, offline): ``statsmodels`` 0.14 ``Logit(...).fit()`` log-likelihoods for
the LR test, ``LogitResults.wald_test(R, use_f=False, scalar=True)`` for the Wald test and
``GLM(..., Binomial()).fit().score_test(exog_extra=...)`` for the score test; p-values from
``scipy.stats.chi2.sf``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import jaxmle as jm


def _logit(p_dim):
    return jm.Model(
        lambda p, d: d["y"] * (d["X"] @ p["beta"]) - jnp.logaddexp(0.0, d["X"] @ p["beta"]),
        {"beta": jm.Real(np.zeros(p_dim))},
    )


FULL, RESTRICTED = _logit(4), _logit(2)


@pytest.fixture(scope="module")
def spector():
    data = sm.datasets.spector.load_pandas()
    X = sm.add_constant(data.exog.values, prepend=True)
    y = data.endog.values
    full = jm.fit(FULL, {"X": X, "y": y})
    restricted = jm.fit(RESTRICTED, {"X": X[:, :2], "y": y})
    return X, y, full, restricted


def test_lr_test_matches_statsmodels(spector):
    X, y, full, restricted = spector
    sm_full = sm.Logit(y, X).fit(disp=0)
    sm_restricted = sm.Logit(y, X[:, :2]).fit(disp=0)
    expected = 2.0 * (sm_full.llf - sm_restricted.llf)
    test = jm.lr_test(restricted, full)
    assert test.df == 2
    np.testing.assert_allclose(test.statistic, expected, rtol=1e-8)
    np.testing.assert_allclose(test.pvalue, stats.chi2.sf(expected, 2), rtol=1e-7)


def test_lr_test_validates(spector):
    X, y, full, restricted = spector
    with pytest.raises(ValueError, match="fewer free parameters"):
        jm.lr_test(full, restricted)
    fewer = jm.fit(RESTRICTED, {"X": X[:20, :2], "y": y[:20]})
    with pytest.raises(ValueError, match="different numbers of observations"):
        jm.lr_test(fewer, full)


def test_wald_test_matches_statsmodels(spector):
    X, y, full, _ = spector
    R = np.eye(4)[2:]
    ref = sm.Logit(y, X).fit(disp=0).wald_test(R, use_f=False, scalar=True)
    test = jm.wald_test(full, R)
    assert test.df == 2
    np.testing.assert_allclose(test.statistic, ref.statistic, rtol=1e-6)
    np.testing.assert_allclose(test.pvalue, ref.pvalue, rtol=1e-6)
    # With q and a robust covariance it follows res.cov.
    robust = jm.fit(FULL, {"X": X, "y": y}, cov_type="HC0")
    q = np.array([0.05, 2.0])
    ref = sm.Logit(y, X).fit(disp=0, cov_type="HC0").wald_test((R, q), use_f=False, scalar=True)
    np.testing.assert_allclose(jm.wald_test(robust, R, q).statistic, ref.statistic, rtol=1e-6)


def test_wald_test_validates(spector):
    _, _, full, _ = spector
    with pytest.raises(ValueError, match="4 columns"):
        jm.wald_test(full, np.eye(3))
    with pytest.raises(ValueError, match="rank deficient"):
        jm.wald_test(full, np.array([[0, 1.0, 0, 0], [0, 2.0, 0, 0]]))


def test_score_test_matches_statsmodels(spector):
    X, y, _, restricted = spector
    ref = sm.GLM(y, X[:, :2], family=sm.families.Binomial()).fit().score_test(exog_extra=X[:, 2:])
    beta_r = jnp.concatenate([restricted.params["beta"], jnp.zeros(2)])
    data = {"X": X, "y": y}
    for information in ("observed", "expected"):
        model = FULL if information == "observed" else _ExpectedLogit(FULL)
        test = jm.score_test(model, data, {"beta": beta_r}, df=2, information=information)
        np.testing.assert_allclose(test.statistic, ref.statistic[0], rtol=1e-6)
        np.testing.assert_allclose(test.pvalue, ref.pvalue[0], rtol=1e-6)
    with pytest.raises(ValueError, match="expected_information"):
        jm.score_test(FULL, data, {"beta": beta_r}, df=2, information="expected")


def test_batched_results_give_batched_tests():
    normal = jm.Model(
        lambda p, x: jax.scipy.stats.norm.logpdf(x, p["loc"], p["scale"]),
        {"loc": jm.Real(0.0), "scale": jm.Positive()},
    )
    centred = jm.Model(
        lambda p, x: jax.scipy.stats.norm.logpdf(x, 0.0, p["scale"]), {"scale": jm.Positive()}
    )
    xs = np.asarray(jax.random.normal(jax.random.key(0), (5, 30))) + 0.3
    full, zero = jm.fit_many(normal, xs), jm.fit_many(centred, xs)
    lr, wald = jm.lr_test(zero, full), jm.wald_test(full, [1.0, 0.0])
    assert lr.statistic.shape == wald.statistic.shape == (5,)
    # Closed forms: LR = n log(s0^2 / s^2); Wald = (mean / (s / sqrt(n)))^2 with MLE s.
    n = xs.shape[1]
    s2, s02 = xs.var(axis=1), (xs**2).mean(axis=1)
    np.testing.assert_allclose(lr.statistic, n * np.log(s02 / s2), rtol=1e-8)
    np.testing.assert_allclose(wald.statistic, xs.mean(axis=1) ** 2 / (s2 / n), rtol=1e-6)


class _ExpectedLogit(jm.Model):
    def __init__(self, base):
        super().__init__(base.logpdf, base.specs)

    def expected_information(self, u, problem):
        data, weights = problem.data, problem.weights
        prob = jax.nn.sigmoid(data["X"] @ u)
        return jnp.einsum("ni,n,nj->ij", data["X"], weights * prob * (1 - prob), data["X"])
