"""Formulas (formulaic): `fit(model, df, formula=...)` and `fit_many(..., formula=..., by=...)`
equal statsmodels' formula fits, with the same coefficient names."""

import numpy as np
import pandas as pd
import pytest

import jaxmle as jm

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")
pytest.importorskip("formulaic")

TOL = 1e-8


def check_against(res, ref, names_in_order=True):
    """Estimates, SEs (relative) and log-likelihood equal statsmodels', matched by name."""
    names = list(res.param_names)
    assert sorted(names) == sorted(ref.params.index)
    if names_in_order:
        assert names == list(ref.params.index)
    np.testing.assert_allclose(res.params["beta"], ref.params[names], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(res.se["beta"], ref.bse[names], rtol=TOL)
    np.testing.assert_allclose(res.loglik, ref.llf, rtol=1e-12)
    assert float(res.nobs) == ref.nobs


def test_spector_logit_equals_statsmodels():
    df = sm.datasets.spector.load_pandas().data
    formula = "GRADE ~ GPA + TUCE + PSI"
    res = jm.fit(jm.Logit(), df, formula=formula)
    check_against(res, smf.logit(formula, df).fit(disp=0, tol=1e-12))


def test_post_estimation_takes_data_frames_through_the_formula():
    df = sm.datasets.spector.load_pandas().data
    formula = "GRADE ~ GPA + TUCE + PSI"
    res = jm.fit(jm.Logit(), df, formula=formula)
    ref = smf.logit(formula, df).fit(disp=0, tol=1e-12)
    new = df.iloc[[0, 5, 9]].drop(columns="GRADE")  # no response: predictions only
    got = res.predict(new, se=True)
    want = ref.get_prediction(new).summary_frame()
    np.testing.assert_allclose(got.predicted, want["predicted"], rtol=1e-10)
    np.testing.assert_allclose(got.se, want["se"], rtol=2e-8)
    np.testing.assert_allclose(res.llnull(df), ref.llnull, rtol=1e-10)
    np.testing.assert_allclose(res.prsquared(df), ref.prsquared, rtol=1e-10)
    effects = res.get_margeff(df).summary_frame()
    np.testing.assert_allclose(effects["dy/dx"], ref.get_margeff().margeff, rtol=1e-9)
    assert "Dep. variable:    GRADE" in res.summary(data=df)
    with pytest.raises(ValueError, match="on the new data"):
        res.predict(new.drop(columns="GPA"))


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(1)
    n = 400
    d = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.uniform(0.5, 2.0, size=n),
            "g": rng.choice(["a", "b", "c"], n),
        }
    )
    d["y"] = rng.poisson(np.exp(0.3 + 0.4 * d.x1 - 0.2 * d.x2 + 0.5 * (d.g == "b")))
    d["b"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-d.x1 + 0.5 * (d.g == "c")))).astype(int)
    d.loc[[3, 17], "x1"] = np.nan  # dropped, as statsmodels' missing="drop"
    d.loc[25, "g"] = None
    return d


def test_categorical_interaction_transform_and_missing_rows(frame):
    formula = "y ~ x1 * x2 + C(g) + np.log(x2)"
    res = jm.fit(jm.PoissonRegression(), frame, formula=formula)
    ref = smf.poisson(formula, frame).fit(disp=0, tol=1e-12)
    # formulaic orders the columns by term degree, patsy puts categoricals first: same names.
    check_against(res, ref, names_in_order=False)
    assert float(res.nobs) == len(frame) - 3
    assert {"C(g)[T.b]", "C(g)[T.c]", "x1:x2", "np.log(x2)", "Intercept"} <= set(res.param_names)


def test_logit_with_categorical_and_cluster_covariance(frame):
    d = frame.assign(clu=np.arange(len(frame)) % 23)
    formula = "b ~ x1 + C(g)"
    res = jm.fit(jm.Logit(), d, formula=formula, cov_type="cluster", groups="clu")
    kept = d.dropna(subset=["x1", "g"])
    ref = smf.logit(formula, kept).fit(
        disp=0, tol=1e-12, cov_type="cluster", cov_kwds={"groups": kept["clu"].to_numpy()}
    )
    check_against(res, ref, names_in_order=False)


