"""Regressions against statsmodels (offline datasets) and NIST's certified Longley values.

References: statsmodels' own fits of the same data (Logit, Probit, Poisson, NegativeBinomial,
MNLogit, GLM), each polished with Newton to a tight tolerance, and the NIST StRD certified values
in ``tests/data/longley_certified.txt``. Tolerances: estimates 1e-6 relative, standard errors
1e-4 relative, log-likelihood 1e-8 relative.
"""

from pathlib import Path

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import minimize_scalar
from statsmodels.tools.numdiff import approx_hess

import jaxmle as jm
from jaxmle._problem import Problem

DATA = Path(__file__).parent / "data"


def close(actual, expected, rtol, what):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, err_msg=what)


def check(res, params, bse, llf, extra=None):
    """Compare ``beta`` (and the extra parameter) with a statsmodels fit."""
    assert bool(res.converged), res.status_name
    close(res.params["beta"], params, 1e-6, "beta")
    close(res.se["beta"], bse, 1e-4, "se(beta)")
    close(res.loglik, llf, 1e-8, "loglik")
    if extra is not None:
        name, value, se = extra
        close(res.params[name], value, 1e-6, name)
        close(res.se[name], se, 1e-4, f"se({name})")


def load(name):
    ds = getattr(sm.datasets, name).load_pandas()
    return sm.add_constant(ds.exog, prepend=True), ds.endog


@pytest.fixture(scope="module")
def spector():
    X, y = load("spector")
    return {"X": X.to_numpy(float), "y": y.to_numpy(float)}, X, y


@pytest.fixture(scope="module")
def randhie():
    X, y = load("randhie")
    return {"X": X.to_numpy(float), "y": y.to_numpy(float)}, X, y


def test_logit_spector(spector):
    data, X, y = spector
    ref = sm.Logit(y, X).fit(method="newton", tol=1e-12, disp=0)
    res = jm.fit(jm.Logit(names=X.columns), data)
    check(res, ref.params, ref.bse, ref.llf)
    assert res.param_names == tuple(X.columns)
    assert "PSI" in res.summary()


def test_probit_spector(spector):
    data, X, y = spector
    ref = sm.Probit(y, X).fit(method="newton", tol=1e-12, disp=0)
    check(jm.fit(jm.Probit(), data), ref.params, ref.bse, ref.llf)


def test_poisson_randhie(randhie):
    data, X, y = randhie
    ref = sm.Poisson(y, X).fit(method="newton", tol=1e-12, disp=0)
    check(jm.fit(jm.PoissonRegression(), data), ref.params, ref.bse, ref.llf)


def test_negative_binomial_randhie(randhie):
    data, X, y = randhie
    # statsmodels' default (bfgs) stops early; polish its fit with Newton.
    first = sm.NegativeBinomial(y, X).fit(disp=0)
    ref = sm.NegativeBinomial(y, X).fit(
        start_params=first.params, method="newton", tol=1e-12, maxiter=100, disp=0
    )
    res = jm.fit(jm.NegativeBinomialRegression(), data)
    extra = ("alpha", ref.params.iloc[-1], ref.bse.iloc[-1])
    check(res, ref.params.iloc[:-1], ref.bse.iloc[:-1], ref.llf, extra)


def test_negative_binomial_without_overdispersion_is_on_the_poisson_boundary():
    # Underdispersed counts (binomial, variance below the mean): the NB2 likelihood increases
    # towards alpha = 0, the Poisson model. The fit reports BOUNDARY (not a numerical failure),
    # with beta equal to the Poisson MLE (statsmodels), for stacked batches too.
    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(60), rng.normal(size=60)])
    y = rng.binomial(6, 1 / (1 + np.exp(-0.5 * X[:, 1])), size=60).astype(float)
    res = jm.fit(jm.NegativeBinomialRegression(), {"X": X, "y": y})
    assert res.status_name == "boundary" and not bool(res.converged)
    assert float(res.params["alpha"]) < 1e-6
    poisson = sm.Poisson(y, X).fit(disp=0, tol=1e-12, maxiter=100)
    np.testing.assert_allclose(res.params["beta"], poisson.params, rtol=1e-7)
    # Overdispersed counts are unaffected.
    over = rng.negative_binomial(2, 2 / (2 + np.exp(1 + 0.5 * X[:, 1]))).astype(float)
    assert jm.fit(jm.NegativeBinomialRegression(), {"X": X, "y": over}).status_name == "converged"
    many = jm.fit_many(
        jm.NegativeBinomialRegression(), {"X": np.stack([X, X]), "y": np.stack([y, over])}
    )
    assert [jm.Status(int(s)).name for s in many.status] == ["BOUNDARY", "CONVERGED"]


