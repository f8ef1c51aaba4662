"""Samplers and ``simulate`` against outside references.

References: every family's sampler draws 20,000 values per parameter setting (fixed keys, so the
tests are deterministic) and is compared with ``scipy.stats`` (parameters translated in each
case): a Kolmogorov-Smirnov test for continuous families, a chi-square test on the pmf (cells
pooled to expected counts >= 5) for discrete ones, both at p > 1e-3, and the sample mean and
variance within 5 standard errors of scipy's moments (the variance's standard error from scipy's
kurtosis, ``var sqrt((kurt + 2) / n)``). ``simulate`` of the regressions, censored and truncated
models draws 20,000 rows that ``jm.fit`` must fit back to the truth within 4.5 standard errors.

One jitted sampler per model, called with every parameter setting (arrays of fixed shapes), so
each compiles once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

import jaxmle as jm
from jaxmle._problem import Problem
from jaxmle.distributions._family import Family
from jaxmle.distributions._sampling import gamma, log_gamma

N = 20_000
P_MIN = 1e-3  # deterministic (fixed keys): a threshold, not a false-positive rate
MOMENT_SE = 5.0
FIT_SE = 4.5


@functools.cache
def jitted_sample(model):
    """``(key, params) -> model.sample(key, params, (N,))``, compiled once per model."""
    return jax.jit(lambda key, params: model.sample(key, params, (N,)))


def sample(model, params, seed):
    params = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
    return np.asarray(jitted_sample(model)(jax.random.key(seed), params), dtype=float)


def assert_moments(x, dist):
    """Sample mean and variance within ``MOMENT_SE`` standard errors of ``dist``'s, where finite."""
    mean, var, kurt = (float(m) for m in dist.stats(moments="mvk"))
    if np.isfinite(mean) and np.isfinite(var):
        assert abs(x.mean() - mean) < MOMENT_SE * np.sqrt(var / x.size), (x.mean(), mean)
    if np.isfinite(var) and np.isfinite(kurt):
        se = var * np.sqrt((kurt + 2.0) / x.size)
        assert abs(x.var() - var) < MOMENT_SE * se, (x.var(), var)


def pooled_chisquare(x, dist) -> float:
    """p-value of a chi-square test of integer draws ``x`` against ``dist``'s pmf, the cells
    pooled left to right until each expects at least 5 (the last cell is the upper tail)."""
    low = int(dist.support()[0])
    high = int(max(dist.isf(1e-9), low + 1))
    cells = np.arange(low, high)
    observed = np.bincount(np.clip(x, low, high).astype(int) - low, minlength=high - low + 1)
    expected = x.size * np.append(dist.pmf(cells), dist.sf(high - 1))
    pooled_obs, pooled_exp, acc_obs, acc_exp = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_obs, acc_exp = acc_obs + o, acc_exp + e
        if acc_exp >= 5.0:
            pooled_obs.append(acc_obs)
            pooled_exp.append(acc_exp)
            acc_obs = acc_exp = 0.0
    pooled_obs[-1] += acc_obs
    pooled_exp[-1] += acc_exp
    pooled_exp = np.array(pooled_exp) * x.size / np.sum(pooled_exp)
    return st.chisquare(pooled_obs, pooled_exp).pvalue


# -- the gamma sampler (KS tests at shapes 0.05, 0.9, 1 and 30: the Gamma family's, below) -----
def test_gamma_broadcasts_an_array_of_shapes():
    a = np.array([0.3, 1.0, 7.0])
    x = np.asarray(jax.jit(lambda key: gamma(key, jnp.asarray(a), (N, 3)))(jax.random.key(2)))
    assert x.shape == (N, 3)
    for j, aj in enumerate(a):
        assert st.kstest(x[:, j], st.gamma(aj).cdf).pvalue > P_MIN
        assert_moments(x[:, j], st.gamma(aj))


