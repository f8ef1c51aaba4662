"""AFT regressions and censored / truncated regressions, against R's ``survival::survreg``.

References: ``tests/data/r_reference/survreg.json`` (R 4.2.2, survival 3.5.3), written by
``Rscript tests/data/r_reference/make_references.R`` with ``survreg.control(rel.tolerance=1e-12)``;
the README next to it gives the models and the parametrisation (``log T = x'beta + sigma W``, the
log-likelihood on the T scale, ``vcov`` over ``(beta, log sigma)``). Tolerances: estimates,
standard errors and the covariance 1e-6 relative, ``log(scale)`` and the log-likelihood 1e-6
absolute (the fits agree to about 1e-9 and better).
"""

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from scipy.optimize import minimize

import jaxmle as jm

R = Path(__file__).parent / "data" / "r_reference"
REF = json.loads((R / "survreg.json").read_text())

AFT = {
    "weibull": jm.WeibullRegression,
    "lognormal": jm.LogNormalRegression,
    "loglogistic": jm.LogLogisticRegression,
}


def design(df: pd.DataFrame, columns) -> pd.DataFrame:
    """``X`` with R's column names, ``(Intercept)`` first."""
    X = df[columns].astype(float)
    X.insert(0, "(Intercept)", 1.0)
    return X


@functools.cache
def dataset(name: str) -> dict:
    """The reference data in jaxmle's layouts (``X`` a DataFrame, so the fits are named)."""
    if name == "lung":
        df = pd.read_csv(R / "survreg_lung.csv")
        event = (df["status"] == 2).astype(float).to_numpy()
        X = design(df, ["age", "sex", "ph.ecog"])
        return {"X": X, "y": df["time"].to_numpy(float), "event": event}
    if name == "ovarian":
        df = pd.read_csv(R / "survreg_ovarian.csv")
        X = design(df, ["ecog.ps", "rx"])
        return {"X": X, "y": df["futime"].to_numpy(float), "event": df["fustat"].to_numpy(float)}
    if name == "tobin":
        df = pd.read_csv(R / "tobit_tobin.csv")
        y = df["durable"].to_numpy(float)
        return {"X": design(df, ["age", "quant"]), "y": y, "event": np.where(y > 0, 1.0, 2.0)}
    df = pd.read_csv(R / "survreg_interval.csv")  # interval2: an empty end is open
    upper = np.where(np.isnan(df["upper"]), np.inf, df["upper"])
    return {
        "X": design(df, ["age", "sex", "ph.ecog"]),
        "lower": df["lower"].to_numpy(),
        "upper": upper,
    }


def interval_data(open_lower: float) -> dict:
    """The interval dataset with its open lower ends (left-censoring) at ``open_lower``."""
    data = dict(dataset("interval"))
    data["lower"] = np.where(np.isnan(data["lower"]), open_lower, data["lower"])
    return data


@functools.cache
def fitted(name: str, dist: str):
    """One shared fit per (dataset, distribution)."""
    if name == "interval":
        # Weibull with left-censoring written as lower = 0, the others as lower = -inf.
        data = interval_data(0.0 if dist == "weibull" else -np.inf)
    else:
        data = dataset(name)
    model = jm.Censored(jm.LinearRegression()) if dist == "gaussian" else AFT[dist]()
    return jm.fit(model, data)


def reference(name: str, dist: str) -> dict:
    return REF["tobit"] if name == "tobin" else REF[name]["fits"][dist]


