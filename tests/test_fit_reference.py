"""Single fits against closed forms and statsmodels (float64, tight tolerances)."""

import jax
import jax.scipy.stats as jss
import numpy as np
import statsmodels.api as sm

import jaxmle as jm

GAUSSIAN_LINEAR = jm.Model(
    lambda p, d: jss.norm.logpdf(d["y"], d["X"] @ p["beta"], p["sigma"]),
    params={"beta": jm.Real(np.zeros(3)), "sigma": jm.Positive(1.0)},
    name="GaussianLinear",
)
BERNOULLI = jm.Model(
    lambda p, y: jss.bernoulli.logpmf(y, p["p"]), params={"p": jm.UnitInterval(0.5)}
)
NORMAL = jm.Model(
    lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
    params={"loc": jm.Real(0.0), "scale": jm.Positive(1.0)},
)
LOGISTIC = jm.Model(
    lambda p, d: (
        d["y"] * jax.nn.log_sigmoid(d["X"] @ p["beta"])
        + (1 - d["y"]) * jax.nn.log_sigmoid(-(d["X"] @ p["beta"]))
    ),
    params={"beta": jm.Real(np.zeros(4))},
    name="Logistic",
)


def linear_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-2, 2, size=n)])
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=1.5, size=n)
    return X, y


def test_gaussian_linear_model_equals_ols_closed_form():
    X, y = linear_data()
    n = len(y)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    sigma = np.sqrt(np.sum((y - X @ beta) ** 2) / n)  # the MLE of sigma
    se_beta = np.sqrt(np.diag(sigma**2 * np.linalg.inv(X.T @ X)))

    res = jm.fit(GAUSSIAN_LINEAR, {"X": X, "y": y})

    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.params["sigma"], sigma, rtol=1e-8)
    np.testing.assert_allclose(res.se["beta"], se_beta, rtol=1e-6)
    np.testing.assert_allclose(res.se["sigma"], sigma / np.sqrt(2 * n), rtol=1e-6)
    loglik = -n / 2 * (np.log(2 * np.pi * sigma**2) + 1)
    np.testing.assert_allclose(res.loglik, loglik, rtol=1e-10)
    assert res.param_names == ("beta[0]", "beta[1]", "beta[2]", "sigma")
    assert res.cov.shape == (4, 4)
    np.testing.assert_allclose(res.aic, -2 * loglik + 2 * 4, rtol=1e-10)
    np.testing.assert_allclose(res.bic, -2 * loglik + 4 * np.log(n), rtol=1e-10)


def test_bernoulli_mle_is_the_sample_proportion():
    y = (np.random.default_rng(1).uniform(size=300) < 0.3).astype(float)
    p_hat = y.mean()
    res = jm.fit(BERNOULLI, y)
    np.testing.assert_allclose(res.params["p"], p_hat, rtol=1e-10)
    np.testing.assert_allclose(res.se["p"], np.sqrt(p_hat * (1 - p_hat) / len(y)), rtol=1e-8)


def test_normal_mle_is_mean_and_biased_sd():
    x = np.random.default_rng(2).normal(3.0, 2.0, size=500)
    res = jm.fit(NORMAL, x)
    np.testing.assert_allclose(res.params["loc"], x.mean(), rtol=1e-10)
    np.testing.assert_allclose(res.params["scale"], x.std(), rtol=1e-10)
    np.testing.assert_allclose(res.se["loc"], x.std() / np.sqrt(len(x)), rtol=1e-8)
    np.testing.assert_allclose(res.se["scale"], x.std() / np.sqrt(2 * len(x)), rtol=1e-8)


