"""Zero-inflated Poisson and NB2 regressions against statsmodels (fitted here, in float64).

References: ``statsmodels.discrete.count_model.ZeroInflatedPoisson`` and
``ZeroInflatedNegativeBinomialP(p=2)`` (logit inflation), fitted by BFGS and then polished by
Newton from BFGS's estimate to a score below 1e-8 (checked). Standard errors: the inverse of
statsmodels' numerical Hessian of its own log-likelihood (``approx_hess``), which is what its
``bse`` is for the ZINB. For the ZIP, statsmodels 0.15 uses an analytic Hessian whose
inflation-count cross block disagrees with the numerical Hessian of its own log-likelihood (by 6% in
the standard errors on the data below), so the numerical one is the reference there too.
Tolerances: estimates and log-likelihood 1e-6 absolute, standard errors 1e-5 relative.

Every distinct (model, data layout, shape) compiles one fit program of a few seconds: the tests
share one layout (n = 500, p = 3, q = 2) wherever they can.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from statsmodels.discrete.count_model import ZeroInflatedNegativeBinomialP
from statsmodels.discrete.count_model import ZeroInflatedPoisson as StatsmodelsZIP
from statsmodels.tools.numdiff import approx_hess

import jaxmle as jm
from jaxmle._problem import Problem

N = 500
BETA_INFL = np.array([-0.7, 0.8])
BETA = np.array([0.8, 0.4, -0.3])
ALPHA = 0.5


def simulate(seed, alpha=ALPHA):
    """``{"X": [1, x1, x2], "y", "X_infl": [1, z]}``: ZINB counts (ZIP with ``alpha=0``)."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(N), rng.normal(size=(N, 2))])
    Z = np.column_stack([np.ones(N), rng.normal(size=N)])
    mu = np.exp(X @ BETA)
    if alpha == 0:
        counts = rng.poisson(mu)
    else:
        counts = rng.negative_binomial(1 / alpha, 1 / (1 + alpha * mu))
    structural = rng.uniform(size=N) < 1 / (1 + np.exp(-Z @ BETA_INFL))
    return {"X": X, "y": np.where(structural, 0, counts).astype(float), "X_infl": Z}