def test_log_gamma_is_exact_for_tiny_shapes():
    """At ``a = 1e-3`` half the draws lie below 1e-308: their logs, by the boost in logs, follow
    ``P(log X <= t) = P(a, e^t)`` (scipy's ``gammainc``; ``e^{a t} / Gamma(a + 1)`` where
    ``e^t`` underflows, exact to ``a e^t``), while ``gamma`` rounds those draws to 0."""
    a = 1e-3
    log_x = np.asarray(jax.jit(lambda key: log_gamma(key, a, (N,)))(jax.random.key(3)))
    assert np.all(np.isfinite(log_x))

    def cdf(t):
        small = t < -30.0
        tail = np.exp(a * np.where(small, t, 0.0) - sps.gammaln(a + 1.0))
        return np.where(small, tail, sps.gammainc(a, np.exp(np.maximum(t, -30.0))))

    assert st.kstest(log_x, cdf).pvalue > P_MIN
    zeros = np.asarray(jax.jit(lambda key: gamma(key, a, (N,)))(jax.random.key(3))) == 0
    assert abs(zeros.mean() - cdf(np.log(np.finfo(float).tiny))) < 0.02


def test_gamma_is_reproducible_under_jit_and_vmap():
    keys = jax.random.split(jax.random.key(4), 5)
    shapes = jnp.array([0.2, 0.9, 1.0, 2.5, 40.0])
    draw = jax.jit(lambda key, a: gamma(key, a, (50,)))
    batched = jax.jit(jax.vmap(draw))(keys, shapes)
    looped = jnp.stack([draw(k, a) for k, a in zip(keys, shapes, strict=True)])
    np.testing.assert_allclose(batched, looped, rtol=1e-13)
    np.testing.assert_array_equal(batched, jax.jit(jax.vmap(draw))(keys, shapes))
    assert len(np.unique(np.asarray(batched))) == batched.size


def test_gamma_of_invalid_shapes_is_nan():
    x = jax.jit(gamma)(jax.random.key(0), jnp.array([jnp.nan, -1.0, 0.0, jnp.inf, 2.0]))
    assert np.all(np.isnan(x[:3])) and x[3] == np.inf and 0 < x[4] < np.inf


# -- every family's sampler ---------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    model: jm.Model
    params: dict
    dist: object  # frozen scipy distribution
    sample: object = field(default=None, compare=False)  # (params, seed) -> draws; default sample

    def draw(self, seed):
        if self.sample is not None:
            return self.sample(self.params, seed)
        return sample(self.model, self.params, seed)


def _vonmises_draws(params, seed):
    """Angles wrapped into scipy's support ``[loc - pi, loc + pi)``."""
    x = sample(jm.VonMises(), params, seed)
    return params["loc"] + np.mod(x - params["loc"] + np.pi, 2 * np.pi) - np.pi