def check_survreg(res, ref, extra: str = "scale"):
    """Coefficients, scale, log(scale), SEs (incl. Log(scale)), vcov and loglik vs survreg."""
    assert bool(res.converged), res.status_name
    names = list(ref["coefficients"])
    assert res.param_names == (*names, extra)
    np.testing.assert_allclose(res.params["beta"], list(ref["coefficients"].values()), rtol=1e-6)
    np.testing.assert_allclose(res.params[extra], ref["scale"], rtol=1e-6)
    assert abs(float(np.log(res.params[extra])) - ref["log_scale"]) < 1e-6
    # Unconstrained coordinates: (beta, log sigma), survreg's own; its SEs include Log(scale).
    cov = np.asarray(res.cov_unconstrained)
    vcov = np.asarray(ref["vcov"]["values"])
    assert ref["vcov"]["colnames"][-1] == "Log(scale)"
    np.testing.assert_allclose(cov, vcov, rtol=1e-5, atol=1e-9 * np.abs(vcov).max())
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), list(ref["se"].values()), rtol=1e-6)
    # The natural-scale SE of the scale is the delta method's sigma * SE(log sigma).
    np.testing.assert_allclose(res.se[extra], ref["scale"] * ref["se"]["Log(scale)"], rtol=1e-6)
    assert abs(float(res.loglik) - ref["loglik"]) < 1e-6


# -- against survreg -------------------------------------------------------------------------------
@pytest.mark.parametrize("dist", ["weibull", "lognormal", "loglogistic"])
@pytest.mark.parametrize("name", ["lung", "ovarian"])
def test_aft_matches_survreg(name, dist):
    check_survreg(fitted(name, dist), reference(name, dist))


@pytest.mark.parametrize("dist", ["weibull", "lognormal", "gaussian"])
def test_interval_censoring_matches_survreg(dist):
    res = fitted("interval", dist)
    check_survreg(res, reference("interval", dist), "sigma" if dist == "gaussian" else "scale")


def test_tobit_matches_survreg_gaussian():
    res = fitted("tobin", "gaussian")
    check_survreg(res, reference("tobin", "gaussian"), extra="sigma")


# -- batching, jit, vmap ---------------------------------------------------------------------------
def test_fit_many_equals_individual_fits():
    res = fitted("ovarian", "weibull")
    model = res.model  # sized and named: the fits below reuse its compiled program
    data = {k: np.asarray(v, float) for k, v in dataset("ovarian").items()}
    sims = [model.simulate(jax.random.key(i), res.params, data) for i in range(3)]
    right = data["event"] == 0
    for sim in sims:  # the template's layout and censoring design (type I censoring)
        assert sorted(sim) == ["X", "event", "y"]
        y, event = np.asarray(sim["y"]), np.asarray(sim["event"])
        assert np.all(event[~right] == 1) and np.all(y[right] <= data["y"][right])
        assert np.all(y[event == 0] == data["y"][event == 0])
    many = jm.fit_many(model, jax.tree_util.tree_map(lambda *x: jnp.stack(x), *sims))
    assert np.all(np.asarray(many.status) == int(jm.Status.CONVERGED))
    for i, sim in enumerate(sims):
        one = jm.fit(model, sim)
        np.testing.assert_allclose(many.params["beta"][i], one.params["beta"], rtol=1e-9)
        np.testing.assert_allclose(many.params["scale"][i], one.params["scale"], rtol=1e-9)
        np.testing.assert_allclose(many.loglik[i], one.loglik, rtol=1e-12)


def test_invalid_data_under_jit_and_vmap():
    data = {k: np.asarray(v, float) for k, v in dataset("ovarian").items()}
    negative = {**data, "y": data["y"].copy()}
    negative["y"][3] = -1.0
    bad_code = {**data, "event": data["event"].copy()}
    bad_code["event"][5] = 3.0
    batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), data, negative, bad_code)
    fits = jax.jit(jax.vmap(lambda d: jm.fit(jm.WeibullRegression(), d)))(batch)
    invalid = int(jm.Status.INVALID_DATA)
    assert np.asarray(fits.status).tolist() == [int(jm.Status.CONVERGED), invalid, invalid]
    np.testing.assert_allclose(
        fits.params["beta"][0], fitted("ovarian", "weibull").params["beta"], rtol=1e-9
    )
    assert np.all(np.isnan(np.asarray(fits.params["beta"][1:])))