@pytest.fixture(scope="module")
def sites():
    """200 groups of 30-60 rows, site labels integers in shuffled file order."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(30, 61, 200)
    site = np.repeat(rng.permutation(np.arange(1000, 1200)), sizes)
    n = len(site)
    d = pd.DataFrame({"site": site, "x1": rng.normal(size=n), "x2": rng.uniform(size=n)})
    d["y"] = rng.poisson(np.exp(0.5 + 0.3 * d.x1 - 0.4 * d.x2))
    return d


def test_fit_many_by_site_equals_statsmodels_per_group(sites):
    formula = "y ~ x1 + x2"
    res = jm.fit_many(jm.PoissonRegression(), sites, formula=formula, by="site")
    assert res.groups == tuple(range(1000, 1200))
    assert all(type(label) is int for label in res.groups)
    assert res.param_names == ("Intercept", "x1", "x2")
    refs = [smf.poisson(formula, g).fit(disp=0, tol=1e-12) for _, g in sites.groupby("site")]
    params = np.array([r.params.to_numpy() for r in refs])
    np.testing.assert_allclose(res.params["beta"], params, rtol=TOL, atol=TOL)
    bse = np.array([r.bse.to_numpy() for r in refs])
    np.testing.assert_allclose(res.se["beta"], bse, rtol=TOL)
    np.testing.assert_allclose(res.loglik, [r.llf for r in refs], rtol=1e-12)
    np.testing.assert_array_equal(res.nobs, sites.groupby("site").size().to_numpy())


def test_groups_share_columns_and_bad_groups_become_statuses(sites):
    d = sites[sites.site < 1006].copy()
    d["g"] = np.where(d.site == 1000, "a", np.array(["a", "b", "c"])[np.arange(len(d)) % 3])
    d.loc[d.index[d.site == 1003][0], "y"] = -1.0  # not a count
    d.loc[d.site == 1004, "x2"] = np.nan  # every row of the group dropped
    res = jm.fit_many(
        jm.PoissonRegression(), d, formula="y ~ x2 + C(g)", by="site", errors="status"
    )
    assert res.groups == (1000, 1001, 1002, 1003, 1004, 1005)
    assert res.param_names == ("Intercept", "x2", "C(g)[T.b]", "C(g)[T.c]")
    status = list(res.status_name)
    assert status[3] == status[4] == "invalid data"
    assert status[0] != "converged"  # only level "a": the C(g) columns are all zero
    assert status[1] == status[2] == status[5] == "converged"
    assert res.messages[3].startswith("group site=1003, row ")
    assert "non-negative integer" in res.messages[3]
    assert res.messages[4] == "group site=1004: PoissonRegression: data has no observations"
    with pytest.raises(ValueError, match=r"^group site=1003, row \d+: PoissonRegression"):
        jm.fit_many(jm.PoissonRegression(), d[d.site != 1004], formula="y ~ x1", by="site")


def test_formula_errors(frame):
    with pytest.raises(ValueError, match="Normal is not a regression"):
        jm.fit(jm.Normal(), frame, formula="y ~ x1")
    with pytest.raises(ValueError, match="column 'nope' not in the data"):
        jm.fit(jm.Logit(), frame, formula="b ~ nope")
    with pytest.raises(ValueError, match="with a response"):
        jm.fit(jm.Logit(), frame, formula="x1 + x2")
    with pytest.raises(ValueError, match="by= needs formula="):
        jm.fit_many(jm.Logit(), frame, by="g")
    with pytest.raises(ValueError, match="by: column 'site' not in the data"):
        jm.fit_many(jm.Logit(), frame, formula="b ~ x1", by="site")
    with pytest.raises(ValueError, match="the response became 3 columns"):
        jm.fit(jm.Logit(), frame, formula="g ~ x1")


def test_single_fit_messages_name_the_frame_row():
    """A bad value in a formula fit is located by the DataFrame's row label, as fit_many(by=)
    does, not by its position in the model matrix after the rows with missing values went."""
    rng = np.random.default_rng(1)
    n = 30
    d = pd.DataFrame(
        {"x": rng.normal(size=n), "y": rng.integers(0, 2, n).astype(float), "w": np.ones(n)},
        index=np.arange(100, 100 + n),
    )
    d.loc[102, "y"] = np.nan  # dropped: the positions after it shift by one
    d.loc[120, "y"] = 2.0  # outside a Logit's support
    with pytest.raises(ValueError, match=r"^row 120: Logit: data\['y'\] must satisfy y in \{0"):
        jm.fit(jm.Logit(), d, formula="y ~ x")
    with pytest.raises(ValueError, match=r"^group site=1, row 120: Logit: data\['y'\]"):
        jm.fit_many(jm.Logit(), d.assign(site=1), formula="y ~ x", by="site")
    d.loc[120, "y"] = 1.0
    d.loc[110, "x"] = np.inf  # not missing: kept, then refused
    with pytest.raises(ValueError, match=r"^row 110: Logit: data\['X'\] contains 1 non-finite"):
        jm.fit(jm.Logit(), d, formula="y ~ x")
    d.loc[110, "x"] = 0.5
    d.loc[115, "w"] = -1.0
    with pytest.raises(ValueError, match=r"^row 115: Logit: weights must be non-negative"):
        jm.fit(jm.Logit(), d, formula="y ~ x", weights="w")
    d.loc[115, "w"] = 1.0
    assert jm.fit(jm.Logit(), d, formula="y ~ x", weights="w").nobs == n - 1
