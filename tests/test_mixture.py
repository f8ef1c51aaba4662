"""Finite mixtures (`jm.Mixture`): R's 50-start BFGS fits, labels across a batch, multiple starts,
collapsed components, discrete and positive families.

R references: tests/data/r_reference/mixture.json (``Rscript tests/data/r_reference/
make_references.R``; see the README there). Programs are shared: every normal k=2 fit uses the
faithful data's shape (n = 272) and every Poisson one the counts' shape (n = 300).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

import jaxmle as jm
from jaxmle._problem import Problem

DATA = Path(__file__).parent / "data" / "r_reference"
REFERENCE = json.loads((DATA / "mixture.json").read_text())
FAITHFUL = np.genfromtxt(DATA / "mixture_faithful.csv", delimiter=",", names=True)["waiting"]
COUNTS = np.genfromtxt(DATA / "mixture_poisson.csv", delimiter=",", names=True)["y"]
NORMAL2 = jm.Mixture(jm.Normal(), k=2)
POISSON2 = jm.Mixture(jm.Poisson(), k=2)


@pytest.fixture(scope="module")
def faithful_fit():
    return jm.fit(NORMAL2, FAITHFUL.astype(float))


@pytest.fixture(scope="module")
def poisson_fit():
    return jm.fit(POISSON2, COUNTS.astype(float))


def _r_covariance(section: str) -> np.ndarray:
    """R's covariance in its unconstrained parametrisation: inverse observed information."""
    return np.linalg.inv(np.array(REFERENCE[section]["observed_info_unconstrained"]["values"]))


def _natural_se(cov_u: np.ndarray, jacobian_diagonal) -> np.ndarray:
    """Delta method for an entry-wise reparametrisation (diagonal Jacobian)."""
    jac = np.diag(jacobian_diagonal)
    return np.sqrt(np.diag(jac @ cov_u @ jac.T))


# -- R references -------------------------------------------------------------------------------
def test_normal_mixture_matches_r_on_faithful(faithful_fit):
    ref = REFERENCE["normal"]
    res = faithful_fit
    best = ref["best_par"]
    assert int(res.status) == jm.Status.CONVERGED
    assert float(res.loglik) >= ref["best_loglik"] - 1e-8
    np.testing.assert_allclose(float(res.loglik), ref["best_loglik"], rtol=1e-12)
    w1 = best["w1"]
    np.testing.assert_allclose(res.params["loc"], [best["mu1"], best["mu2"]], rtol=1e-6)
    np.testing.assert_allclose(res.params["scale"], [best["sd1"], best["sd2"]], rtol=1e-6)
    np.testing.assert_allclose(res.params["weights"], [w1, 1.0 - w1], rtol=1e-6)

    # R: p = (logit w1, mu1, mu2, log sd1, log sd2). Natural-scale SEs by the delta method.
    cov_r = _r_covariance("normal")
    se_r = _natural_se(cov_r, [w1 * (1 - w1), 1.0, 1.0, best["sd1"], best["sd2"]])
    np.testing.assert_allclose(res.se["weights"], [se_r[0], se_r[0]], rtol=1e-4)
    np.testing.assert_allclose(res.se["loc"], se_r[1:3], rtol=1e-4)
    np.testing.assert_allclose(res.se["scale"], se_r[3:5], rtol=1e-4)
    # The same covariance in R's own parametrisation: jaxmle's u is (loc, log scale, log(w1/w2))
    # and log(w1/w2) = logit w1.
    assert np.all(np.diff(np.asarray(res.unconstrained[:2])) > 0)  # the sorted labelling
    order = [4, 0, 1, 2, 3]
    cov_u = np.asarray(res.cov_unconstrained)[np.ix_(order, order)]
    np.testing.assert_allclose(cov_u, cov_r, rtol=1e-4, atol=1e-4 * np.abs(cov_r).max())


def test_poisson_mixture_matches_r(poisson_fit):
    ref = REFERENCE["poisson"]
    res = poisson_fit
    best = ref["best_par"]
    assert int(res.status) == jm.Status.CONVERGED
    assert float(res.loglik) >= ref["best_loglik"] - 1e-8
    w1 = best["w1"]
    np.testing.assert_allclose(res.params["rate"], [best["lambda1"], best["lambda2"]], rtol=1e-6)
    np.testing.assert_allclose(res.params["weights"], [w1, 1.0 - w1], rtol=1e-6)
    # R: p = (logit w1, log lambda1, log lambda2).
    se_r = _natural_se(_r_covariance("poisson"), [w1 * (1 - w1), best["lambda1"], best["lambda2"]])
    np.testing.assert_allclose(res.se["weights"], [se_r[0], se_r[0]], rtol=1e-4)
    np.testing.assert_allclose(res.se["rate"], se_r[1:], rtol=1e-4)


