"""Discrete families against closed forms, scipy.stats and statsmodels.

References: the closed-form MLEs and inverse Fisher informations (Poisson ``mean``,
``sqrt(rate/n)``; Bernoulli ``mean``, ``sqrt(p(1-p)/n)``; Binomial ``sum y / sum trials``,
``sqrt(p(1-p)/sum trials)``; Geometric ``1/mean``, ``p sqrt((1-p)/n)``; Categorical class
frequencies, ``sqrt(p(1-p)/n)``), log-likelihoods summed from ``scipy.stats`` log-pmfs, and
``statsmodels.discrete.discrete_model.NegativeBinomial(y, ones, loglike_method="nb2")`` fitted by
``method="newton"`` for the negative binomial (computed live in the tests).
"""

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
import statsmodels.api as sm

import jaxmle as jm
from jaxmle._problem import Problem

PROBS = np.array([0.15, 0.25, 0.25, 0.35])


@dataclass(frozen=True)
class Case:
    model: jm.Model
    make: Callable  # (rng, n) -> dataset
    mle: Callable  # dataset -> {name: closed-form estimate}
    se: Callable  # (dataset, mle) -> {name: closed-form standard error}
    loglik: Callable  # (dataset, mle) -> scipy log-likelihood at the estimate


def _binomial_data(rng, n):
    trials = rng.integers(1, 12, n).astype(float)
    return {"y": rng.binomial(trials.astype(int), 0.35).astype(float), "trials": trials}


def _binomial_p(d):
    return d["y"].sum() / d["trials"].sum()


CASES = {
    "Poisson": Case(
        jm.Poisson(),
        lambda rng, n: rng.poisson(2.5, n).astype(float),
        lambda y: {"rate": y.mean()},
        lambda y, m: {"rate": np.sqrt(m["rate"] / len(y))},
        lambda y, m: st.poisson.logpmf(y, m["rate"]).sum(),
    ),
    "Bernoulli": Case(
        jm.Bernoulli(),
        lambda rng, n: rng.binomial(1, 0.3, n).astype(float),
        lambda y: {"p": y.mean()},
        lambda y, m: {"p": np.sqrt(m["p"] * (1 - m["p"]) / len(y))},
        lambda y, m: st.bernoulli.logpmf(y, m["p"]).sum(),
    ),
    "Binomial": Case(
        jm.Binomial(),
        _binomial_data,
        lambda d: {"p": _binomial_p(d)},
        lambda d, m: {"p": np.sqrt(m["p"] * (1 - m["p"]) / d["trials"].sum())},
        lambda d, m: st.binom.logpmf(d["y"], d["trials"], m["p"]).sum(),
    ),
    "Geometric": Case(
        jm.Geometric(),
        lambda rng, n: rng.geometric(0.4, n).astype(float),
        lambda y: {"p": 1.0 / y.mean()},
        lambda y, m: {"p": m["p"] * np.sqrt((1 - m["p"]) / len(y))},
        lambda y, m: st.geom.logpmf(y, m["p"]).sum(),
    ),
    "Categorical": Case(
        jm.Categorical(n_classes=4),
        lambda rng, n: rng.choice(4, n, p=PROBS),
        lambda y: {"probs": np.bincount(y, minlength=4) / len(y)},
        lambda y, m: {"probs": np.sqrt(m["probs"] * (1 - m["probs"]) / len(y))},
        lambda y, m: st.multinomial.logpmf(np.eye(4)[y], 1, m["probs"]).sum(),
    ),
}


def _datasets(make, batch, seed, low=80, high=121):
    rng = np.random.default_rng(seed)
    return [make(rng, int(n)) for n in rng.integers(low, high, batch)]


def _check_against_closed_forms(case, datasets, res):
    assert bool(jnp.all(res.converged)), np.unique(res.status_name, return_counts=True)
    assert int(jnp.max(res.n_iter)) <= 2  # the start is the MLE: one polishing Newton step
    for b, d in enumerate(datasets):
        mle = case.mle(d)
        for key, value in mle.items():
            np.testing.assert_allclose(res.params[key][b], value, rtol=1e-10, atol=1e-13)
        for key, value in case.se(d, mle).items():
            np.testing.assert_allclose(res.se[key][b], value, rtol=1e-8)
        np.testing.assert_allclose(res.loglik[b], case.loglik(d, mle), rtol=1e-12, atol=1e-8)