CONTINUOUS = {
    "Normal": [
        Case(jm.Normal(), {"loc": 0.0, "scale": 1.0}, st.norm(0.0, 1.0)),
        Case(jm.Normal(), {"loc": -3.0, "scale": 0.2}, st.norm(-3.0, 0.2)),
    ],
    "StudentT": [
        Case(jm.StudentT(), {"df": 0.8, "loc": 1.0, "scale": 2.0}, st.t(0.8, 1.0, 2.0)),
        Case(jm.StudentT(), {"df": 12.0, "loc": -1.0, "scale": 0.5}, st.t(12.0, -1.0, 0.5)),
    ],
    "Laplace": [
        Case(jm.Laplace(), {"loc": 0.0, "scale": 1.0}, st.laplace(0.0, 1.0)),
        Case(jm.Laplace(), {"loc": 2.0, "scale": 0.3}, st.laplace(2.0, 0.3)),
    ],
    "Logistic": [
        Case(jm.Logistic(), {"loc": 0.0, "scale": 1.0}, st.logistic(0.0, 1.0)),
        Case(jm.Logistic(), {"loc": 5.0, "scale": 3.0}, st.logistic(5.0, 3.0)),
    ],
    "Gumbel": [
        Case(jm.Gumbel(), {"loc": 0.0, "scale": 1.0}, st.gumbel_r(0.0, 1.0)),
        Case(jm.Gumbel(), {"loc": -2.0, "scale": 4.0}, st.gumbel_r(-2.0, 4.0)),
    ],
    "Cauchy": [
        Case(jm.Cauchy(), {"loc": 0.0, "scale": 1.0}, st.cauchy(0.0, 1.0)),
        Case(jm.Cauchy(), {"loc": 1.5, "scale": 0.1}, st.cauchy(1.5, 0.1)),
    ],
    "LogNormal": [
        Case(jm.LogNormal(), {"loc": 0.0, "scale": 0.5}, st.lognorm(0.5, scale=1.0)),
        Case(jm.LogNormal(), {"loc": 1.0, "scale": 1.2}, st.lognorm(1.2, scale=np.e)),
    ],
    "Exponential": [
        Case(jm.Exponential(), {"rate": 0.5}, st.expon(scale=2.0)),
        Case(jm.Exponential(), {"rate": 20.0}, st.expon(scale=0.05)),
    ],
    "Gamma": [
        Case(jm.Gamma(), {"shape": a, "rate": r}, st.gamma(a, scale=1 / r))
        for a, r in [(0.05, 1.0), (0.9, 2.0), (1.0, 0.5), (30.0, 3.0)]
    ],
    "Weibull": [
        Case(jm.Weibull(), {"shape": 0.7, "scale": 2.0}, st.weibull_min(0.7, scale=2.0)),
        Case(jm.Weibull(), {"shape": 3.0, "scale": 0.5}, st.weibull_min(3.0, scale=0.5)),
    ],
    "InverseGaussian": [
        Case(jm.InverseGaussian(), {"mean": 1.0, "shape": 3.0}, st.invgauss(1 / 3, scale=3.0)),
        Case(jm.InverseGaussian(), {"mean": 5.0, "shape": 0.5}, st.invgauss(10.0, scale=0.5)),
    ],
    "Beta": [
        Case(jm.Beta(), {"a": 0.3, "b": 0.6}, st.beta(0.3, 0.6)),
        Case(jm.Beta(), {"a": 5.0, "b": 2.0}, st.beta(5.0, 2.0)),
    ],
    "VonMises": [
        Case(jm.VonMises(), p, st.vonmises(p["concentration"], p["loc"]), _vonmises_draws)
        for p in ({"loc": 1.0, "concentration": 0.5}, {"loc": -2.5, "concentration": 20.0})
    ],
}


def _binomial_draws(params, seed):
    """``Binomial.simulate`` with every row's trials equal to ``params["trials"]``."""
    trials = jnp.full(N, params["trials"])
    y = _binomial_simulate(jax.random.key(seed), {"p": jnp.asarray(params["p"])}, trials)
    return np.asarray(y)


@jax.jit
def _binomial_simulate(key, params, trials):
    return jm.Binomial().simulate(key, params, {"y": trials, "trials": trials})["y"]


PROBS = [np.array([0.2, 0.5, 0.3]), np.array([0.05, 0.05, 0.9])]
DISCRETE = {
    "Poisson": [Case(jm.Poisson(), {"rate": r}, st.poisson(r)) for r in (0.7, 35.0)],
    "Bernoulli": [Case(jm.Bernoulli(), {"p": p}, st.bernoulli(p)) for p in (0.2, 0.9)],
    "Binomial": [
        Case(jm.Binomial(), {"p": p, "trials": m}, st.binom(m, p), _binomial_draws)
        for p, m in [(0.3, 12.0), (0.85, 40.0)]
    ],
    "Geometric": [Case(jm.Geometric(), {"p": p}, st.geom(p)) for p in (0.3, 0.85)],
    "NegativeBinomial": [
        Case(jm.NegativeBinomial(), {"mean": m, "alpha": a}, st.nbinom(1 / a, 1 / (1 + a * m)))
        for m, a in [(3.0, 0.5), (20.0, 2.0)]
    ],
    "Categorical": [
        Case(jm.Categorical(n_classes=3), {"probs": p}, st.rv_discrete(values=(range(3), p)))
        for p in PROBS
    ],
}


