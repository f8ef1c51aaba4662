"""Parameter specs: bijections, domains, and fits on constrained parameters vs closed forms."""

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import jaxmle as jm

finite = st.floats(-2, 2, allow_nan=False)  # keeps L L^T well conditioned

SPECS = {
    "real": jm.Real(np.zeros(3)),
    "positive": jm.Positive(np.ones(3)),
    "unit": jm.UnitInterval(np.full(3, 0.5)),
    "interval": jm.Interval(-2.0, 7.0, np.zeros(3)),
    "simplex": jm.Simplex(np.full(4, 0.25)),
    "ordered": jm.Ordered(np.arange(4.0)),
    "pd": jm.PositiveDefinite(np.eye(3)),
}


@pytest.mark.parametrize("name", list(SPECS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_forward_lands_in_the_domain_and_inverse_round_trips(name, data):
    spec = SPECS[name]
    u = data.draw(arrays(np.float64, (spec.unconstrained_size,), elements=finite))
    value = np.asarray(spec.forward(jnp.asarray(u)))
    assert value.shape == spec.shape
    assert np.all(spec.contains(value))
    np.testing.assert_allclose(spec.inverse(jnp.asarray(value)), u, rtol=1e-7, atol=1e-7)


def test_domain_checks():
    with pytest.raises(ValueError, match="outside the domain"):
        jm.Positive(-1.0)
    with pytest.raises(ValueError, match="outside the domain"):
        jm.Simplex([0.5, 0.6])
    with pytest.raises(ValueError, match="outside the domain"):
        jm.Ordered([1.0, 0.0])
    with pytest.raises(ValueError, match="outside the domain"):
        jm.PositiveDefinite([[1.0, 2.0], [2.0, 1.0]])
    assert SPECS["simplex"].unconstrained_size == 3
    assert SPECS["pd"].unconstrained_size == 6


def test_simplex_probabilities_equal_the_class_frequencies():
    labels = np.random.default_rng(0).choice(4, size=400, p=[0.1, 0.2, 0.3, 0.4])
    model = jm.Model(lambda p, y: jnp.log(p["probs"][y]), params={"probs": SPECS["simplex"]})
    res = jm.fit(model, labels)
    freq = np.bincount(labels, minlength=4) / len(labels)
    np.testing.assert_allclose(res.params["probs"], freq, rtol=1e-9)
    # Multinomial covariance (diag(p) - p p') / n, singular: rows sum to zero.
    np.testing.assert_allclose(res.cov, (np.diag(freq) - np.outer(freq, freq)) / 400, atol=1e-12)
    assert res.df_model == 3


def test_positive_definite_covariance_equals_the_biased_sample_covariance():
    rng = np.random.default_rng(1)
    x = rng.multivariate_normal(
        [1.0, -1.0, 0.0], [[2.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 0.5]], size=300
    )
    model = jm.Model(
        lambda p, x: jss.multivariate_normal.logpdf(x, p["mean"], p["cov"]),
        params={"mean": jm.Real(np.zeros(3)), "cov": jm.PositiveDefinite(np.eye(3))},
    )
    res = jm.fit(model, x)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params["mean"], x.mean(0), rtol=1e-9)
    np.testing.assert_allclose(res.params["cov"], np.cov(x.T, bias=True), rtol=1e-8)
    # SE of a variance: sqrt(2 sigma_jj^2 / n); of a covariance: sqrt((s_ij^2 + s_ii s_jj) / n).
    s = np.cov(x.T, bias=True)
    np.testing.assert_allclose(res.se["cov"][0, 0], np.sqrt(2 * s[0, 0] ** 2 / 300), rtol=1e-6)
    np.testing.assert_allclose(
        res.se["cov"][0, 1], np.sqrt((s[0, 1] ** 2 + s[0, 0] * s[1, 1]) / 300), rtol=1e-6
    )
    np.testing.assert_allclose(res.se["mean"], np.sqrt(np.diag(s) / 300), rtol=1e-6)


def test_ordered_means_equal_column_means_when_they_are_increasing():
    rng = np.random.default_rng(2)
    x = rng.normal([-1.0, 0.5, 2.0], 1.0, size=(200, 3))
    model = jm.Model(
        lambda p, x: jnp.sum(jss.norm.logpdf(x, p["mu"], 1.0), axis=1),
        params={"mu": jm.Ordered(np.array([0.0, 1.0, 2.0]))},
    )
    res = jm.fit(model, x)
    np.testing.assert_allclose(res.params["mu"], x.mean(0), rtol=1e-9)
    np.testing.assert_allclose(res.se["mu"], np.full(3, 1 / np.sqrt(200)), rtol=1e-6)


def test_interval_parameter_and_delta_method():
    x = np.random.default_rng(3).normal(0.3, 1.0, size=250)
    model = jm.Model(
        lambda p, x: jss.norm.logpdf(x, p["m"], 1.0), params={"m": jm.Interval(-1.0, 1.0)}
    )
    res = jm.fit(model, x)
    np.testing.assert_allclose(res.params["m"], x.mean(), rtol=1e-9)
    np.testing.assert_allclose(res.se["m"], 1 / np.sqrt(250), rtol=1e-6)
    jac = jax.grad(lambda u: model.specs["m"].forward(u)[()])(res.unconstrained)
    np.testing.assert_allclose(res.cov, jac[:, None] ** 2 * res.cov_unconstrained, rtol=1e-9)
