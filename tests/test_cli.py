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