def _cases(table):
    return [
        pytest.param(case, seed, id=f"{name}-{i}")
        for seed, (name, cases) in enumerate(table.items())
        for i, case in enumerate(cases)
    ]


@pytest.mark.parametrize(("case", "seed"), _cases(CONTINUOUS))
def test_continuous_sampler_matches_scipy(case, seed):
    x = case.draw(seed)
    assert x.shape == (N,)
    case.model.validate_data(x)
    assert st.kstest(x, case.dist.cdf).pvalue > P_MIN
    assert_moments(x, case.dist)


@pytest.mark.parametrize(("case", "seed"), _cases(DISCRETE))
def test_discrete_sampler_matches_scipy(case, seed):
    x = case.draw(seed)
    assert x.shape == (N,) and np.all(x == np.round(x))
    assert pooled_chisquare(x, case.dist) > P_MIN
    assert_moments(x, case.dist)


def test_binomial_simulate_keeps_each_rows_trials():
    trials = jnp.asarray(np.arange(N) % 9, jnp.float64)
    data = jm.Binomial().simulate(
        jax.random.key(5), {"p": jnp.asarray(0.35)}, {"y": trials, "trials": trials}
    )
    assert set(data) == {"y", "trials"} and data["y"].shape == (N,)
    np.testing.assert_array_equal(data["trials"], trials)
    y = np.asarray(data["y"])
    assert np.all((0 <= y) & (y <= trials)) and np.all(y == np.round(y))
    se = np.sqrt(np.sum(trials * 0.35 * 0.65))
    assert abs(y.sum() - 0.35 * float(trials.sum())) < MOMENT_SE * se
    assert bool(jm.fit(jm.Binomial(), data).converged)


def test_multivariate_normal_sampler():
    mean, cov = (
        np.array([1.0, -2.0, 0.5]),
        np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]]),
    )
    x = sample(jm.MultivariateNormal(dim=3), {"mean": mean, "cov": cov}, 21)
    assert x.shape == (N, 3)
    se_mean = np.sqrt(np.diag(cov) / N)
    assert np.all(np.abs(x.mean(0) - mean) < MOMENT_SE * se_mean)
    se_cov = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / N)  # normal theory
    assert np.all(np.abs(np.cov(x.T, bias=True) - cov) < MOMENT_SE * se_cov)
    w = np.array([0.3, -1.0, 2.0])
    projection = st.norm(w @ mean, np.sqrt(w @ cov @ w))
    assert st.kstest(x @ w, projection.cdf).pvalue > P_MIN


@pytest.mark.parametrize("alpha", [[0.2, 0.5, 1.5], [4.0, 30.0, 2.0]])
def test_dirichlet_sampler_has_beta_marginals(alpha):
    alpha = np.array(alpha)
    x = sample(jm.Dirichlet(dim=3), {"alpha": alpha}, 22)
    np.testing.assert_allclose(x.sum(1), 1.0, rtol=1e-12)
    for k, ak in enumerate(alpha):
        marginal = st.beta(ak, alpha.sum() - ak)
        assert st.kstest(x[:, k], marginal.cdf).pvalue > P_MIN
        assert_moments(x[:, k], marginal)


def test_every_model_with_a_sampler_can_simulate():
    families = [c.model for cases in (CONTINUOUS | DISCRETE).values() for c in cases]
    families += [jm.MultivariateNormal(dim=2), jm.Dirichlet(dim=2)]
    regressions = [case.model for case in REGRESSIONS]
    wrapped = [jm.Censored(jm.Weibull()), jm.Truncated(jm.Poisson(), low=0)]
    assert all(m.can_simulate for m in families + regressions + wrapped)

    class NoSampler(jm.Normal):
        sample = Family.sample

    assert not jm.Censored(NoSampler()).can_simulate
    assert not jm.Truncated(NoSampler(), low=0.0).can_simulate