# Boundary datasets: the MLE lies on the edge of the parameter space (rate 0, p in {0, 1}, an
# empty category). They ride in the same batch as ordinary datasets and must get their own code.
BOUNDARY_CASES = {
    "Poisson": [np.zeros(12), np.zeros(3)],
    "Bernoulli": [np.zeros(10), np.ones(7)],
    "Binomial": [
        {"y": np.zeros(4), "trials": np.array([3.0, 5.0, 1.0, 2.0])},
        {"y": np.array([3.0, 5.0, 1.0, 2.0]), "trials": np.array([3.0, 5.0, 1.0, 2.0])},
    ],
    "Geometric": [np.ones(9)],
    "Categorical": [np.array([0, 1, 1, 3, 0, 3])],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_forms_over_ragged_batch_with_boundary_datasets(name):
    case = CASES[name]
    datasets = _datasets(case.make, 200, seed=sorted(CASES).index(name))
    boundary = BOUNDARY_CASES[name]
    res = jm.fit_many(case.model, datasets + boundary)
    _check_against_closed_forms(case, datasets, res[: len(datasets)])

    edge = res[len(datasets) :]
    assert edge.status_name.tolist() == ["boundary"] * len(boundary)
    for b, d in enumerate(boundary):  # the estimate sits (numerically) on the boundary
        for key, value in case.mle(d).items():
            np.testing.assert_allclose(edge.params[key][b], value, atol=1e-12)

    # Observed and expected information coincide at the MLE of these exponential families.
    data = jax.tree_util.tree_map(jnp.asarray, datasets[0])
    weights = jnp.ones(len(jax.tree_util.tree_leaves(data)[0]))
    u = res.unconstrained[0]
    problem = Problem.build(data, weights)
    expected = jax.jit(case.model.expected_information)(u, problem)
    _, _, hessian = jax.jit(case.model.objective_derivatives)(u, problem)
    np.testing.assert_allclose(expected, hessian, rtol=1e-9, atol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_forms_over_1000_datasets(name):
    case = CASES[name]
    datasets = _datasets(case.make, 1000, seed=100 + sorted(CASES).index(name))
    res = jm.fit_many(case.model, datasets)
    _check_against_closed_forms(case, datasets, res)


def test_frequency_weights_equal_repeated_rows():
    y = np.array([0.0, 3.0, 1.0, 5.0, 2.0])
    w = np.array([2.0, 1.0, 0.0, 3.0, 1.0])
    repeated = np.repeat(y, w.astype(int))
    res = jm.fit_many(CASES["Poisson"].model, [y, repeated], weights=[w, np.ones(repeated.size)])
    np.testing.assert_allclose(res.params["rate"][0], res.params["rate"][1], rtol=1e-14)
    np.testing.assert_allclose(res.se["rate"][0], res.se["rate"][1], rtol=1e-12)
    np.testing.assert_allclose(res.loglik[0], res.loglik[1], rtol=1e-12)


# -- negative binomial ---------------------------------------------------------------------------
NB = jm.NegativeBinomial()


def _nb_datasets(batch, seed):
    rng = np.random.default_rng(seed)
    out = []
    for n in rng.integers(60, 121, batch):
        lam = rng.gamma(1 / 0.5, 0.5 * 3.0, n)  # NB2 with mean 3, alpha 0.5
        out.append(rng.poisson(lam).astype(float))
    return out


def _nb_loglik_scipy(y, mean, alpha):
    r = 1.0 / alpha
    return st.nbinom.logpmf(y, r, r / (r + mean)).sum()


def test_negative_binomial_matches_statsmodels_nb2():
    datasets = _nb_datasets(200, seed=11)
    under = np.array([2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0, 4.0])  # variance 0.36 < mean 2.6
    res = jm.fit_many(NB, [*datasets, under])
    # Under-dispersion puts the MLE of alpha on the boundary 0 (the Poisson).
    assert res.status_name[-1] == "boundary"
    np.testing.assert_allclose(res.params["mean"][-1], under.mean(), rtol=1e-10)
    assert float(res.params["alpha"][-1]) < 1e-6
    res = res[:-1]
    assert bool(jnp.all(res.converged))
    for b, y in enumerate(datasets):
        np.testing.assert_allclose(res.params["mean"][b], y.mean(), rtol=1e-10)
        ll = _nb_loglik_scipy(y, float(res.params["mean"][b]), float(res.params["alpha"][b]))
        np.testing.assert_allclose(res.loglik[b], ll, rtol=1e-12, atol=1e-8)
    for b in range(5):  # statsmodels is slow: five datasets as the external reference
        y = datasets[b]
        sm_res = sm.NegativeBinomial(y, np.ones_like(y), loglike_method="nb2").fit(
            method="newton", tol=1e-14, maxiter=200, disp=0
        )
        const, alpha = sm_res.params
        np.testing.assert_allclose(res.params["mean"][b], np.exp(const), rtol=1e-9)
        np.testing.assert_allclose(res.params["alpha"][b], alpha, rtol=1e-7)
        np.testing.assert_allclose(res.loglik[b], sm_res.llf, rtol=1e-12)
        # statsmodels reports (log mean, alpha); its bse of alpha is on our natural scale too.
        np.testing.assert_allclose(res.se["alpha"][b], sm_res.bse[1], rtol=1e-5)


@pytest.mark.slow
def test_negative_binomial_over_1000_datasets():
    datasets = _nb_datasets(1000, seed=12)
    res = jm.fit_many(NB, datasets)
    assert bool(jnp.all(res.converged))
    assert float(jnp.max(res.grad_norm)) < 1e-6


# -- support validation --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        (jm.Poisson(), [1.0, -2.0, 3.0], r"Poisson.*\[-2\.0\]"),
        (jm.Poisson(), [1.0, 2.5, 3.0], r"Poisson.*\[2\.5\]"),
        (jm.NegativeBinomial(), [1.0, 0.5, -1.0], r"NegativeBinomial.*\[0\.5, -1\.0\]"),
        (jm.Bernoulli(), [0.0, 1.0, 2.0], r"Bernoulli.*\[2\.0\]"),
        (jm.Geometric(), [1.0, 0.0, 3.0], r"Geometric.*\[0\.0\]"),
        (jm.Categorical(n_classes=3), [0, 1, 3], r"Categorical.*\[3\]"),
        (jm.Categorical(n_classes=3), [0, -1, 2], r"Categorical.*\[-1\]"),
        (
            jm.Binomial(),
            {"y": [1.0, 6.0], "trials": [5.0, 5.0]},
            r"Binomial.*y in \{0, 1, \.\.\., trials\}.*\[6\.0\]",
        ),
        (jm.Binomial(), {"y": [1.0], "trials": [2.5]}, r"Binomial.*trials.*\[2\.5\]"),
        (jm.Binomial(), [1.0, 2.0], r"Binomial: data must be a dict"),
    ],
)
def test_data_outside_the_support_raises(model, data, match):
    data = (
        {k: jnp.asarray(v) for k, v in data.items()}
        if isinstance(data, dict)
        else jnp.asarray(data)
    )
    with pytest.raises(ValueError, match=match):
        jm.fit(model, data)


