"""Firth's penalty, priors (MAP) and ridge against R's brglm2 and closed forms.

Reference numbers: ``tests/data/r_reference/firth.json``, made by ``make_references.R`` in that
folder (R 4.2.2, brglm2 0.9): ``glm(..., method = "brglmFit", type = "AS_mean")`` for the
logistic and Poisson fits (Firth's penalised likelihood for canonical links), ``type =
"MPL_Jeffreys"`` for the probit; brglm2's standard errors are the inverse expected information
at the penalised estimate. The profile penalised-likelihood intervals of the endometrial data
were computed by that script the way ``logistf`` does (logistf is not packaged in Debian);
their NV interval is Heinze & Schemper's (2002) published (0.61, 7.85).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import jaxmle as jm

REF = Path(__file__).parent / "data" / "r_reference"
FIRTH = json.loads((REF / "firth.json").read_text())


def glm_data(case: str):
    """``(data, names)`` of a brglm2 case: intercept first, columns in the formula's order."""
    entry = FIRTH[case]
    table = np.genfromtxt(REF / entry["data"], delimiter=",", names=True)
    response, rhs = entry["formula"].split("~")
    columns = [c.strip() for c in rhs.split("+")]
    X = np.column_stack([np.ones(len(table))] + [table[c] for c in columns])
    return {"X": X, "y": table[response.strip()]}, ["(Intercept)", *columns]


def reference(case: str, names, field: str):
    return np.array([FIRTH[case][field][name] for name in names])


CASES = [
    ("logit_regular", jm.Logit, "observed"),
    ("logit_endometrial", jm.Logit, "observed"),
    ("probit_jeffreys_regular", jm.Probit, "expected"),
    ("poisson", jm.PoissonRegression, "observed"),
    ("poisson_separated", jm.PoissonRegression, "observed"),
]


@pytest.mark.parametrize(("case", "model", "cov_type"), CASES)
def test_firth_equals_brglm2(case, model, cov_type):
    data, names = glm_data(case)
    res = jm.fit(model(), data, penalty="firth", cov_type=cov_type)
    assert res.status_name == "converged" and res.is_map
    np.testing.assert_allclose(
        res.params["beta"], reference(case, names, "coefficients"), rtol=1e-7, atol=1e-9
    )
    # brglm2 reports the inverse expected information at the estimate: for canonical links the
    # observed information of the likelihood (the Firth term's curvature is left out), for the
    # probit the expected one.
    np.testing.assert_allclose(res.se["beta"], reference(case, names, "se"), rtol=1e-7)
    np.testing.assert_allclose(res.loglik, FIRTH[case]["loglik"], rtol=1e-10)
    np.testing.assert_allclose(res.penalized_loglik, FIRTH[case]["penalized_loglik"], rtol=1e-10)


def test_separated_data_have_no_mle_but_a_firth_estimate():
    data, _ = glm_data("logit_endometrial")
    assert jm.fit(jm.Logit(), data).status_name == "separation"
    data, _ = glm_data("poisson_separated")
    plain = jm.fit(jm.PoissonRegression(), data)
    assert plain.status_name != "converged"


def test_profile_intervals_use_the_penalised_likelihood():
    data, names = glm_data("logit_endometrial")
    res = jm.fit(jm.Logit(), data, penalty="firth")
    lower, upper = jm.profile_ci(jm.Logit(), data, res)
    expected = np.array([FIRTH["logit_endometrial"]["profile_ci_95"][n] for n in names])
    np.testing.assert_allclose(lower["beta"], expected[:, 0], rtol=1e-6)
    np.testing.assert_allclose(upper["beta"], expected[:, 1], rtol=1e-6)


def test_a_batch_with_separated_datasets_converges_everywhere():
    rng = np.random.default_rng(3)
    n_sets, n = 50, 40
    X = np.concatenate([np.ones((n_sets, n, 1)), rng.normal(size=(n_sets, n, 2))], axis=2)
    eta = X @ np.array([-0.3, 0.8, -0.5])
    y = (rng.random((n_sets, n)) < scipy.special.expit(eta)).astype(float)
    separated = np.arange(5) * 10
    y[separated] = (X[separated, :, 1] > 0).astype(float)  # completely separated by x1
    data = {"X": X, "y": y}
    plain = jm.fit_many(jm.Logit(), data)
    assert set(np.flatnonzero(plain.status == jm.Status.SEPARATION)) == set(separated)
    res = jm.fit_many(jm.Logit(), data, penalty="firth")
    assert res.status_name.tolist() == ["converged"] * n_sets
    one = jm.fit(jm.Logit(), {"X": X[10], "y": y[10]}, penalty="firth")
    np.testing.assert_allclose(res.params["beta"][10], one.params["beta"], rtol=1e-10)
    np.testing.assert_allclose(res.se["beta"][10], one.se["beta"], rtol=1e-10)