# -- truncated ----------------------------------------------------------------------------------
class _TruncatedScipy:
    """``dist`` conditioned on ``low <= X <= high`` (``low < X <= high`` for a discrete one)."""

    def __init__(self, dist, low=-np.inf, high=np.inf):
        self.dist, self.low, self.high = dist, low, high
        self.mass = dist.cdf(high) - dist.cdf(low)

    def cdf(self, x):
        return np.clip((self.dist.cdf(x) - self.dist.cdf(self.low)) / self.mass, 0.0, 1.0)

    def pmf(self, k):
        return np.where((k > self.low) & (k <= self.high), self.dist.pmf(k), 0.0) / self.mass

    def sf(self, k):
        return 1.0 - self.cdf(k)

    def support(self):
        return (self.low + 1, self.high)

    def isf(self, q):
        return min(self.high, self.dist.isf(q * self.mass))


TRUNCATED_CONTINUOUS = [
    (jm.Truncated(jm.Normal(), low=0.5, high=2.0), {"loc": 0.0, "scale": 1.0}, st.norm(), 0.5, 2),
    (jm.Truncated(jm.Gamma(), high=1.5), {"shape": 3.0, "rate": 1.0}, st.gamma(3.0), 0.0, 1.5),
    (
        jm.Truncated(jm.Weibull(), low=2.0),
        {"shape": 1.5, "scale": 1.0},
        st.weibull_min(1.5),
        2,
        None,
    ),
]


@pytest.mark.parametrize(("model", "params", "dist", "low", "high"), TRUNCATED_CONTINUOUS)
def test_truncated_continuous_sampler_is_exact(model, params, dist, low, high):
    x = sample(model, params, 31)
    model.validate_data(x)
    truncated = _TruncatedScipy(dist, low, np.inf if high is None else high)
    assert st.kstest(x, truncated.cdf).pvalue > P_MIN


@pytest.mark.parametrize(("low", "high", "rate"), [(0, None, 0.5), (2, 6, 5.0)])
def test_truncated_poisson_window_is_low_exclusive(low, high, rate):
    model = jm.Truncated(jm.Poisson(), low=low, high=high)
    x = sample(model, {"rate": rate}, 32)
    assert x.min() > low and (high is None or x.max() <= high)
    truncated = _TruncatedScipy(st.poisson(rate), low, np.inf if high is None else high)
    assert pooled_chisquare(x, truncated) > P_MIN


def test_truncated_sampler_gives_nan_for_an_empty_window():
    """NaN parameters (no window mass) stop at once; a window of negligible mass (here 1e-545)
    leaves NaN after ``max_rounds`` rounds, rather than a draw from outside it."""
    model = jm.Truncated(jm.Normal(), low=50.0)
    draw = jax.jit(lambda key, p: model.simulate(key, p, jnp.zeros(4)))
    assert np.all(np.isnan(draw(jax.random.key(0), {"loc": 0.0, "scale": 1.0})))
    assert np.all(np.isnan(draw(jax.random.key(0), {"loc": jnp.nan, "scale": 1.0})))
    assert np.all(draw(jax.random.key(0), {"loc": 49.0, "scale": 1.0}) >= 50.0)


# -- censored -----------------------------------------------------------------------------------
RATE = 0.7


@functools.cache
def _censored_simulate():
    model = jm.Censored(jm.Exponential())
    return model, jax.jit(model.simulate)


def _censored_fit_recovers_rate(data):
    model, _ = _censored_simulate()
    res = jm.fit(model, data)
    assert bool(res.converged)
    assert abs(float(res.params["rate"]) - RATE) < FIT_SE * float(res.se["rate"])


def _assert_fraction(flags, p):
    assert abs(flags.mean() - p) < MOMENT_SE * np.sqrt(p * (1 - p) / flags.size), (flags.mean(), p)


