"""Censored and truncated likelihoods against independent scipy optimisations and closed forms.

References (computed live): ``scipy.optimize.minimize`` (BFGS, ``gtol=1e-10``, started at the
truth) on censored/truncated log-likelihoods written here with ``scipy.stats`` log-pdfs, log-CDFs
and log-survival functions; ``scipy.stats.weibull_min.fit`` on ``scipy.stats.CensoredData`` as a
second reference; the closed form ``events / total time`` (SE ``rate / sqrt(events)``) for the
right-censored exponential; ``scipy.stats.truncnorm.logpdf`` for the truncated normal.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so
import scipy.stats as st

import jaxmle as jm
from jaxmle.distributions._censoring import log_prob_between

RNG = np.random.default_rng(20240611)
N = 300
T = st.weibull_min(1.7, scale=2.0).rvs(N, random_state=RNG)
C = RNG.uniform(0.0, 4.5, N)
X = np.minimum(T, C)
EVENT = (T <= C).astype(float)
RIGHT = {"x": jnp.asarray(X), "event": jnp.asarray(EVENT)}

# scipy frozen distributions from (natural-scale) parameter vectors, with the truth as the start.
SCIPY = {
    "Weibull": (lambda p: st.weibull_min(p[0], scale=p[1]), [1.7, 2.0]),
    "Exponential": (lambda p: st.expon(scale=1.0 / p[0]), [0.5]),
    "LogNormal": (lambda p: st.lognorm(p[1], scale=np.exp(p[0])), [0.5, 0.6]),
    "Gamma": (lambda p: st.gamma(p[0], scale=1.0 / p[1]), [2.5, 1.4]),
}


def _scipy_censored_fit(make, start, x, event):
    """Maximise sum(event log f(x) + (1 - event) log S(x)) over log-parameters with scipy."""

    def negloglik(logp):
        dist = make(np.exp(logp))
        return -np.sum(np.where(event == 1, dist.logpdf(x), dist.logsf(x)))

    opt = so.minimize(negloglik, np.log(start), method="BFGS", options={"gtol": 1e-10})
    return np.exp(opt.x), -opt.fun


@pytest.mark.parametrize(
    "name",
    [name for name in sorted(SCIPY)],
)
def test_right_censored_fit_matches_scipy_optimisation(name):
    family = getattr(jm, name)()
    res = jm.fit(jm.Censored(family), RIGHT)
    assert bool(res.converged)
    make, start = SCIPY[name]
    ref, ref_loglik = _scipy_censored_fit(make, start, X, EVENT)
    np.testing.assert_allclose(res.model.flatten(res.params), ref, rtol=1e-6)
    np.testing.assert_allclose(res.loglik, ref_loglik, rtol=1e-12, atol=1e-8)
    # The likelihood itself at the estimate, term by term.
    dist = make(np.asarray(res.model.flatten(res.params)))
    terms = np.where(EVENT == 1, dist.logpdf(X), dist.logsf(X))
    np.testing.assert_allclose(res.loglik, terms.sum(), rtol=1e-13)


def test_right_censored_weibull_matches_scipy_censored_data_fit():
    censored = st.CensoredData.right_censored(X, EVENT == 0)
    shape, _, scale = st.weibull_min.fit(censored, floc=0)
    res = jm.fit(jm.Censored(jm.Weibull()), RIGHT)
    # scipy's generic fit stops at its optimiser's default tolerance.
    np.testing.assert_allclose(res.params["shape"], shape, rtol=1e-4)
    np.testing.assert_allclose(res.params["scale"], scale, rtol=1e-4)


def test_right_censored_exponential_closed_form():
    res = jm.fit(jm.Censored(jm.Exponential()), RIGHT)
    rate = EVENT.sum() / X.sum()
    np.testing.assert_allclose(res.params["rate"], rate, rtol=1e-12)
    np.testing.assert_allclose(res.se["rate"], rate / np.sqrt(EVENT.sum()), rtol=1e-9)
    np.testing.assert_allclose(res.loglik, EVENT.sum() * np.log(rate) - rate * X.sum(), rtol=1e-12)


@pytest.mark.parametrize("event_at_zero", [1.0, 0.0])
def test_exponential_with_a_time_of_zero_matches_the_closed_form(event_at_zero):
    """A time of 0 lies in the Exponential's support: exact or right-censored there, the fit is
    the closed form (log F(0) = -inf, never selected for these rows, must not poison the
    gradient)."""
    x = np.array([0.0, 1.3, 0.4, 2.2, 0.9, 3.1])
    event = np.r_[event_at_zero, np.ones(5)]
    res = jm.fit(jm.Censored(jm.Exponential()), {"x": x, "event": event})
    rate = event.sum() / x.sum()
    assert res.converged
    np.testing.assert_allclose(res.params["rate"], rate, rtol=1e-12)
    np.testing.assert_allclose(res.se["rate"], rate / np.sqrt(event.sum()), rtol=1e-9)


# -- left, right and interval censoring together --------------------------------------------------
# Weibull data with a detection limit (left-censored below 0.4), right-censoring at C, and every
# fifth remaining value only known to a unit-width bin.
LIMIT = 0.4
LEFT = T < LIMIT
BINNED = ~LEFT & (EVENT == 1) & (np.arange(N) % 5 == 0)
LOWER = np.where(LEFT, 0.0, np.where(BINNED, np.floor(X), X))
UPPER = np.where(LEFT, LIMIT, np.where(BINNED, np.floor(X) + 1.0, np.where(EVENT == 1, X, np.inf)))


def _scipy_interval_fit(make, start):
    exact, right = LOWER == UPPER, np.isinf(UPPER)
    between = ~exact & ~right

    def negloglik(logp):
        dist = make(np.exp(logp))
        terms = np.zeros(N)
        terms[exact] = dist.logpdf(LOWER[exact])
        terms[right] = dist.logsf(LOWER[right])
        terms[between] = np.log(dist.cdf(UPPER[between]) - dist.cdf(LOWER[between]))
        return -terms.sum()

    opt = so.minimize(negloglik, np.log(start), method="BFGS", options={"gtol": 1e-10})
    return np.exp(opt.x), -opt.fun


WEIBULL_CENSORED = jm.Censored(jm.Weibull())


def test_interval_layout_matches_scipy_with_left_right_and_interval_rows():
    # Censored declares "lower"/"upper" as keys that may hold +-inf, so the eager path accepts
    # them; the jitted path must agree.
    data = {"lower": jnp.asarray(LOWER), "upper": jnp.asarray(UPPER)}
    res = jm.fit(WEIBULL_CENSORED, data)
    jitted = jax.jit(lambda d: jm.fit(WEIBULL_CENSORED, d))(data)
    np.testing.assert_allclose(jitted.loglik, res.loglik, rtol=1e-12)
    assert bool(res.converged)
    ref, ref_loglik = _scipy_interval_fit(*SCIPY["Weibull"])
    np.testing.assert_allclose(res.model.flatten(res.params), ref, rtol=1e-6)
    np.testing.assert_allclose(res.loglik, ref_loglik, rtol=1e-12, atol=1e-8)
    grad = jax.grad(lambda p: jnp.sum(WEIBULL_CENSORED.logpdf(p, data)))(res.params)
    assert all(np.isfinite(float(g)) for g in grad.values())


def test_event_codes_match_the_interval_layout():
    # Left-censoring at the limit (code 2) and right-censoring (code 0), no binned rows.
    event = np.where(LEFT, 2.0, EVENT)
    x = np.where(LEFT, LIMIT, X)
    params = {"shape": jnp.asarray(1.4), "scale": jnp.asarray(1.8)}
    by_code = WEIBULL_CENSORED.logpdf(params, {"x": jnp.asarray(x), "event": jnp.asarray(event)})
    lower = np.where(LEFT, -np.inf, X)
    upper = np.where(LEFT, LIMIT, np.where(EVENT == 1, X, np.inf))
    by_bounds = WEIBULL_CENSORED.logpdf(
        params, {"lower": jnp.asarray(lower), "upper": jnp.asarray(upper)}
    )
    np.testing.assert_allclose(by_code, by_bounds, rtol=1e-13)
    dist = st.weibull_min(1.4, scale=1.8)
    ref = np.where(event == 1, dist.logpdf(x), np.where(event == 2, dist.logcdf(x), dist.logsf(x)))
    np.testing.assert_allclose(by_code, ref, rtol=1e-12)


def test_interval_probabilities_keep_their_digits_in_both_tails():
    model = jm.Censored(jm.Normal())
    lower = jnp.array([8.0, -9.0, -0.5, 30.0])
    upper = jnp.array([9.0, -8.0, 0.5, 30.5])
    got = model.logpdf(
        {"loc": jnp.asarray(0.0), "scale": jnp.asarray(1.0)}, {"lower": lower, "upper": upper}
    )
    # log(S(8) - S(9)) and its mirror image from scipy's log survival function.
    upper_tail = st.norm.logsf(8.0) + np.log1p(-np.exp(st.norm.logsf(9.0) - st.norm.logsf(8.0)))
    far = st.norm.logsf(30.0) + np.log1p(-np.exp(st.norm.logsf(30.5) - st.norm.logsf(30.0)))
    ref = [upper_tail, upper_tail, np.log(st.norm.cdf(0.5) - st.norm.cdf(-0.5)), far]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # The helper alone, fed log F and log S at both ends.
    lf, ls = st.norm.logcdf([8.0, 9.0]), st.norm.logsf([8.0, 9.0])
    np.testing.assert_allclose(log_prob_between(lf[0], lf[1], ls[0], ls[1]), upper_tail, rtol=1e-12)


# -- truncation ------------------------------------------------------------------------------------
def test_truncated_normal_matches_scipy_truncnorm():
    low, high, loc, scale = 0.0, 3.0, 0.8, 1.5
    a, b = (low - loc) / scale, (high - loc) / scale
    x = st.truncnorm(a, b, loc=loc, scale=scale).rvs(400, random_state=np.random.default_rng(3))
    res = jm.fit(jm.Truncated(jm.Normal(), low=low, high=high), jnp.asarray(x))
    assert bool(res.converged)

    def negloglik(p):
        mu, sigma = p[0], np.exp(p[1])
        return -st.truncnorm((low - mu) / sigma, (high - mu) / sigma, mu, sigma).logpdf(x).sum()

    opt = so.minimize(negloglik, [loc, np.log(scale)], method="BFGS", options={"gtol": 1e-10})
    np.testing.assert_allclose(res.params["loc"], opt.x[0], rtol=1e-6)
    np.testing.assert_allclose(res.params["scale"], np.exp(opt.x[1]), rtol=1e-6)
    mu, sigma = float(res.params["loc"]), float(res.params["scale"])
    at_estimate = st.truncnorm((low - mu) / sigma, (high - mu) / sigma, mu, sigma).logpdf(x).sum()
    np.testing.assert_allclose(res.loglik, at_estimate, rtol=1e-12, atol=1e-8)


def test_zero_truncated_poisson():
    rng = np.random.default_rng(4)
    y = rng.poisson(1.3, 2000)
    y = y[y > 0].astype(float)
    res = jm.fit(jm.Truncated(jm.Poisson(), low=0), jnp.asarray(y))
    lam = float(res.params["rate"])
    # The MLE solves lam / (1 - exp(-lam)) = mean(y).
    np.testing.assert_allclose(lam / -np.expm1(-lam), y.mean(), rtol=1e-10)
    ref = np.sum(st.poisson.logpmf(y, lam) - st.poisson.logsf(0, lam))
    np.testing.assert_allclose(res.loglik, ref, rtol=1e-12)


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        (
            WEIBULL_CENSORED,
            {"x": [1.0, 2.0], "event": [1.0, 3.0]},
            r"Censored\(Weibull\).*\[3\.0\]",
        ),
        (WEIBULL_CENSORED, {"x": [1.0, -2.0], "event": [1.0, 0.0]}, r"Censored\(Weibull\).*-2\.0"),
        (
            WEIBULL_CENSORED,
            {"lower": [1.0, 3.0], "upper": [2.0, 2.5]},
            r"Censored\(Weibull\): need lower <= upper.*index 1 \(lower=3\.0, upper=2\.5\)",
        ),
        (WEIBULL_CENSORED, {"time": [1.0], "event": [1.0]}, r"Censored: data must be a dict"),
        (jm.Truncated(jm.Normal(), low=0.0, high=2.0), [0.5, 2.5], r"Truncated\(Normal.*\[2\.5\]"),
        (jm.Truncated(jm.Poisson(), low=0.0), [1.0, 0.0], r"Truncated\(Poisson.*\[0\.0\]"),
    ],
)
def test_bad_data_raises(model, data, match):
    data = {k: jnp.asarray(v) for k, v in data.items()} if isinstance(data, dict) else data
    with pytest.raises(ValueError, match=match):
        jm.fit(model, jnp.asarray(data) if isinstance(data, list) else data)


def test_truncation_window_must_be_ordered():
    with pytest.raises(ValueError, match="low < high"):
        jm.Truncated(jm.Normal(), low=2.0, high=1.0)