# -- labels across a batch ----------------------------------------------------------------------
def test_labels_are_ordered_in_every_fit_of_a_batch(faithful_fit):
    rng = np.random.default_rng(7)
    datasets, low_means, low_weights = [], [], []
    for b in range(8):
        n = 272 if b == 0 else int(rng.integers(220, 272))
        low, high = rng.normal(-2.0, 0.3), rng.normal(2.0, 0.3)
        w_first = rng.uniform(0.3, 0.7)
        # Odd datasets list the component with the larger mean first.
        first, second = ((low, 1.0), (high, 0.7)) if b % 2 == 0 else ((high, 0.7), (low, 1.0))
        in_first = rng.uniform(size=n) < w_first
        x = np.where(in_first, rng.normal(first[0], first[1], n), rng.normal(*second, n))
        datasets.append(x)
        low_means.append(low)
        low_weights.append(w_first if b % 2 == 0 else 1.0 - w_first)
    many = jm.fit_many(NORMAL2, datasets)  # ragged: padded, with zero-weight rows
    assert np.all(np.asarray(many.status) == jm.Status.CONVERGED)
    loc = np.asarray(many.params["loc"])
    assert np.all(loc[:, 0] < loc[:, 1])
    np.testing.assert_allclose(loc[:, 0], low_means, atol=0.4)
    np.testing.assert_allclose(many.params["weights"][:, 0], low_weights, atol=0.12)
    # The batched fit equals the single one (the faithful fit's program: n = 272).
    one = jm.fit(NORMAL2, datasets[0])
    np.testing.assert_allclose(many.params["loc"][0], one.params["loc"], rtol=1e-8)
    np.testing.assert_allclose(many.se["scale"][0], one.se["scale"], rtol=1e-6)


# -- multiple starts ----------------------------------------------------------------------------
def _three_clusters():
    rng = np.random.default_rng(0)
    return np.concatenate(
        [rng.normal(-4.0, 1.0, 160), rng.normal(2.0, 0.5, 20), rng.normal(5.0, 0.5, 20)]
    )


def _scipy_fit(x, start):
    """One BFGS search (scipy) of the 3-component normal mixture from ``start``:
    ``v = (mu1..3, log sd1..3, log w1/w3, log w2/w3)``."""

    def nll(v):
        w = np.exp(np.append(v[6:], 0.0))
        w = w / w.sum()
        dens = sum(w[j] * stats.norm.pdf(x, v[j], np.exp(v[3 + j])) for j in range(3))
        return -np.sum(np.log(dens))

    return -optimize.minimize(nll, start, method="BFGS", options={"gtol": 1e-9}).fun


def test_multistart_reaches_the_maximum_the_em_start_misses():
    x = _three_clusters()
    model = jm.Mixture(jm.Normal(), k=3)
    single = jm.fit(model, x)
    multi = jm.fit(model, x, n_starts=16, key=jax.random.key(0))
    # Equal-weight tertiles put two starting components inside the big cluster.
    truth = np.array([-4.0, 2.0, 5.0, 0.0, np.log(0.5), np.log(0.5), np.log(8.0), 0.0])
    reference = _scipy_fit(x, truth)
    assert int(single.status) == jm.Status.CONVERGED
    assert float(single.loglik) < reference - 5.0  # a genuine local maximum
    assert int(multi.status) == jm.Status.CONVERGED
    assert float(multi.loglik) >= reference - 1e-6
    assert int(multi.n_best) >= 1
    np.testing.assert_allclose(multi.params["loc"], [-4.0, 2.0, 5.0], atol=0.2)  # ordered
    # The unconstrained estimate and its covariance follow the same (ordered) labelling, so the
    # transformed intervals belong to the component they are reported for.
    np.testing.assert_allclose(
        multi.unconstrained, model.to_unconstrained(multi.params), rtol=1e-10, atol=1e-12
    )
    lower, upper = multi.conf_int(method="transformed")
    assert np.all(np.asarray(lower["loc"]) < np.asarray(multi.params["loc"]))
    assert np.all(np.asarray(multi.params["loc"]) < np.asarray(upper["loc"]))
    np.testing.assert_allclose(multi.se["loc"], np.sqrt(np.diag(multi.cov))[:3], rtol=1e-12)