def test_censored_simulate_right_and_left_censoring_at_the_template_points():
    """Rows right-censored at 1.0 stay censored when ``X > 1`` (probability ``e^{-0.7}``),
    rows left-censored at 0.3 when ``X <= 0.3``; exact rows draw exactly."""
    n = N // 4
    c = np.concatenate([np.full(2 * n, 1.0), np.full(n, 0.3), np.linspace(0.1, 3.0, n)])
    event = np.concatenate([np.zeros(2 * n), np.full(n, 2.0), np.ones(n)])
    template = {"x": jnp.asarray(c), "event": jnp.asarray(event)}
    model, simulate = _censored_simulate()
    data = simulate(jax.random.key(41), {"rate": jnp.asarray(RATE)}, template)
    assert set(data) == {"x", "event"} and data["x"].shape == data["event"].shape == (N,)
    x, ev = np.asarray(data["x"]), np.asarray(data["event"])
    right, left, exact = slice(0, 2 * n), slice(2 * n, 3 * n), slice(3 * n, N)
    _assert_fraction(ev[right] == 0, np.exp(-RATE))
    _assert_fraction(ev[left] == 2, 1 - np.exp(-0.3 * RATE))
    assert np.all(ev[exact] == 1) and np.all(x[exact] != c[exact])
    assert np.all(x[right][ev[right] == 0] == 1.0) and np.all(x[right][ev[right] == 1] <= 1.0)
    assert np.all(x[left][ev[left] == 2] == 0.3) and np.all(x[left][ev[left] == 1] > 0.3)
    _censored_fit_recovers_rate(data)


def test_censored_simulate_interval_rows_keep_their_window():
    """Rows ``[1, 2]`` stay censored with probability ``F(2) - F(1)``, ``[2, inf]`` with
    ``S(2)``, ``[0, 0.5]`` with ``F(0.5)``; rows outside their window become exact."""
    n = N // 4
    lower = np.concatenate([np.full(n, 1.0), np.full(n, 2.0), np.zeros(n), np.full(n, 0.8)])
    upper = np.concatenate([np.full(n, 2.0), np.full(n, np.inf), np.full(n, 0.5), np.full(n, 0.8)])
    model, simulate = _censored_simulate()
    template = {"lower": jnp.asarray(lower), "upper": jnp.asarray(upper)}
    data = simulate(jax.random.key(42), {"rate": jnp.asarray(RATE)}, template)
    lo, hi = np.asarray(data["lower"]), np.asarray(data["upper"])
    kept = (lo == lower) & (hi == upper)
    cdf = st.expon(scale=1 / RATE).cdf
    _assert_fraction(kept[:n], cdf(2.0) - cdf(1.0))
    _assert_fraction(kept[n : 2 * n], 1 - cdf(2.0))
    _assert_fraction(kept[2 * n : 3 * n], cdf(0.5))
    assert np.all(lo[3 * n :] == hi[3 * n :]) and np.all(lo[3 * n :] != 0.8)
    exact = ~kept[: 3 * n]
    assert np.all(lo[: 3 * n][exact] == hi[: 3 * n][exact])
    assert not np.any((lo[:n][exact[:n]] >= 1.0) & (lo[:n][exact[:n]] <= 2.0))
    _censored_fit_recovers_rate(data)


def test_censored_discrete_window_is_low_exclusive():
    """For a discrete family the row ``[2, 5]`` is the event ``2 < X <= 5``."""
    template = {"lower": jnp.full(N, 2.0), "upper": jnp.full(N, 5.0)}
    data = jm.Censored(jm.Poisson()).simulate(
        jax.random.key(43), {"rate": jnp.asarray(3.0)}, template
    )
    kept = np.asarray(data["lower"]) < np.asarray(data["upper"])
    _assert_fraction(kept, st.poisson(3.0).cdf(5) - st.poisson(3.0).cdf(2))
    exact = np.asarray(data["lower"])[~kept]
    assert not np.any((exact > 2) & (exact <= 5))


# -- regressions --------------------------------------------------------------------------------
_rng = np.random.default_rng(0)
X = np.column_stack([np.ones(N), _rng.normal(size=N), _rng.uniform(-1.0, 1.0, N)])
OFFSET = _rng.uniform(0.0, 1.0, N)
TRIALS = _rng.integers(0, 8, N).astype(float)
BETA = np.array([0.3, -0.5, 0.8])


@dataclass(frozen=True)
class RegressionCase:
    model: jm.Model
    params: dict
    extra: tuple = ()  # template keys besides X and y

    @property
    def template(self):
        arrays = {"X": X, "y": np.zeros(N), "offset": OFFSET, "trials": TRIALS}
        return {k: jnp.asarray(arrays[k]) for k in ("X", "y", *self.extra)}


