"""Post-estimation against statsmodels: predictions with delta-method SEs, GLM residuals, the null
model (llnull, pseudo R-squared, LR statistic), average marginal effects and OLS t inference.

References: statsmodels' own fits on its bundled spector, randhie and fair data (Newton to
``tol=1e-14``) and on small simulated designs. Tolerances: predictions, residuals, null
log-likelihoods, LR statistics and marginal effects 1e-8 (absolute, on values of order one or
relative); standard errors of predictions 2e-8 relative (jaxmle's covariance is the inverse
Hessian of the Newton iterate before the last polishing step, a relative difference of order
1e-8); marginal-effect standard errors 1e-6; OLS 1e-8.
"""

import jax
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import jaxmle as jm
from jaxmle import _postestimation as post

TIGHT = dict(disp=0, method="newton", tol=1e-14, maxiter=100)


def close(actual, expected, atol=1e-8, rtol=0.0, what=""):
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol, err_msg=what
    )


def load(name):
    ds = getattr(sm.datasets, name).load_pandas()
    X = sm.add_constant(ds.exog, prepend=True)
    return {"X": X.to_numpy(float), "y": ds.endog.to_numpy(float)}, X, ds.endog


# -- fits shared by the tests (one compilation each) ---------------------------------------------
@pytest.fixture(scope="module")
def spector():
    data, X, y = load("spector")
    return dict(
        data=data,
        logit=jm.fit(jm.Logit(names=X.columns), data),
        probit=jm.fit(jm.Probit(names=X.columns), data),
        sm_logit=sm.Logit(y, X).fit(**TIGHT),
        sm_probit=sm.Probit(y, X).fit(**TIGHT),
        sm_glm=sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14),
    )


@pytest.fixture(scope="module")
def randhie():
    data, X, y = load("randhie")
    return dict(
        data=data,
        poisson=jm.fit(jm.PoissonRegression(names=X.columns), data),
        sm_poisson=sm.Poisson(y, X).fit(**TIGHT),
        sm_glm=sm.GLM(y, X, family=sm.families.Poisson()).fit(tol=1e-14),
    )


@pytest.fixture(scope="module")
def fair():
    ds = sm.datasets.fair.load_pandas()
    X = sm.add_constant(ds.exog, prepend=True)
    y = (ds.endog > 0).astype(float).rename("any_affairs")
    data = {"X": X.to_numpy(float), "y": y}
    return dict(
        data=data,
        logit=jm.fit(jm.Logit(names=X.columns), {"X": data["X"], "y": y.to_numpy()}),
        sm_logit=sm.Logit(y, X).fit(**TIGHT),
        sm_glm=sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-14),
    )


@pytest.fixture(scope="module")
def ols():
    rng = np.random.default_rng(7)
    X = sm.add_constant(rng.normal(size=(15, 2)), prepend=True)
    y = X @ np.array([1.0, 0.4, 0.3]) + rng.normal(size=15)
    data = {"X": X, "y": y}
    return dict(data=data, fit=jm.fit(jm.LinearRegression(), data), sm=sm.OLS(y, X).fit())


# -- predictions ---------------------------------------------------------------------------------
def test_logit_predictions_with_se_equal_statsmodels(spector):
    data, res = spector["data"], spector["logit"]
    frame = res.get_prediction(data).summary_frame()
    assert list(frame.columns) == ["mean", "mean_se", "mean_ci_lower", "mean_ci_upper"]
    ref = spector["sm_logit"].get_prediction().summary_frame()  # predicted, se, ci_lower, ...
    close(frame["mean"], ref["predicted"], 1e-10)
    close(frame["mean_se"], ref["se"], rtol=2e-8)
    close(frame["mean_ci_lower"], ref["ci_lower"], rtol=2e-8)
    close(frame["mean_ci_upper"], ref["ci_upper"], rtol=2e-8)
    linear = res.get_prediction(data, which="linear").summary_frame()
    ref = spector["sm_glm"].get_prediction(which="linear").summary_frame()
    close(linear.to_numpy(), ref.to_numpy(), rtol=2e-8)
    close(res.predict(data), spector["sm_logit"].predict(), 1e-10)
    new = {"X": data["X"][:3] + 0.5}
    close(res.predict(new, "linear"), spector["sm_logit"].predict(new["X"], which="linear"), 1e-10)