# -- collapsed components -----------------------------------------------------------------------
def test_a_component_collapsed_onto_tied_values_is_a_boundary(faithful_fit):
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0.0, 1.0, 262), np.full(10, 4.0)])  # n = 272
    res = jm.fit(NORMAL2, x)
    assert int(res.status) == jm.Status.BOUNDARY
    assert float(res.params["loc"][1]) == pytest.approx(4.0)
    assert float(res.params["scale"][1]) < 1e-8 * np.std(x)  # unbounded likelihood


def test_coinciding_components_are_a_boundary(poisson_fit):
    # Under-dispersed counts: the best two-component Poisson mixture is a single Poisson.
    y = np.random.default_rng(0).binomial(10, 0.5, 300).astype(float)
    res = jm.fit(POISSON2, y)
    assert int(res.status) == jm.Status.BOUNDARY
    np.testing.assert_allclose(res.params["rate"], np.mean(y), rtol=1e-4)


def test_diagnose_flags_an_empty_component(faithful_fit):
    problem = Problem.build(jnp.asarray(FAITHFUL, float))
    converged = jnp.asarray(jm.Status.CONVERGED, jnp.int32)
    assert int(NORMAL2.diagnose(faithful_fit.params, problem, converged)) == jm.Status.CONVERGED
    empty = dict(faithful_fit.params, weights=jnp.array([1.0 - 1e-9, 1e-9]))
    assert int(NORMAL2.diagnose(empty, problem, converged)) == jm.Status.BOUNDARY


# -- other families, sampling -------------------------------------------------------------------
def test_exponential_mixture_recovers_simulated_parameters():
    model = jm.Mixture(jm.Exponential(), k=2)
    truth = {"rate": jnp.array([0.2, 5.0]), "weights": jnp.array([0.4, 0.6])}
    x = model.simulate(jax.random.key(0), truth, jnp.zeros(2000))  # the template's size
    assert x.shape == (2000,)
    np.testing.assert_allclose(float(jnp.mean(x)), 0.4 / 0.2 + 0.6 / 5.0, rtol=0.1)
    res = jm.fit(model, x)
    assert int(res.status) == jm.Status.CONVERGED
    for name in ("rate", "weights"):
        z = (np.asarray(res.params[name]) - np.asarray(truth[name])) / np.asarray(res.se[name])
        assert np.all(np.abs(z) < 4.0), (name, z)
    draws = model.sample(jax.random.key(1), truth, (3, 4))
    assert draws.shape == (3, 4) and bool(jnp.all(draws > 0))


def test_parameters_and_construction():
    assert jm.Mixture(jm.Normal(), 2) == NORMAL2
    assert NORMAL2.param_names == (
        "loc[0]",
        "loc[1]",
        "scale[0]",
        "scale[1]",
        "weights[0]",
        "weights[1]",
    )
    assert isinstance(NORMAL2.specs["scale"], jm.Positive)
    assert isinstance(NORMAL2.specs["weights"], jm.Simplex)
    assert jm.Mixture(jm.Gamma(), k=3).specs["shape"].shape == (3,)
    assert jm.Mixture(jm.Gamma(), order_by="rate").order_by == "rate"
    # Reported parameters are ordered by loc whatever the labelling of u; the likelihood is not
    # affected.
    swapped = {
        "loc": jnp.array([3.0, -1.0]),
        "scale": jnp.array([1.0, 2.0]),
        "weights": jnp.array([0.3, 0.7]),
    }
    u = NORMAL2.to_unconstrained(swapped)
    ordered = NORMAL2.from_unconstrained(u)
    np.testing.assert_allclose(ordered["loc"], [-1.0, 3.0])
    np.testing.assert_allclose(ordered["scale"], [2.0, 1.0])
    np.testing.assert_allclose(ordered["weights"], [0.7, 0.3])
    x = jnp.array([-1.0, 0.5, 3.2])
    np.testing.assert_allclose(NORMAL2.logpdf(ordered, x), NORMAL2.logpdf(swapped, x))
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        jm.Mixture(jm.Normal(), k=1)
    with pytest.raises(ValueError, match="not identifiable"):
        jm.Mixture(jm.Bernoulli())
    with pytest.raises(ValueError, match="order_by must name a parameter"):
        jm.Mixture(jm.Normal(), order_by="mean")
    with pytest.raises(TypeError, match="entry-wise constraints"):
        jm.Mixture(jm.MultivariateNormal(dim=2))
    with pytest.raises(ValueError, match=r"Mixture\(Poisson, k=2\): Poisson: data must satisfy"):
        jm.fit(POISSON2, np.array([1.0, 2.5, 3.0]))