def test_binomial_trials_star98():
    X, Y = load("star98")
    data = {"X": X.to_numpy(float), "y": Y.iloc[:, 0].to_numpy(float)}
    data["trials"] = data["y"] + Y.iloc[:, 1].to_numpy(float)
    ref = sm.GLM(Y, X, family=sm.families.Binomial()).fit(tol=1e-13)
    check(jm.fit(jm.GLM("binomial", "logit"), data), ref.params, ref.bse, ref.llf)


def test_poisson_glm_offset_and_weights():
    X, y = load("cpunish")
    X = X.drop(columns=["VC100k96"])
    offset = np.log(load("cpunish")[0]["VC100k96"].to_numpy(float))
    weights = np.arange(1.0, len(y) + 1) % 3 + 1.0
    ref = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset, freq_weights=weights).fit(
        tol=1e-13
    )
    data = {"X": X.to_numpy(float), "y": y.to_numpy(float), "offset": offset}
    res = jm.fit(jm.GLM("poisson"), data, weights=weights)
    check(res, ref.params, ref.bse, ref.llf)
    assert float(res.nobs) == weights.sum()


def gamma_reference(X, y, link):
    """statsmodels' Gamma GLM with the dispersion at its MLE and the observed information."""
    model = sm.GLM(y, X, family=sm.families.Gamma(link))
    beta = model.fit(tol=1e-13).params.to_numpy()
    phi = minimize_scalar(
        lambda lp: -model.loglike(beta, scale=np.exp(lp)), bracket=(-8.0, 0.0), tol=1e-12
    )
    phi = float(np.exp(phi.x))
    cov_beta = np.linalg.inv(-model.hessian(beta, scale=phi, observed=True))
    # d2 loglik / d(log phi)^2 by statsmodels' numerical Hessian (cross terms vanish at the MLE).
    info_lphi = -approx_hess(np.array([np.log(phi)]), lambda v: model.loglike(beta, np.exp(v[0])))
    fisher = -model.hessian(beta, scale=phi, observed=False)
    ref = (beta, np.sqrt(np.diag(cov_beta)), phi, float(info_lphi[0, 0]), model.loglike(beta, phi))
    return ref, fisher


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.DomainWarning")
@pytest.mark.parametrize("link", ["log", "inverse"])
def test_gamma_scotland(link):
    X, y = load("scotland")
    sm_link = sm.families.links.Log() if link == "log" else sm.families.links.InversePower()
    (beta, bse, phi, info_lphi, llf), fisher = gamma_reference(X, y, sm_link)
    data = {"X": X.to_numpy(float), "y": y.to_numpy(float)}
    if link == "log":
        # shape = 1/phi: se(shape) = shape * se(log phi)
        extra = ("shape", 1.0 / phi, (1.0 / phi) / np.sqrt(info_lphi))
        model = jm.GammaRegression(link)
    else:
        extra = ("scale", phi, phi / np.sqrt(info_lphi))
        model = jm.GLM("gamma", "inverse")
    res = jm.fit(model, data)
    check(res, beta, bse, llf, extra)
    # Fisher information of beta: statsmodels' expected Hessian at the same dispersion.
    info = model.expected_information(res.unconstrained, Problem.build(data))
    p = len(beta)
    close(info[:p, :p], fisher, 1e-6, "expected information")
    np.testing.assert_array_equal(info[:p, p], 0.0)


def test_multinomial_logit_anes96():
    X, y = load("anes96")
    ref = sm.MNLogit(y, X).fit(method="newton", tol=1e-12, disp=0)
    data = {"X": X.to_numpy(float), "y": y.to_numpy(float)}
    check(jm.fit(jm.MultinomialLogit(n_classes=7), data), ref.params, ref.bse, ref.llf)