def test_interval_rows_refused_under_jit():
    """The traced rule behind ``Status.INVALID_DATA`` for intervals: lower > upper, a lower end
    below the floor 0 of survival times, a non-positive exact time (no solver compiled here)."""
    data = {k: np.array(v, float)[:6] for k, v in interval_data(0.0).items()}  # copies
    data["lower"][1] = data["upper"][1] + 1.0  # lower > upper
    data["lower"][2] = -5.0  # below the support's floor 0
    data["lower"][3] = data["upper"][3] = -2.0  # an exact time <= 0
    model = jm.WeibullRegression().bind(data)
    rows = jax.jit(model.valid_rows)(jax.tree_util.tree_map(jnp.asarray, data))
    assert np.asarray(rows).tolist() == [True, False, False, False, True, True]
    np.testing.assert_array_equal(rows, model.valid_rows(data))  # the eager rule agrees


# -- malformed data --------------------------------------------------------------------------------
def _lung(**changes):
    data = {k: np.asarray(v, float) for k, v in dataset("lung").items()}
    return {**data, **changes}


def _changed(values, index, value):
    values = np.array(values, float)
    values[index] = value
    return values


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            lambda: _lung(y=_changed(_lung()["y"], 4, -3.0)),
            r"data\['y'\] must satisfy t > 0.*\[-3\.0\].*index 4",
        ),
        (lambda: _lung(y=_changed(_lung()["y"], 2, 0.0)), r"data\['y'\].*index 2"),
        (
            lambda: _lung(event=_changed(_lung()["event"], 7, 3.0)),
            r"data\['event'\] must be 1.*\[3\.0\].*index 7",
        ),
        (lambda: _lung(X=_lung()["X"][:-1]), r"data\['X'\] has 226"),
        (lambda: {**_lung(), "time": _lung()["y"]}, r"WeibullRegression: data must be a dict"),
        (
            lambda: {
                "X": _lung()["X"][:2],
                "lower": np.array([2.0, 1.0]),
                "upper": np.array([3.0, 0.5]),
            },
            r"need lower <= upper.*index 1",
        ),
        (
            lambda: {
                "X": _lung()["X"][:2],
                "lower": np.array([-2.0, 1.0]),
                "upper": np.array([3.0, 1.0]),
            },
            r"data\['lower'\] must satisfy t > 0.*-inf.*index 0",
        ),
        (
            lambda: {
                "X": _lung()["X"][:2],
                "lower": np.array([1.0, 0.0]),
                "upper": np.array([1.0, -4.0]),
            },
            r"lower <= upper|data\['upper'\]",
        ),
    ],
)
def test_malformed_data_raises(data, match):
    with pytest.raises(ValueError, match=match):
        jm.fit(jm.WeibullRegression(), data())


def test_wrappers_need_a_continuous_response():
    with pytest.raises(TypeError, match="Logit has no continuous response distribution"):
        jm.Censored(jm.Logit())
    with pytest.raises(TypeError, match="already censored"):
        jm.Truncated(jm.WeibullRegression(), low=1.0)


def test_models_built_alike_are_equal():
    assert jm.WeibullRegression() == jm.WeibullRegression()
    assert jm.WeibullRegression() != jm.LogNormalRegression()
    assert jm.Censored(jm.LinearRegression()) == jm.Censored(jm.LinearRegression())