def test_categorical_needs_a_class_count():
    with pytest.raises(ValueError, match="n_classes"):
        jm.Categorical(n_classes=1)


# -- distribution functions and samplers ---------------------------------------------------------
GRID = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 3.7, 6.0, 15.0])


@pytest.mark.parametrize(
    ("model", "params", "scipy_dist"),
    [
        (jm.Poisson(), {"rate": 2.3}, st.poisson(2.3)),
        (jm.Bernoulli(), {"p": 0.3}, st.bernoulli(0.3)),
        (jm.Geometric(), {"p": 0.35}, st.geom(0.35)),
    ],
)
def test_logcdf_and_logsf_match_scipy(model, params, scipy_dist):
    params = {k: jnp.asarray(v) for k, v in params.items()}
    x = jnp.asarray(GRID)
    np.testing.assert_allclose(model.logcdf(params, x), scipy_dist.logcdf(GRID), rtol=1e-10)
    np.testing.assert_allclose(model.logsf(params, x), scipy_dist.logsf(GRID), rtol=1e-10)


def test_binomial_logcdf_and_logsf_match_scipy():
    y = np.array([-1.0, 0.0, 2.0, 2.5, 5.0, 10.0, 12.0])
    trials = np.full_like(y, 10.0)
    data = {"y": jnp.asarray(y), "trials": jnp.asarray(trials)}
    p = {"p": jnp.asarray(0.3)}
    model = CASES["Binomial"].model
    np.testing.assert_allclose(model.logcdf(p, data), st.binom.logcdf(y, trials, 0.3), rtol=1e-10)
    np.testing.assert_allclose(model.logsf(p, data), st.binom.logsf(y, trials, 0.3), rtol=1e-10)


def test_negative_binomial_logpdf_matches_scipy_including_small_alpha():
    y = np.arange(0.0, 25.0)
    for mean, alpha in [(3.0, 0.5), (0.2, 4.0), (40.0, 1e-3)]:
        r = 1.0 / alpha
        params = {"mean": jnp.asarray(mean), "alpha": jnp.asarray(alpha)}
        np.testing.assert_allclose(
            NB.logpdf(params, jnp.asarray(y)),
            st.nbinom.logpmf(y, r, r / (r + mean)),
            rtol=1e-10,
        )


@pytest.mark.parametrize(
    ("model", "params", "mean", "var"),
    [
        (jm.Poisson(), {"rate": 3.0}, 3.0, 3.0),
        (jm.Bernoulli(), {"p": 0.3}, 0.3, 0.21),
        (jm.Geometric(), {"p": 0.25}, 4.0, 0.75 / 0.25**2),
        (jm.NegativeBinomial(), {"mean": 3.0, "alpha": 0.5}, 3.0, 3.0 + 0.5 * 9.0),
        (jm.Categorical(n_classes=4), {"probs": PROBS}, PROBS @ np.arange(4), None),
    ],
)
def test_samplers_have_the_right_moments(model, params, mean, var):
    params = {k: jnp.asarray(v) for k, v in params.items()}
    draws = np.asarray(model.sample(jax.random.key(0), params, (20000,)), dtype=float)
    assert draws.shape == (20000,)
    model.validate_data(draws)
    sd = np.sqrt(draws.var() if var is None else var)
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(draws.size)
    if var is not None:
        assert abs(draws.var() / var - 1) < 0.1


def test_binomial_sampler_respects_trials():
    draws = jm.Binomial().sample(jax.random.key(1), {"p": jnp.asarray(0.4)}, (5000,), trials=8)
    assert draws.shape == (5000,) and float(draws.max()) <= 8
    assert abs(float(draws.mean()) - 3.2) < 4 * np.sqrt(8 * 0.24 / 5000)