def test_poisson_predictions_and_residuals_equal_statsmodels_glm(randhie):
    data, res, glm = randhie["data"], randhie["poisson"], randhie["sm_glm"]
    frame = res.get_prediction(data, level=0.9).summary_frame()
    close(frame.to_numpy(), glm.get_prediction().summary_frame(alpha=0.1).to_numpy(), rtol=2e-8)
    close(res.fittedvalues(data), glm.fittedvalues, rtol=1e-9)
    close(res.resid_response(data), glm.resid_response, 1e-8)
    close(res.resid_pearson(data), glm.resid_pearson, 1e-8)
    close(res.resid_deviance(data), glm.resid_deviance, 1e-8)


def test_logit_residuals_equal_statsmodels_glm(spector, fair):
    for case in (spector, fair):
        res, glm, data = case["logit"], case["sm_glm"], case["data"]
        close(res.fittedvalues(data), glm.fittedvalues, 1e-10)
        for kind in ("resid_response", "resid_pearson", "resid_deviance"):
            close(getattr(res, kind)(data), getattr(glm, kind), 1e-8, what=kind)
    close(spector["logit"].resid_pearson(spector["data"]), spector["sm_logit"].resid_pearson, 1e-8)
    close(spector["logit"].resid_deviance(spector["data"]), spector["sm_logit"].resid_dev, 1e-8)


def test_binomial_trials_gamma_and_nb_residuals():
    rng = np.random.default_rng(3)
    X = sm.add_constant(rng.normal(size=(25, 1)), prepend=True)
    trials = rng.integers(1, 9, size=25).astype(float)
    y = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-X @ [0.2, 0.8]))).astype(float)
    data = {"X": X, "y": y, "trials": trials}
    res = jm.fit(jm.Logit(), data)
    glm = sm.GLM(np.column_stack([y, trials - y]), X, family=sm.families.Binomial()).fit(tol=1e-14)
    for kind in ("fittedvalues", "resid_response", "resid_pearson", "resid_deviance"):
        close(getattr(res, kind)(data), getattr(glm, kind), 1e-8, what=kind)
    close(res.get_prediction(data).summary_frame(), glm.get_prediction().summary_frame(), 2e-8)

    y = rng.gamma(2.0, np.exp(X @ [0.5, 0.3]) / 2.0)
    offset = rng.normal(scale=0.1, size=25)
    data = {"X": X, "y": y, "offset": offset}
    res = jm.fit(jm.GammaRegression(), data)
    family = sm.families.Gamma(sm.families.links.Log())
    glm = sm.GLM(y, X, family=family, offset=offset).fit(tol=1e-14)
    for kind in ("fittedvalues", "resid_response", "resid_pearson", "resid_deviance"):
        close(getattr(res, kind)(data), getattr(glm, kind), 1e-8, what=kind)
    # llnull: the same model fitted to a constant (offset kept, shape re-estimated).
    null = jm.fit(jm.GammaRegression(), {"X": np.ones((25, 1)), "y": y, "offset": offset})
    close(res.llnull(data), null.loglik, 1e-9)

    y = rng.negative_binomial(2.0, 2.0 / (2.0 + np.exp(X @ [1.0, 0.5]))).astype(float)
    data = {"X": X, "y": y}
    res = jm.fit(jm.NegativeBinomialRegression(), data)
    mu = np.asarray(res.fittedvalues(data))
    family = sm.families.NegativeBinomial(alpha=float(res.params["alpha"]))
    close(res.resid_deviance(data), family.resid_dev(y, mu), 1e-8)
    close(res.resid_pearson(data), (y - mu) / np.sqrt(family.variance(mu)), 1e-10)
    estimate = np.r_[res.params["beta"], res.params["alpha"]]
    ref = sm.NegativeBinomial(y, X).fit(start_params=estimate, **TIGHT)  # (its default start fails)
    close(ref.params, estimate, 1e-8)
    # The null model re-estimates alpha, as statsmodels' (whose own null fit stops early).
    start = dict(start_params=[np.log(y.mean()), 0.5])
    null = sm.NegativeBinomial(y, np.ones(25)).fit(**start, **TIGHT)
    close(res.llnull(data), null.llf, 1e-8)
    assert res.df_model == ref.df_model == 1 and float(res.df_resid) == ref.df_resid == 23
    close(res.aic, ref.aic, 1e-8)  # AIC counts alpha: the number of free parameters
    assert jm.lr_test(jm.fit(jm.PoissonRegression(), data), res).df == 1