def reference(model):
    """statsmodels' MLE (BFGS, then Newton), numerical-Hessian SEs and log-likelihood."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and overflow warnings of the BFGS pass
        first = model.fit(method="bfgs", maxiter=5000, gtol=1e-10, disp=0)
        ref = model.fit(start_params=first.params, method="newton", maxiter=100, tol=1e-14, disp=0)
    params = np.asarray(ref.params)
    assert np.max(np.abs(model.score(params))) < 1e-8, "statsmodels did not converge tightly"
    se = np.sqrt(np.diag(np.linalg.inv(-approx_hess(params, model.loglike))))
    return params, se, ref.llf, ref


def compare(res, model, ref):
    """Max differences: |params|, relative SE, |loglik|, asserted within the tolerances."""
    params, se, llf, _ = ref
    assert bool(res.converged), res.status_name
    est = np.asarray(model.flatten(res.params))
    se_jm = np.asarray(model.flatten(res.se))
    diffs = (
        np.max(np.abs(est - params)),
        np.max(np.abs(se_jm / se - 1.0)),
        abs(float(res.loglik) - llf),
    )
    assert diffs[0] < 1e-6 and diffs[1] < 1e-5 and diffs[2] < 1e-6, diffs
    return diffs


@pytest.fixture(scope="module")
def zip_data():
    return simulate(0, alpha=0)


@pytest.fixture(scope="module")
def zip_fit(zip_data):
    d = zip_data
    model = jm.ZeroInflatedPoisson()
    ref = reference(StatsmodelsZIP(d["y"], d["X"], exog_infl=d["X_infl"]))
    return model, jm.fit(model, d), ref


@pytest.fixture(scope="module")
def zinb_fit():
    d = simulate(8)
    model = jm.ZeroInflatedNegativeBinomial()
    ref = reference(ZeroInflatedNegativeBinomialP(d["y"], d["X"], exog_infl=d["X_infl"], p=2))
    return model, jm.fit(model, d), ref


def test_zip_matches_statsmodels(zip_fit):
    model, res, ref = zip_fit
    compare(res, model, ref)
    assert res.param_names == ("beta_infl[0]", "beta_infl[1]", "beta[0]", "beta[1]", "beta[2]")


def test_zinb_matches_statsmodels(zinb_fit):
    model, res, ref = zinb_fit
    compare(res, model, ref)
    np.testing.assert_allclose(model.flatten(res.se), ref[3].bse, rtol=1e-5)  # its own bse
    assert res.param_names[-1] == "alpha" and len(res.param_names) == 6


def test_constant_inflation_by_default_with_offset_and_names(zip_data):
    # No X_infl: the inflation model is one constant, statsmodels' exog_infl=None.
    d = {"X": zip_data["X"], "y": zip_data["y"], "offset": np.linspace(-0.2, 0.2, N)}
    ref = reference(StatsmodelsZIP(d["y"], d["X"], offset=d["offset"]))
    model = jm.ZeroInflatedPoisson(names=["const", "x1", "x2"])
    res = jm.fit(model, d)
    compare(res, model, ref)
    names = ("inflate_const", "const", "x1", "x2")
    assert res.param_names == names == tuple(ref[3].model.exog_names)
    assert "inflate_const" in res.summary()


def test_fit_many_agrees_with_single_fits(zip_data, zip_fit):
    model = jm.ZeroInflatedPoisson()
    sets = [zip_data, simulate(11, alpha=0), simulate(12, alpha=0)]
    stacked = {k: np.stack([s[k] for s in sets]) for k in zip_data}
    many = jm.fit_many(model, stacked)
    for i, data in enumerate(sets):
        one = zip_fit[1] if i == 0 else jm.fit(model, data)
        assert bool(one.converged) and bool(many[i].converged)
        for key in ("beta_infl", "beta"):
            np.testing.assert_allclose(many[i].params[key], one.params[key], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(many[i].se[key], one.se[key], rtol=1e-8)
        np.testing.assert_allclose(many[i].loglik, one.loglik, rtol=1e-12)

    # Counts outside the support (negative, non-integer): INVALID_DATA per dataset, or an error.
    bad = {k: v.copy() for k, v in stacked.items()}
    bad["y"][1, 3] = -1.0
    bad["y"][2, 5] = 1.5
    res = jm.fit_many(model, bad, errors="status")
    assert [jm.Status(int(s)) for s in res.status] == [
        jm.Status.CONVERGED,
        jm.Status.INVALID_DATA,
        jm.Status.INVALID_DATA,
    ]
    np.testing.assert_allclose(res[0].params["beta"], many[0].params["beta"], rtol=1e-12)
    with pytest.raises(ValueError, match=r"dataset 1: ZeroInflatedPoisson: data\['y'\] must sat"):
        jm.fit_many(model, bad)


def test_invalid_counts(zip_data):
    model = jm.ZeroInflatedNegativeBinomial()
    for value in (-1.0, 2.5):
        y = zip_data["y"].copy()
        y[4] = value
        data = {**zip_data, "y": y}
        with pytest.raises(ValueError, match="non-negative integer count.*first at index 4"):
            jm.fit(model, data)
        # The traceable rule that a fit under jit turns into Status.INVALID_DATA.
        rows = model.valid_rows({k: jnp.asarray(v) for k, v in data.items()})
        assert np.flatnonzero(~np.asarray(rows)).tolist() == [4]


def test_malformed_inflation_design(zip_data):
    d = zip_data
    with pytest.raises(ValueError, match=r"data\['X_infl'\] must be 2-D \(n, q\)"):
        jm.fit(jm.ZeroInflatedPoisson(), {**d, "X_infl": d["X_infl"][:, 1]})
    with pytest.raises(ValueError, match=r"data\['X_infl'\] must have shape \(500, q\)"):
        jm.fit(jm.ZeroInflatedPoisson(), {**d, "X_infl": d["X_infl"][:-1]})
    fixed = jm.ZeroInflatedPoisson(n_infl_features=3)
    with pytest.raises(ValueError, match=r"data\['X_infl'\] with 3 columns, got 2"):
        jm.fit(fixed, d)
    with pytest.raises(ValueError, match=r"data\['X_infl'\] with 3 columns, got no 'X_infl'"):
        fixed.bind({"X": d["X"], "y": d["y"]})
    with pytest.raises(ValueError, match="unknown data key"):
        jm.fit(jm.ZeroInflatedPoisson(), {**d, "Z": d["X_infl"]})
    with pytest.raises(ValueError, match="n_infl_features=2 disagrees with 1 infl_names"):
        jm.ZeroInflatedPoisson(n_infl_features=2, infl_names=["const"])


def test_names_from_dataframes(zip_data):
    X = pd.DataFrame(zip_data["X"], columns=["const", "x1", "x2"])
    Z = pd.DataFrame(zip_data["X_infl"], columns=["const", "z"])
    bound = jm.ZeroInflatedNegativeBinomial().bind({"X": X, "y": zip_data["y"], "X_infl": Z})
    assert bound.param_names == ("inflate_const", "inflate_z", "const", "x1", "x2", "alpha")
    named = jm.ZeroInflatedPoisson(names=["a", "b", "c"], infl_names=["k", "z"])
    assert named.param_names == ("inflate_k", "inflate_z", "a", "b", "c")


def test_zinb_without_overdispersion_is_on_the_zip_boundary(zip_data, zip_fit):
    # ZIP data (no overdispersion): alpha runs to 0 and the fit reports BOUNDARY, with the other
    # parameters at the ZIP MLE. Same shapes as the ZINB fixture: no new program.
    res = jm.fit(jm.ZeroInflatedNegativeBinomial(), zip_data)
    assert res.status_name == "boundary", res.status_name
    assert float(res.params["alpha"]) < 1e-6
    zip_res = zip_fit[1]
    for key in ("beta_infl", "beta"):
        np.testing.assert_allclose(res.params[key], zip_res.params[key], atol=1e-5)


@pytest.mark.parametrize("model", [jm.ZeroInflatedPoisson(), jm.ZeroInflatedNegativeBinomial()])
def test_newton_derivatives_match_autodiff(model):
    # The assembled f, g, H against jax.hessian of the model's own logpdf (the generic Model
    # path), with weights including a zero.
    d = {k: v[:30] for k, v in simulate(3).items()}
    model.check_shapes(d)
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.5, 2.0, 30)
    weights[3] = 0.0
    u = 0.3 * rng.normal(size=model.n_free)
    problem = Problem.build(d, weights)

    @jax.jit  # one compiled program: faster than the eager evaluation
    def both(u, problem):
        closed = model.objective_derivatives(u, problem)
        return closed, jm.Model.objective_derivatives(model, u, problem)

    closed, generic = both(u, problem)
    for a, b in zip(closed, generic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))


def test_simulate_zero_share():
    # The share of zeros drawn matches P(y = 0) = pi + (1 - pi) exp(-mu).
    d = simulate(4)
    X, Z = np.tile(d["X"], (4, 1)), np.tile(d["X_infl"], (4, 1))
    params = {"beta_infl": BETA_INFL, "beta": BETA}
    model = jm.ZeroInflatedPoisson()
    y = np.asarray(model.simulate(jax.random.key(0), params, {"X": X, "X_infl": Z})["y"])
    pi = 1 / (1 + np.exp(-Z @ BETA_INFL))
    p0 = pi + (1 - pi) * np.exp(-np.exp(X @ BETA))
    assert abs(np.mean(y == 0) - np.mean(p0)) < 4 * np.sqrt(np.mean(p0 * (1 - p0)) / len(y))
    assert np.all(y == np.round(y)) and np.all(y >= 0)


def test_no_zero_inflation_is_a_boundary_not_a_convergence():
    # Plain Poisson data: where the score of pi at 0 is not positive the MLE is pi = 0
    # (beta_infl -> -inf); a solver stops at beta_infl ~ -27 with an SE of 1e5, which must not
    # read as an estimate. Where the score is positive a small interior pi remains a fit.
    rng = np.random.default_rng(1)
    statuses = []
    for _ in range(2):
        X = np.column_stack([np.ones(300), rng.normal(size=300)])
        y = rng.poisson(np.exp(0.5 + 0.3 * X[:, 1])).astype(float)
        statuses.append(jm.fit(jm.ZeroInflatedPoisson(), {"X": X, "y": y}).status_name)
    assert statuses == ["converged", "boundary"]
