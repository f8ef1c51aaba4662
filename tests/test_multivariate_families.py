"""MultivariateNormal and Dirichlet against closed forms, scipy.stats and Minka's fixed point.

References: the MVN MLE is the sample mean and the biased sample covariance (``numpy.cov(...,
bias=True)``), the SE of the mean ``sqrt(diag(cov) / n)``; log-likelihoods are summed from
``scipy.stats.multivariate_normal`` / ``scipy.stats.dirichlet``; the Dirichlet MLE is computed
independently below by Minka's (2000) fixed-point iteration ``alpha_k <- psi^{-1}(psi(sum alpha) +
mean log x_k)`` in numpy/scipy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import jaxmle as jm
from jaxmle._problem import Problem

MVN = jm.MultivariateNormal(dim=3)
DIRICHLET = jm.Dirichlet(dim=3)
COV = np.array([[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]])
MEAN = np.array([1.0, -2.0, 0.5])
ALPHA = np.array([2.0, 3.5, 1.2])


def _inverse_digamma(y):
    """Minka's Newton iteration for psi^{-1}(y), from his Appendix C."""
    x = np.where(y >= -2.22, np.exp(y) + 0.5, -1.0 / (y - sp.digamma(1.0)))
    for _ in range(20):
        x = x - (sp.digamma(x) - y) / sp.polygamma(1, x)
    return x


def minka_fixed_point(x, tol=1e-15, max_iter=100_000):
    """Dirichlet MLE by Minka's fixed-point iteration (independent numpy/scipy reference)."""
    mean_log = np.log(x).mean(axis=0)
    alpha = np.ones(x.shape[1])
    for _ in range(max_iter):
        new = _inverse_digamma(sp.digamma(alpha.sum()) + mean_log)
        if np.max(np.abs(new - alpha) / alpha) < tol:
            return new
        alpha = new
    raise RuntimeError("Minka's fixed point did not converge")


def _mvn_datasets(batch, seed):
    rng = np.random.default_rng(seed)
    return [rng.multivariate_normal(MEAN, COV, int(n)) for n in rng.integers(30, 81, batch)]


def _dirichlet_datasets(batch, seed):
    rng = np.random.default_rng(seed)
    return [rng.dirichlet(ALPHA, int(n)) for n in rng.integers(40, 101, batch)]


def _information_matches_hessian(model, x, u):
    problem = Problem.build(jnp.asarray(x))
    expected = jax.jit(model.expected_information)(u, problem)
    _, _, hessian = jax.jit(model.objective_derivatives)(u, problem)
    np.testing.assert_allclose(expected, hessian, rtol=1e-8, atol=1e-9)


def test_multivariate_normal_equals_sample_moments():
    datasets = _mvn_datasets(40, seed=0)
    singular = _mvn_datasets(1, seed=1)[0][:3]  # 3 rows in 3 dimensions: singular covariance
    res = jm.fit_many(MVN, [*datasets, singular])
    assert res.status_name[-1] == "boundary"
    res = res[:-1]
    assert bool(jnp.all(res.converged))
    assert int(jnp.max(res.n_iter)) <= 2  # the start is the MLE
    for b, x in enumerate(datasets):
        mean, cov = x.mean(axis=0), np.cov(x.T, bias=True)
        np.testing.assert_allclose(res.params["mean"][b], mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.params["cov"][b], cov, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.se["mean"][b], np.sqrt(np.diag(cov) / len(x)), rtol=1e-7)
        loglik = st.multivariate_normal(mean, cov).logpdf(x).sum()
        np.testing.assert_allclose(res.loglik[b], loglik, rtol=1e-12)
    _information_matches_hessian(MVN, datasets[0], res.unconstrained[0])


def test_dirichlet_matches_minka_fixed_point():
    datasets = _dirichlet_datasets(30, seed=2)
    res = jm.fit_many(DIRICHLET, datasets)
    assert bool(jnp.all(res.converged))
    for b, x in enumerate(datasets):
        alpha = minka_fixed_point(x)
        np.testing.assert_allclose(res.params["alpha"][b], alpha, rtol=1e-9)
        loglik = st.dirichlet.logpdf(x.T, alpha).sum()
        np.testing.assert_allclose(res.loglik[b], loglik, rtol=1e-12)
    # The Dirichlet is an exponential family: observed = expected information at the MLE.
    _information_matches_hessian(DIRICHLET, datasets[0], res.unconstrained[0])


def test_dirichlet_start_is_close_to_the_mle():
    x = jnp.asarray(_dirichlet_datasets(1, seed=3)[0])
    start = DIRICHLET.init_params(Problem.build(x))["alpha"]
    np.testing.assert_allclose(start, minka_fixed_point(np.asarray(x)), rtol=0.25)


@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        (MVN, np.zeros((5, 2)), r"MultivariateNormal: data must have shape \(n, 3\)"),
        (MVN, np.zeros(5), r"MultivariateNormal: data must have shape \(n, 3\)"),
        (DIRICHLET, [[0.2, 0.3, 0.5], [0.2, 0.3, 0.6]], r"Dirichlet.*indices \[1\].*1\.1"),
        (DIRICHLET, [[0.2, 0.3, 0.5], [-0.2, 0.7, 0.5]], r"Dirichlet.*indices \[1\].*-0\.2"),
        (DIRICHLET, [[0.2, 0.8], [0.5, 0.5]], r"Dirichlet: data must have shape \(n, 3\)"),
    ],
)
def test_bad_data_raises(model, data, match):
    with pytest.raises(ValueError, match=match):
        jm.fit(model, jnp.asarray(data))


def test_samplers_have_the_right_moments():
    key_mvn, key_dir = jax.random.split(jax.random.key(0))
    draws = np.asarray(
        MVN.sample(key_mvn, {"mean": jnp.asarray(MEAN), "cov": jnp.asarray(COV)}, (20000,))
    )
    assert draws.shape == (20000, 3)
    np.testing.assert_allclose(draws.mean(axis=0), MEAN, atol=4 * np.sqrt(2.0 / 20000))
    np.testing.assert_allclose(np.cov(draws.T), COV, atol=0.06)

    draws = np.asarray(DIRICHLET.sample(key_dir, {"alpha": jnp.asarray(ALPHA)}, (20000,)))
    assert draws.shape == (20000, 3)
    DIRICHLET.validate_data(draws)
    np.testing.assert_allclose(draws.mean(axis=0), ALPHA / ALPHA.sum(), atol=0.01)