REGRESSIONS = [
    RegressionCase(jm.LinearRegression(), {"beta": BETA, "sigma": 1.5}, ("offset",)),
    RegressionCase(jm.Logit(), {"beta": BETA}),
    RegressionCase(jm.Logit(), {"beta": BETA}, ("trials",)),
    RegressionCase(jm.Probit(), {"beta": BETA}),
    RegressionCase(jm.PoissonRegression(), {"beta": BETA}, ("offset",)),
    RegressionCase(jm.NegativeBinomialRegression(), {"beta": BETA, "alpha": 0.7}),
    RegressionCase(jm.GammaRegression(), {"beta": BETA, "shape": 2.5}),
    RegressionCase(jm.GLM("inverse_gaussian", "log"), {"beta": BETA, "scale": 0.3}),
    RegressionCase(
        jm.MultinomialLogit(n_classes=3), {"beta": np.array([[0.2, -0.3], [0.5, 0.1], [-0.4, 0.9]])}
    ),
]


def simulated(case):
    template, params = case.template, {k: jnp.asarray(v) for k, v in case.params.items()}
    data = jax.jit(case.model.simulate)(jax.random.key(51), params, template)
    assert set(data) == set(template)
    assert all(data[k].shape == template[k].shape for k in template)
    for k in set(template) - {"y"}:
        np.testing.assert_array_equal(data[k], template[k])
    return data, params


@functools.partial(jax.jit, static_argnames="model")
def score_statistic(model, params, data):
    """``g' H^{-1} g`` with the score ``g`` and observed information ``H`` at the true
    parameters: asymptotically chi-square with ``k`` degrees of freedom when the data come from
    the model at ``params`` (the score test of the truth; no fit, so little to compile)."""
    problem = Problem.build(data)
    _, g, H = model.objective_derivatives(model.to_unconstrained(params), problem)
    return g @ jnp.linalg.solve(H, g)


@pytest.mark.parametrize("case", REGRESSIONS, ids=lambda c: "+".join((c.model.name, *c.extra)))
def test_regression_simulate_passes_the_score_test_of_the_truth(case):
    data, params = simulated(case)
    model = case.model.bind(data)
    k = model.flatten(params).size
    statistic = float(score_statistic(model, params, data))
    assert statistic < st.chi2.ppf(1 - 1e-4, k), statistic


FIT_BACK = [REGRESSIONS[8]]  # the multinomial logit (its (p, K-1) beta)
SLOW_FIT_BACK = [pytest.param(case, marks=pytest.mark.slow) for case in REGRESSIONS]


@pytest.mark.parametrize(
    "case",
    FIT_BACK + [p for p in SLOW_FIT_BACK if p.values[0] not in FIT_BACK],
    ids=lambda c: "+".join((c.model.name, *c.extra)),
)
def test_regression_simulate_fits_back_to_the_truth(case):
    data, params = simulated(case)
    res = jm.fit(case.model, data)
    assert bool(res.converged)
    flat = res.model.flatten
    z = (flat(res.params) - flat(params)) / flat(res.se)
    assert np.all(np.abs(np.asarray(z)) < FIT_SE), z


def test_regression_simulate_under_jit_vmap_equals_a_loop():
    # (The gamma sampler under vmap, which NB2 uses, is checked in
    # test_gamma_is_reproducible_under_jit_and_vmap.)
    model = jm.PoissonRegression()
    params = {"beta": jnp.asarray(BETA)}
    template = {"X": jnp.asarray(X[:40]), "y": jnp.zeros(40)}
    keys = jax.random.split(jax.random.key(52), 6)
    simulate = jax.jit(lambda key: model.simulate(key, params, template))
    batched = jax.jit(jax.vmap(simulate))(keys)
    assert batched["y"].shape == (6, 40) and batched["X"].shape == (6, 40, 3)
    for i, key in enumerate(keys):
        np.testing.assert_array_equal(batched["y"][i], simulate(key)["y"])