def read_longley():
    table = np.loadtxt(DATA / "longley.csv", delimiter=",", comments="#", skiprows=4)
    certified = {}
    for line in (DATA / "longley_certified.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, value, sd = line.split()
            certified[name] = (float(value), float(sd))
    return table, certified


def test_longley_nist_certified():
    table, certified = read_longley()
    y, X = table[:, 0], np.column_stack([np.ones(len(table)), table[:, 1:]])
    res = jm.fit(jm.LinearRegression(), {"X": X, "y": y})
    assert bool(res.converged), res.status_name
    n, p = X.shape
    b = np.array([certified[f"b{j}"][0] for j in range(p)])
    sd = np.array([certified[f"b{j}"][1] for j in range(p)])
    close(res.params["beta"], b, 1e-7, "certified coefficients")
    # NIST's SDs use RSS / (n - p); the MLE of sigma^2 is RSS / n.
    unbiased = np.sqrt(n / (n - p))
    close(res.se["beta"] * unbiased, sd, 1e-7, "certified standard deviations")
    close(res.params["sigma"] * unbiased, certified["residual_sd"][0], 1e-7, "residual SD")
    rss = n * float(res.params["sigma"]) ** 2
    close(1.0 - rss / np.sum((y - y.mean()) ** 2), certified["r_squared"][0], 1e-7, "R^2")


@pytest.mark.parametrize(
    "model, draw, extra",
    [
        (jm.Logit(), lambda r, n: r.integers(0, 2, n), {}),
        (jm.GLM("binomial"), lambda r, n: r.integers(0, 5, n), {"trials": 4.0}),
        (jm.PoissonRegression(), lambda r, n: r.poisson(2.0, n), {}),
        (jm.LinearRegression(), lambda r, n: r.normal(size=n), {}),
        (jm.GLM("gaussian"), lambda r, n: r.normal(size=n), {}),
        (jm.NegativeBinomialRegression(), lambda r, n: r.poisson(3.0, n), {}),
        (jm.GammaRegression(), lambda r, n: r.gamma(2.0, 1.0, n), {}),
        (jm.GLM("gamma", "log"), lambda r, n: r.gamma(2.0, 1.0, n), {}),
    ],
    ids=["logit", "binomial-trials", "poisson", "linear", "gaussian", "nb2", "gamma", "glm-gamma"],
)
def test_closed_form_derivatives_match_autodiff(model, draw, extra):
    # The closed-form f, g, H of the GLM engine against jax.hessian of the model's own logpdf
    # (the generic jm.Model path), with weights including a zero.
    rng = np.random.default_rng(11)
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = np.minimum(draw(rng, n).astype(float), 4.0) if "trials" in extra else draw(rng, n)
    data = {"X": X, "y": np.asarray(y, float), **{k: np.full(n, v) for k, v in extra.items()}}
    model.validate_data(data)
    weights = rng.uniform(0.5, 2.0, n)
    weights[3] = 0.0
    u = 0.3 * rng.normal(size=model.n_free)
    problem = Problem.build(data, weights)
    closed = model.objective_derivatives(u, problem)
    generic = jm.Model.objective_derivatives(model, u, problem)
    for a, b in zip(closed, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))


def test_negative_binomial_expected_information_equals_glm_nb():
    """``cov_type="expected"`` for NB2: R's ``MASS::glm.nb`` SEs (inverse expected information of
    ``beta`` at fixed theta; ``SE.theta`` from the observed information of theta), numbers from
    ``tests/data/r_reference/make_references.R``."""
    import json
    from pathlib import Path

    folder = Path(__file__).parent / "data" / "r_reference"
    ref = json.loads((folder / "negbin.json").read_text())
    table = np.genfromtxt(folder / "negbin.csv", delimiter=",", names=True)
    X = np.column_stack([np.ones(len(table)), table["x"]])
    res = jm.fit(jm.NegativeBinomialRegression(), {"X": X, "y": table["y"]}, cov_type="expected")
    names = ["(Intercept)", "x"]
    np.testing.assert_allclose(
        res.params["beta"], [ref["coefficients"][k] for k in names], rtol=1e-8
    )
    np.testing.assert_allclose(res.se["beta"], [ref["se"][k] for k in names], rtol=1e-7)
    theta = 1.0 / res.params["alpha"]
    np.testing.assert_allclose(theta, ref["theta"], rtol=1e-7)
    # glm.nb's SE.theta comes from theta.ml at the means of its last IRLS pass: 7e-6 apart.
    np.testing.assert_allclose(res.se["alpha"] * theta**2, ref["se_theta"], rtol=2e-5)
    np.testing.assert_allclose(res.loglik, ref["loglik"], rtol=1e-10)


def test_quasi_separation_under_cloglog_is_flagged():
    """Classes overlapping only at x = 0: the cloglog fit stalls with a finite intercept that
    tilts its estimate off the diverging direction (0, 1); it is still reported as separation,
    as Logit and Probit are."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=60), 0.0, 0.0]
    data = {"X": np.column_stack([np.ones(62), x]), "y": np.r_[(x[:60] > 0) * 1.0, 0.0, 1.0]}
    for model in (jm.Logit(), jm.GLM("binomial", "cloglog")):
        res = jm.fit(model, data)
        assert jm.Status(int(res.status)) == jm.Status.SEPARATION, model.name
        assert model.separated_coefficients(res, data).tolist() == [False, True]