def test_gamma_prior_on_a_rate_gives_the_posterior_mode():
    x = np.array([0.3, 1.7, 0.2, 0.9, 2.4, 0.5])
    a, b = 3.0, 2.0
    res = jm.fit(jm.Exponential(), x, prior={"rate": jm.priors.Gamma(a, b)})
    mode = (len(x) + a - 1.0) / (x.sum() + b)
    np.testing.assert_allclose(res.params["rate"], mode, rtol=1e-12)
    # SE from the curvature of the log posterior in the rate: (n + a - 1) / rate^2.
    np.testing.assert_allclose(res.se["rate"], mode / np.sqrt(len(x) + a - 1.0), rtol=1e-9)
    log_prior = a * np.log(b) - scipy.special.gammaln(a) + (a - 1) * np.log(mode) - b * mode
    np.testing.assert_allclose(res.log_penalty, log_prior, rtol=1e-12)
    np.testing.assert_allclose(res.loglik, len(x) * np.log(mode) - mode * x.sum(), rtol=1e-12)


def _penalised_logit_reference(X, y, log_prior):
    """MAP of a logistic regression by scipy's BFGS on a numpy objective, and the inverse of
    its finite-difference Hessian."""

    def objective(beta):
        eta = X @ beta
        return -(y @ eta - np.logaddexp(0.0, eta).sum()) - log_prior(beta)

    best = scipy.optimize.minimize(
        objective, np.zeros(X.shape[1]), method="BFGS", options={"gtol": 1e-11}
    )
    beta, h = best.x, 1e-4
    k = len(beta)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                objective(beta + e_i + e_j)
                - objective(beta + e_i - e_j)
                - objective(beta - e_i + e_j)
                + objective(beta - e_i - e_j)
            ) / (4 * h * h)
    return beta, np.sqrt(np.diag(np.linalg.inv(hess)))