# -- the null model ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["spector", "randhie", "fair"])
def test_null_model_statistics_equal_statsmodels(case, request):
    fits = request.getfixturevalue(case)
    key = "poisson" if case == "randhie" else "logit"
    res, ref, data = fits[key], fits[f"sm_{key}"], fits["data"]
    # statsmodels' own null fits stop at a relative 1e-10 (fair: 2.5e-7 of -4002.53), so the
    # exact null log-likelihood is checked where it has a closed form (the binary models).
    close(res.llnull(data), ref.llnull, 0, rtol=1e-10)
    if key == "logit":
        ybar = np.mean(data["y"])
        exact = len(data["y"]) * (ybar * np.log(ybar) + (1 - ybar) * np.log1p(-ybar))
        close(res.llnull(data), exact, 1e-8)
    close(res.prsquared(data), ref.prsquared, 1e-10)
    close(res.llr(data), ref.llr, 0, rtol=1e-9)
    close(res.llr_pvalue(data), ref.llr_pvalue, 1e-12, rtol=1e-8)
    assert res.df_model == ref.df_model
    close(res.df_resid, ref.df_resid, 0)
    close(res.aic, ref.aic, 1e-8)
    close(res.bic, ref.bic, 1e-8)


def test_probit_null_model_and_margeff(spector):
    res, ref, data = spector["probit"], spector["sm_probit"], spector["data"]
    close(res.llnull(data), ref.llnull, 1e-8)
    close(res.llr_pvalue(data), ref.llr_pvalue, 1e-12, rtol=1e-8)
    mine = res.get_margeff(data).summary_frame()
    theirs = ref.get_margeff().summary_frame()
    close(mine.iloc[:, 0], theirs.iloc[:, 0], 1e-8)
    close(mine.iloc[:, 1:], theirs.iloc[:, 1:], 1e-6)
    assert list(mine.index) == ["GPA", "TUCE", "PSI"]


# -- marginal effects ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["dydx", "eyex", "dyex", "eydx"])
@pytest.mark.parametrize("at", ["overall", "mean"])
def test_logit_margeff_equal_statsmodels(spector, method, at):
    res, data = spector["logit"], spector["data"]
    mine = res.get_margeff(data, at=at, method=method).summary_frame()
    theirs = spector["sm_logit"].get_margeff(at=at, method=method).summary_frame()
    assert list(mine.columns) == list(theirs.columns)
    close(mine.iloc[:, 0], theirs.iloc[:, 0], 1e-8)
    close(mine.iloc[:, 1:], theirs.iloc[:, 1:], 1e-6)


@pytest.mark.parametrize("case", ["randhie", "fair"])
def test_margeff_on_larger_data_equal_statsmodels(case, request):
    fits = request.getfixturevalue(case)
    key = "poisson" if case == "randhie" else "logit"
    margins = fits[key].get_margeff(fits["data"])
    ref = fits[f"sm_{key}"].get_margeff()
    close(margins.margeff, ref.margeff, 1e-8)
    close(margins.margeff_se, ref.margeff_se, 1e-6)
    close(margins.conf_int(), ref.conf_int(), 1e-6)


# -- OLS inference -------------------------------------------------------------------------------
def test_linear_regression_inference_is_ols(ols):
    res, ref, data = ols["fit"], ols["sm"], ols["data"]
    close(res.params["beta"], ref.params, 1e-10)
    close(res.bse["beta"], ref.bse, 1e-10)
    close(res.tvalues["beta"], ref.tvalues, 1e-8)
    close(res.pvalues["beta"], ref.pvalues, 1e-10)
    lower, upper = res.conf_int(0.9)
    close(np.column_stack([lower["beta"], upper["beta"]]), ref.conf_int(0.1), 1e-10)
    lower_t, upper_t = res.conf_int(0.9, method="transformed")  # beta is Real: the same
    close(lower_t["beta"], lower["beta"], 0)
    assert float(lower_t["sigma"]) > 0
    close(res.cov_params()[:3, :3], ref.cov_params(), 1e-12)
    close(res.se["beta"] * np.sqrt(15 / 12), ref.bse, 1e-10)  # se stays the ML one
    assert res.df_model == ref.df_model == 2 and float(res.df_resid) == ref.df_resid == 12
    frame = res.get_prediction(data).summary_frame()
    theirs = ref.get_prediction().summary_frame()[list(frame.columns)]
    close(frame, theirs, 1e-10)
    close(res.resid_response(data), ref.resid, 1e-10)
    close(res.resid_pearson(data), ref.resid, 1e-10)
    # Robust covariance: statsmodels' HC0 uses z, no s^2 rescaling; so does jaxmle.
    hc0 = jm.fit(jm.LinearRegression(), data, cov_type="HC0")
    ref0 = sm.OLS(data["y"], data["X"]).fit(cov_type="HC0")
    close(hc0.bse["beta"], ref0.bse, 1e-8)
    close(hc0.pvalues["beta"], ref0.pvalues, 1e-8)


