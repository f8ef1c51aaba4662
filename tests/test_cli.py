"""The command line: `jaxmle demo` and `jaxmle fit FILE`."""

import csv

import numpy as np
import pytest

import jaxmle as jm
from jaxmle.cli import main


def test_demo_reports_timings_convergence_and_a_summary(capsys):
    assert main(["demo", "--datasets", "40", "--nobs", "60"]) == 0
    out = capsys.readouterr().out
    for piece in ("first call", "warm call", "converged:", "coverage", "std err", "const"):
        assert piece in out


@pytest.fixture
def grouped_csv(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.csv"
    rows = [("site", "x", "y")]
    for site, n in (("north", 30), ("south", 55)):
        x = rng.gamma(2.0, 1.5, size=n)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(1.5 - x))).astype(int)
        rows += [(site, f"{a:.17g}", str(b)) for a, b in zip(x, y, strict=True)]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path, rows[1:]


def test_fit_file_by_group_equals_fit_many(grouped_csv, tmp_path):
    path, rows = grouped_csv
    out = tmp_path / "fits.csv"
    assert (
        main(
            [
                "fit",
                str(path),
                "--model",
                "Gamma",
                "--column",
                "x",
                "--by",
                "site",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open(out) as handle:
        table = list(csv.DictReader(handle))
    assert [r["site"] for r in table] == ["north", "south"]
    for record in table:
        x = np.array([float(r[1]) for r in rows if r[0] == record["site"]])
        ref = jm.fit(jm.Gamma(), x)
        np.testing.assert_allclose(float(record["shape"]), ref.params["shape"], rtol=1e-5)
        np.testing.assert_allclose(float(record["se(rate)"]), ref.se["rate"], rtol=1e-5)
        assert record["status"] == "converged"


def test_fit_file_regression_and_errors(grouped_csv, capsys):
    path, _ = grouped_csv
    assert main(["fit", str(path), "--model", "Logit", "--y", "y", "--x", "x"]) == 0
    assert "const" in capsys.readouterr().out
    assert main(["fit", str(path), "--model", "Gamma", "--column", "nope"]) == 2
    assert "column 'nope' not in the file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def site_frame():
    """Sites with integer labels (in shuffled file order), a categorical and a cluster column."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    sizes = rng.integers(30, 61, 6)
    site = np.repeat(rng.permutation([7, 3, 11, 5, 2, 13]), sizes)
    n = len(site)
    frame = pd.DataFrame(
        {
            "site": site,
            "x1": rng.normal(size=n),
            "g": rng.choice(["lo", "mid", "hi"], n),
            "clu": rng.integers(0, 12, n),
        }
    )
    frame["y"] = rng.poisson(np.exp(0.4 + 0.3 * frame.x1 + 0.2 * (frame.g == "hi")))
    return frame


def test_fit_parquet_by_site_with_a_formula(site_frame, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    smf = pytest.importorskip("statsmodels.formula.api")
    source, out = tmp_path / "data.parquet", tmp_path / "fits.parquet"
    site_frame.to_parquet(source)
    formula = "y ~ x1 + C(g)"
    argv = ["fit", str(source), "--model", "PoissonRegression", "--formula", formula]
    assert main([*argv, "--by", "site", "--out", str(out)]) == 0
    table = pd.read_parquet(out)
    assert table["site"].dtype == np.int64
    assert table["site"].tolist() == [2, 3, 5, 7, 11, 13]
    ref = jm.fit_many(jm.PoissonRegression(), site_frame, formula=formula, by="site")
    names = ref.param_names
    for stat in ("", "se", "z", "p", "lower", "upper"):
        assert all((f"{stat}({n})" if stat else n) in table for n in names)
    np.testing.assert_allclose(table[list(names)], ref.params["beta"], rtol=1e-13)
    np.testing.assert_allclose(table["loglik"], ref.loglik, rtol=1e-13)
    z = 1.959963984540054
    np.testing.assert_allclose(table["lower(x1)"], table["x1"] - z * table["se(x1)"])
    assert (table["status"] == "converged").all()
    for record in table.itertuples():
        group = site_frame[site_frame.site == record.site]
        sm_fit = smf.poisson(formula, group).fit(disp=0, tol=1e-12)
        got = table.loc[record.Index, list(sm_fit.params.index)].to_numpy(dtype=float)
        np.testing.assert_allclose(got, sm_fit.params.to_numpy(), rtol=1e-8, atol=1e-8)
        ses = [f"se({n})" for n in sm_fit.params.index]
        np.testing.assert_allclose(table.loc[record.Index, ses], sm_fit.bse, rtol=1e-8)
        p_x1 = table.loc[record.Index, "p(x1)"]
        np.testing.assert_allclose(p_x1, sm_fit.pvalues["x1"], rtol=1e-6)


def test_fit_csv_with_cluster_covariance_at_full_precision(site_frame, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    source, out = tmp_path / "data.csv", tmp_path / "fits.csv"
    site_frame.to_csv(source, index=False)
    argv = ["fit", str(source), "--model", "PoissonRegression", "--formula", "y ~ x1"]
    assert main([*argv, "--groups", "clu", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 1 and "site" not in table
    ref = jm.fit(
        jm.PoissonRegression(), site_frame, formula="y ~ x1", cov_type="cluster", groups="clu"
    )
    np.testing.assert_allclose(table[["se(Intercept)", "se(x1)"]].iloc[0], ref.se["beta"], 1e-12)
    assert main([*argv, "--by", "site"]) == 0  # printed
    printed = capsys.readouterr().out
    assert "p(x1)" in printed and "upper(Intercept)" in printed


def _malformed_files(tmp_path, frame):
    """Files with one problem each."""
    empty, text = frame.copy(), frame.astype({"x1": object})
    empty.loc[4, "x1"] = np.nan
    text.loc[9, "x1"] = "1.2.3"
    negative = frame.copy()
    negative.loc[12, "y"] = -2
    paths = {}
    for name, data in (("empty", empty), ("text", text), ("negative", negative), ("ok", frame)):
        paths[name] = tmp_path / f"{name}.csv"
        data.to_csv(paths[name], index=False)
    return paths


def test_malformed_inputs_are_one_line_messages(site_frame, tmp_path, capsys):
    paths = _malformed_files(tmp_path, site_frame)
    site = lambda row: site_frame.site.iloc[row]  # noqa: E731
    regression = ["--model", "PoissonRegression", "--formula", "y ~ x1", "--by", "site"]
    cases = [
        ([str(tmp_path / "missing.csv"), *regression], "missing.csv: no such file"),
        ([str(paths["ok"]), "--model", "Logit", "--formula", "y ~ nope"], "column 'nope'"),
        (
            [str(paths["empty"]), *regression],
            f"empty.csv, group site={site(4)}, line 6: empty cell in column 'x1'",
        ),
        (
            [str(paths["text"]), *regression],
            f"text.csv, group site={site(9)}, line 11: column 'x1' has a non-numeric value '1.2.3'",
        ),
        (
            [str(paths["negative"]), *regression],
            f"negative.csv, group site={site(12)}, line 14: PoissonRegression: data['y']",
        ),
        ([str(paths["ok"]), "--model", "Poison", "--column", "y"], "choose one of Bernoulli"),
        # Models that need constructor arguments are not offered: Mixture(family), Model(...).
        ([str(paths["ok"]), "--model", "Mixture", "--column", "y"], "Cauchy, Exponential"),
        ([str(paths["ok"]), *regression, "--cov-type", "cluster"], "needs --groups COLUMN"),
        ([str(paths["ok"]), "--model", "Normal", "--formula", "y ~ x1"], "regression model"),
    ]
    for argv, expected in cases:
        assert main(["fit", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert "Mixture," not in err and "Model," not in err
        assert expected in err, (argv, err)
        assert err.count("\n") == 1 and "Traceback" not in err
    # --missing drop fits without the row, as statsmodels' missing="drop".
    assert main(["fit", str(paths["empty"]), *regression, "--missing", "drop"]) == 0