def test_ridge_and_normal_prior_logit_match_a_direct_optimisation():
    data, _ = glm_data("logit_regular")
    X, y = data["X"], data["y"]
    alpha = 2.5
    ridge = jm.fit(jm.Logit(), data, penalty=jm.priors.Ridge(alpha, exclude=["beta[0]"]))
    beta, se = _penalised_logit_reference(X, y, lambda b: -0.5 * alpha * np.sum(b[1:] ** 2))
    np.testing.assert_allclose(ridge.params["beta"], beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ridge.se["beta"], se, rtol=1e-5)
    # A Normal(0, s) prior on every coefficient is the ridge with alpha = 1/s^2 (plus a constant).
    s = 0.8
    prior = jm.fit(jm.Logit(), data, prior={"beta": jm.priors.Normal(0.0, s)})
    beta, se = _penalised_logit_reference(X, y, lambda b: -0.5 * np.sum(b**2) / s**2)
    np.testing.assert_allclose(prior.params["beta"], beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(prior.se["beta"], se, rtol=1e-5)
    constant = 3 * (-np.log(s * np.sqrt(2 * np.pi)))
    np.testing.assert_allclose(
        prior.log_penalty, -0.5 * np.sum(beta**2) / s**2 + constant, rtol=1e-8
    )


def test_cauchy_and_half_normal_priors_are_their_scipy_densities():
    x = jnp.linspace(0.1, 3.0, 7)
    from scipy import stats

    np.testing.assert_allclose(
        jm.priors.Cauchy(0.5, 2.5).logpdf(x), stats.cauchy(0.5, 2.5).logpdf(x), rtol=1e-12
    )
    np.testing.assert_allclose(
        jm.priors.HalfNormal(1.5).logpdf(x), stats.halfnorm(scale=1.5).logpdf(x), rtol=1e-12
    )
    np.testing.assert_allclose(
        jm.priors.Gamma(2.0, 3.0).logpdf(x), stats.gamma(2.0, scale=1 / 3.0).logpdf(x), rtol=1e-12
    )
    np.testing.assert_allclose(
        jm.priors.Normal(1.0, 2.0).logpdf(x), stats.norm(1.0, 2.0).logpdf(x), rtol=1e-12
    )
    assert jm.priors.HalfNormal(1.0).logpdf(jnp.array(-1.0)) == -jnp.inf


def test_penalised_fits_differentiate_and_vmap():
    data, _ = glm_data("logit_regular")
    data = {k: jnp.asarray(v) for k, v in data.items()}

    def estimate(w):
        return jm.fit(jm.Logit(), data, weights=w, penalty="firth").params["beta"][1]

    w = jnp.ones(data["y"].shape[0])
    grad = jax.grad(estimate)(w)
    h = 1e-5
    for i in (0, 7):
        e = jnp.zeros_like(w).at[i].set(h)
        fd = (estimate(w + e) - estimate(w - e)) / (2 * h)
        np.testing.assert_allclose(grad[i], fd, rtol=1e-5, atol=1e-9)
    ws = jnp.stack([w, w.at[3].set(2.0)])
    np.testing.assert_allclose(
        jax.vmap(estimate)(ws), [estimate(ws[0]), estimate(ws[1])], rtol=1e-10
    )


def test_bad_penalties_and_priors_are_named():
    data, _ = glm_data("logit_regular")
    with pytest.raises(ValueError, match="penalty must be 'firth'"):
        jm.fit(jm.Logit(), data, penalty="lasso")
    with pytest.raises(TypeError, match="penalty must be"):
        jm.fit(jm.Logit(), data, penalty=1.0)
    with pytest.raises(ValueError, match="prior: 'gamma' is not a parameter"):
        jm.fit(jm.Logit(), data, prior={"gamma": jm.priors.Normal()})
    with pytest.raises(TypeError, match=r"prior\['beta'\] must be a jm.priors density"):
        jm.fit(jm.Logit(), data, prior={"beta": lambda b: -(b**2)})
    with pytest.raises(ValueError, match="unconstrained parameters"):
        jm.fit(jm.Gamma(), np.array([1.0, 2.0, 3.0]), penalty="firth")
    with pytest.raises(ValueError, match="Ridge exclude"):
        jm.fit(jm.Logit(), data, penalty=jm.priors.Ridge(1.0, exclude=["const"]))
    with pytest.raises(ValueError, match="Normal: scale must be a positive"):
        jm.priors.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="Ridge: alpha"):
        jm.priors.Ridge(0.0)