def test_ols_inference_of_a_weighted_batch_and_under_vmap():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(12), rng.normal(size=12)])
    Y = X @ [1.0, 2.0] + rng.normal(size=(3, 12))
    weights = np.ones((3, 12))
    weights[1, :3] = 0.0  # dataset 1 has 9 rows: its t quantile has 7 degrees of freedom
    many = jm.fit_many(jm.LinearRegression(), {"X": np.broadcast_to(X, (3, 12, 2)), "y": Y},
                       weights=weights)  # fmt: skip
    lower, _ = many.conf_int(0.9)
    for i in range(3):
        rows = weights[i] > 0
        ref = sm.OLS(Y[i][rows], X[rows]).fit()
        close(lower["beta"][i], ref.conf_int(0.1)[:, 0], 1e-10)
        close(many.pvalues["beta"][i], ref.pvalues, 1e-12)
        close(many.cov_params()[i][:2, :2], ref.cov_params(), 1e-12)
    designs = np.broadcast_to(X, (3, 12, 2))
    se = jax.vmap(lambda r, x: r.predict({"X": x}, se=True).se)(many, designs)
    close(se[0], sm.OLS(Y[0], X).fit().get_prediction().se_mean, 1e-10)
    assert many.to_dataframe().shape == (3, 22)


def test_student_t_helpers_equal_scipy():
    df = np.array([1.0, 2.0, 5.0, 12.0, 100.0, 1e4])
    q = np.array([0.6, 0.95, 0.975, 0.995])[:, None]
    close(post.t_quantile(q, df), stats.t.ppf(q, df), 0, rtol=1e-11)
    t = np.array([0.0, 0.3, 2.0, 8.0])
    close(post.t_pvalue(t, 7.0), 2 * stats.t.sf(t, 7.0), 1e-14, rtol=1e-12)


# -- presentation --------------------------------------------------------------------------------
def test_summary_header_and_tests(ols, fair):
    text = ols["fit"].summary(data=ols["data"])
    for piece in ("Dep. variable:", "Df residuals:", "LL-Null:", "Pseudo R-squ.:", "LLR p-value:"):
        assert piece in text
    assert "P>|t|" in text and "Student t, 12 df" in text and "s^2 = RSS / (n - p)" in text
    sigma_row = next(line for line in text.splitlines() if line.startswith("sigma"))
    assert len(sigma_row.split()) == 5  # name, coef, std err, interval: no t, no p
    assert "LL-Null" not in ols["fit"].summary()  # without data: no null model
    text = fair["logit"].summary(data=fair["data"])
    assert "any_affairs" in text and "P>|z|" in text and "Wald intervals (normal)" in text
    assert f"{float(fair['sm_logit'].llnull):.6g}" in text
    assert "y_name" in fair["logit"].summary(yname="y_name")


def test_to_dataframe_has_intervals_and_pvalues(ols):
    res = ols["fit"]
    frame = res.to_dataframe(level=0.9)
    lower, upper = res.conf_int(0.9, method="transformed")
    close(frame["ci_lower(beta[1])"], lower["beta"][1], 0)
    close(frame["ci_upper(sigma)"], upper["sigma"], 0)
    close(frame["pvalue(beta[2])"], res.pvalues["beta"][2], 0)
    close(frame["se(beta[0])"], res.bse["beta"][0], 0)
    assert np.isnan(frame["pvalue(sigma)"][0])


def test_errors_name_the_problem(spector):
    res, data = spector["logit"], spector["data"]
    with pytest.raises(ValueError, match="does not keep its data"):
        res.predict(None)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        res.predict({"X": data["X"][:, :3]})
    with pytest.raises(ValueError, match="which"):
        res.predict(data, which="probability")
    with pytest.raises(ValueError, match="method"):
        res.get_margeff(data, method="dy")
    expo = jm.fit(jm.Exponential(), np.array([0.5, 1.2, 0.3]))
    with pytest.raises(TypeError, match="GLM-type regression"):
        expo.predict({"X": np.ones((3, 1))})
    assert expo.df_model == expo.n_free == 1


def test_predict_with_new_rows_and_an_offset(randhie):
    res = randhie["poisson"]
    X = randhie["data"]["X"][:4]
    offset = np.log(np.array([1.0, 2.0, 0.5, 3.0]))
    mine = res.get_prediction({"X": X, "offset": offset}).summary_frame()
    ref = randhie["sm_glm"].get_prediction(X, offset=offset).summary_frame()
    close(mine, ref, 0, rtol=2e-8)
    assert isinstance(mine, pd.DataFrame)