def test_custom_logistic_equals_statsmodels_logit_on_spector():
    spector = sm.datasets.spector.load_pandas()
    X = sm.add_constant(spector.exog, prepend=True).to_numpy(float)
    y = spector.endog.to_numpy(float)
    reference = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-12)

    res = jm.fit(LOGISTIC, {"X": X, "y": y})

    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], reference.params, rtol=1e-8)
    np.testing.assert_allclose(res.se["beta"], reference.bse, rtol=1e-6)
    np.testing.assert_allclose(res.loglik, reference.llf, rtol=1e-10)
    np.testing.assert_allclose(res.pvalues["beta"], reference.pvalues, rtol=1e-5)
    lower, upper = res.conf_int(0.95)
    ci = reference.conf_int(0.05)
    np.testing.assert_allclose(lower["beta"], ci[:, 0], rtol=1e-6)
    np.testing.assert_allclose(upper["beta"], ci[:, 1], rtol=1e-6)
    np.testing.assert_allclose(res.aic, reference.aic, rtol=1e-10)
    np.testing.assert_allclose(res.bic, reference.bic, rtol=1e-10)


def test_frequency_weights_equal_repeated_rows():
    X, y = linear_data(n=60, seed=3)
    counts = np.random.default_rng(4).integers(0, 4, size=60)
    counts[0] = 2
    weighted = jm.fit(GAUSSIAN_LINEAR, {"X": X, "y": y}, weights=counts.astype(float))
    repeated = jm.fit(GAUSSIAN_LINEAR, {"X": np.repeat(X, counts, 0), "y": np.repeat(y, counts)})
    for key in ("beta", "sigma"):
        np.testing.assert_allclose(weighted.params[key], repeated.params[key], rtol=1e-9)
        np.testing.assert_allclose(weighted.se[key], repeated.se[key], rtol=1e-8)
    np.testing.assert_allclose(weighted.loglik, repeated.loglik, rtol=1e-10)
    assert float(weighted.nobs) == counts.sum()


def test_optax_lbfgs_reaches_the_newton_optimum():
    import optax

    spector = sm.datasets.spector.load_pandas()
    data = {"X": sm.add_constant(spector.exog).to_numpy(float), "y": spector.endog.to_numpy(float)}
    newton = jm.fit(LOGISTIC, data)
    lbfgs = jm.fit(LOGISTIC, data, solver=optax.lbfgs())
    assert bool(lbfgs.converged)
    np.testing.assert_allclose(lbfgs.params["beta"], newton.params["beta"], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(lbfgs.se["beta"], newton.se["beta"], rtol=1e-6)


def test_optax_adam_gets_close_with_enough_steps():
    import optax

    x = np.random.default_rng(5).normal(1.0, 2.0, size=400)
    newton = jm.fit(NORMAL, x)
    adam = jm.fit(NORMAL, x, solver=optax.adam(0.05), max_steps=3000)
    np.testing.assert_allclose(adam.params["loc"], newton.params["loc"], atol=1e-4)
    np.testing.assert_allclose(adam.params["scale"], newton.params["scale"], atol=1e-4)
    short = jm.fit(NORMAL, x, solver=optax.adam(0.05), max_steps=20)
    assert int(short.status) == jm.Status.MAX_STEPS and not bool(short.converged)


def test_summary_is_a_statsmodels_like_table():
    X, y = linear_data()
    res = jm.fit(GAUSSIAN_LINEAR, {"X": X, "y": y})
    text = res.summary()
    for piece in ("Log-likelihood", "AIC", "BIC", "coef", "std err", "P>|z|", "beta[2]", "sigma"):
        assert piece in text
    named = res.summary(names=["const", "x1", "x2", "sigma"])
    assert "const" in named and "x2" in named
    assert "converged" in text


def test_transformed_interval_respects_the_constraint():
    x = np.random.default_rng(6).exponential(size=5) * 1e-3
    res = jm.fit(NORMAL, x)
    lower, upper = res.conf_int(0.99, method="transformed")
    assert float(lower["scale"]) > 0
    z = 2.5758293035489004  # N(0,1) 0.995 quantile (scipy.stats.norm.ppf(0.995))
    u_scale = np.log(float(res.params["scale"]))
    np.testing.assert_allclose(
        lower["scale"], np.exp(u_scale - z * float(res.se["scale"] / res.params["scale"]))
    )
    np.testing.assert_allclose(lower["loc"], res.conf_int(0.99)[0]["loc"])