# -- other regressions under the wrappers ----------------------------------------------------------
@pytest.mark.parametrize(
    ("regression", "params", "family", "family_params"),
    [
        (jm.LinearRegression(), {"sigma": 1.5}, jm.Normal(), {"loc": 0.8, "scale": 1.5}),
        (jm.GLM("gaussian"), {"scale": 2.25}, jm.Normal(), {"loc": 0.8, "scale": 1.5}),
        (
            jm.GammaRegression(),
            {"shape": 2.0},
            jm.Gamma(),
            {"shape": 2.0, "rate": 2.0 / np.exp(0.8)},
        ),
        (
            jm.GLM("inverse_gaussian", "log"),
            {"scale": 0.5},
            jm.InverseGaussian(),
            {"mean": np.exp(0.8), "shape": 2.0},
        ),
    ],
)
def test_censored_glm_is_its_censored_family(regression, params, family, family_params):
    """With only an intercept (0.8), a censored regression's log-likelihood is the censored
    family's at the matching parameters, in both layouts (evaluated, not fitted)."""
    x = np.array([0.4, 1.3, 2.2, 0.9, 3.5, 1.7])
    event = np.array([1.0, 0.0, 1.0, 2.0, 0.0, 1.0])
    lower = np.array([0.4, 1.3, 0.0, 1.0, 3.5, 1.7])
    upper = np.array([0.4, np.inf, 2.2, 1.5, np.inf, 1.7])
    X = np.ones((6, 1))
    model = jm.Censored(regression)
    params = {"beta": jnp.array([0.8]), **{k: jnp.asarray(v) for k, v in params.items()}}
    family_params = {k: jnp.asarray(v) for k, v in family_params.items()}
    for layout, family_data in (
        ({"y": x, "event": event}, {"x": x, "event": event}),
        ({"lower": lower, "upper": upper}, {"lower": lower, "upper": upper}),
    ):
        data = {"X": X, **layout}
        bound = model.bind(data)
        expected = jm.Censored(family).logpdf(family_params, family_data)
        np.testing.assert_allclose(bound.logpdf(params, data), expected, rtol=1e-12)


def test_truncated_regression():
    """Normal regression observed only where y >= 0: log phi(y) - log P(Y >= 0), by scipy."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=150)
    y = 0.5 + x + rng.normal(size=150)
    X, y = np.column_stack([np.ones(150), x])[y > 0], y[y > 0]
    model = jm.Truncated(jm.LinearRegression(), low=0.0)
    res = jm.fit(model, {"X": X, "y": y})

    def nll(theta):
        mu, sigma = X @ theta[:2], np.exp(theta[2])
        return -np.sum(st.norm.logpdf(y, mu, sigma) - st.norm.logsf(0.0, mu, sigma))

    ref = minimize(nll, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], ref.x[:2], rtol=1e-5)
    np.testing.assert_allclose(res.params["sigma"], np.exp(ref.x[2]), rtol=1e-5)
    # The same log-likelihood at jaxmle's estimate, and no lower than scipy's optimum.
    ours = np.concatenate([res.params["beta"], [np.log(res.params["sigma"])]])
    np.testing.assert_allclose(res.loglik, -nll(ours), rtol=1e-12)
    assert float(res.loglik) >= -ref.fun - 1e-9
    sim = res.model.simulate(jax.random.key(0), res.params, {"X": X, "y": y})
    assert sim["y"].shape == y.shape and float(sim["y"].min()) >= 0.0
    with pytest.raises(ValueError, match=r"data\['y'\] must satisfy .*x >= 0\.0.*\[-1\.0\]"):
        jm.fit(model, {"X": X, "y": _changed(y, 0, -1.0)})


def test_uncensored_lognormal_is_least_squares():
    """Without censoring (no "event"), the log-normal AFT fit is least squares of log t."""
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(50), rng.normal(size=50)])
    t = np.exp(X @ np.array([0.3, 0.5]) + 0.7 * rng.normal(size=50))
    res = jm.fit(jm.LogNormalRegression(names=["const", "x"]), {"X": X, "y": t})
    coef, rss = np.linalg.lstsq(X, np.log(t), rcond=None)[:2]
    assert res.param_names == ("const", "x", "scale")
    np.testing.assert_allclose(res.params["beta"], coef, rtol=1e-10)
    np.testing.assert_allclose(res.params["scale"], np.sqrt(rss[0] / 50), rtol=1e-10)