@pytest.mark.parametrize(
    "model",
    [jm.Logit(), jm.Probit(), jm.PoissonRegression(), jm.GLM("binomial", "cloglog")],
    ids=["logit", "probit", "poisson", "cloglog"],
)
def test_closed_form_firth_derivatives_equal_autodiff_of_log_det(model):
    # The reference: forward-over-reverse autodiff of log det I(beta) / 2 through a Cholesky
    # factor of the model's expected information (jaxmle's route for models without the formula).
    from jaxmle._penalized import firth_penalty
    from jaxmle._problem import Problem

    rng = np.random.default_rng(4)
    X = np.column_stack([np.ones(40), rng.normal(size=(40, 3))])
    y = (
        (rng.random(40) < 0.4).astype(float)
        if model.name != "PoissonRegression"
        else (rng.poisson(2.0, 40).astype(float))
    )
    weights = rng.integers(0, 3, 40).astype(float)
    problem = Problem.build({"X": jnp.asarray(X), "y": jnp.asarray(y)}, jnp.asarray(weights))
    bound = model.bind({"X": X, "y": y})
    u = jnp.asarray([0.2, -0.3, 0.1, 0.25])
    value, grad, hess = bound.firth_derivatives(u, problem)

    def penalty(v):
        return firth_penalty(bound, v, problem)

    np.testing.assert_allclose(value, penalty(u), rtol=1e-13)
    np.testing.assert_allclose(grad, jax.grad(penalty)(u), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(hess, jax.hessian(penalty)(u), rtol=1e-10, atol=1e-12)
    # A singular information (a column of zeros): NaN, as the Cholesky route gives.
    X0 = X.copy()
    X0[:, 3] = 0.0
    singular = Problem.build({"X": jnp.asarray(X0), "y": jnp.asarray(y)})
    assert all(np.all(np.isnan(np.asarray(d))) for d in bound.firth_derivatives(u, singular))


@pytest.mark.parametrize("model", [jm.Logit(), jm.PoissonRegression(), jm.Probit()])
def test_penalised_derivatives_in_one_go_equal_likelihood_plus_penalty(model):
    from jaxmle._problem import Problem

    rng = np.random.default_rng(9)
    X = np.column_stack([np.ones(30), rng.normal(size=(30, 2))])
    y = (
        rng.poisson(1.5, 30).astype(float)
        if model.name == "PoissonRegression"
        else ((rng.random(30) < 0.5).astype(float))
    )
    problem = Problem.build({"X": jnp.asarray(X), "y": jnp.asarray(y)}, jnp.ones(30) * 2.0)
    bound = model.bind({"X": X, "y": y})
    u = jnp.asarray([0.1, -0.2, 0.3])
    together = bound.firth_objective_derivatives(u, problem)
    if model.name == "Probit":  # not canonical: the likelihood's Hessian is not I
        assert together is None
        return
    f, g, h = bound.objective_derivatives(u, problem)
    p, pg, ph = bound.firth_derivatives(u, problem)
    for got, want in zip(together, (f - p, g - pg, h - ph), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", [jm.Logit(), jm.PoissonRegression()], ids=["logit", "poisson"])
def test_firth_start_is_one_modified_score_step(model):
    # The reference: logistf's modified score U* = X'(y - mu + h (1/2 - mu)) (logit) and Firth's
    # X'(y - mu + h/2) (Poisson), with the hat values h of W^(1/2) X from numpy, and the Fisher
    # scoring step beta + (X'WX)^(-1) U*.
    from jaxmle._problem import Problem

    rng = np.random.default_rng(11)
    n = 60
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    logit = model.name == "Logit"
    y = (rng.random(n) < 0.4).astype(float) if logit else rng.poisson(1.5, n).astype(float)
    weights = rng.integers(1, 3, n).astype(float)
    bound = model.bind({"X": X, "y": y})
    problem = Problem.build({"X": jnp.asarray(X), "y": jnp.asarray(y)}, jnp.asarray(weights))
    beta = np.array([0.1, -0.2, 0.15])
    moved = np.asarray(bound.firth_start({"beta": jnp.asarray(beta)}, problem)["beta"])

    eta = X @ beta
    mu = scipy.special.expit(eta) if logit else np.exp(eta)
    w = weights * (mu * (1 - mu) if logit else mu)
    information = X.T @ (w[:, None] * X)
    root = np.sqrt(w)[:, None] * X
    h = np.diag(root @ np.linalg.solve(information, root.T))
    score = X.T @ (weights * (y - mu) + h * ((0.5 - mu) if logit else 0.5))
    np.testing.assert_allclose(moved, beta + np.linalg.solve(information, score), rtol=1e-12)

    # No coefficient moves by more than 5 (logistf's maxstep); a singular information: no move.
    start = np.array([8.0 if logit else -8.0, 0.0, 0.0])  # a step of 20+ uncapped
    far = np.asarray(bound.firth_start({"beta": jnp.asarray(start)}, problem)["beta"])
    assert np.max(np.abs(far - start)) == pytest.approx(5.0)
    singular = Problem.build({"X": jnp.asarray(X * [1.0, 1.0, 0.0]), "y": jnp.asarray(y)})
    same = bound.firth_start({"beta": jnp.asarray(beta)}, singular)["beta"]
    np.testing.assert_array_equal(same, beta)


def test_the_firth_start_saves_newton_iterations_not_accuracy():
    rng = np.random.default_rng(5)
    n_sets, n = 40, 80
    X = np.concatenate([np.ones((n_sets, n, 1)), rng.normal(size=(n_sets, n, 3))], axis=2)
    y = (rng.random((n_sets, n)) < scipy.special.expit(X @ [0.2, 0.8, -0.5, 0.3])).astype(float)
    data = {"X": X, "y": y}
    res = jm.fit_many(jm.Logit(), data, penalty="firth")
    # The MLE's start, given explicitly, replaces the model's (Firth-stepped) start.
    mle_start = jm.fit_many(jm.Logit(), data, max_steps=0).params["beta"]
    from_mle = jm.fit_many(jm.Logit(), data, penalty="firth", init={"beta": mle_start})
    assert np.all(res.converged) and np.all(from_mle.converged)
    assert np.mean(res.n_iter) < np.mean(from_mle.n_iter)
    np.testing.assert_allclose(res.params["beta"], from_mle.params["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.se["beta"], from_mle.se["beta"], rtol=1e-9)
