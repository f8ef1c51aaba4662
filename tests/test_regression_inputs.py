"""Regressions: separation and non-existence of the MLE, eager input validation, names."""

import re

import numpy as np
import pandas as pd
import pytest

import jaxmle as jm

RNG = np.random.default_rng(3)
N = 40
X3 = np.column_stack([np.ones(N), RNG.normal(size=N), RNG.normal(size=N)])
LOGIT = jm.Logit()  # shared: one compilation for every (40, 3) binary dataset below


def status(res):
    return jm.Status(int(res.status))


# -- separation ----------------------------------------------------------------------------------
def test_complete_separation_is_flagged():
    y = (X3[:, 1] > 0).astype(float)  # beta = (0, 1, 0) separates completely by construction
    res = jm.fit(LOGIT, {"X": X3, "y": y})
    assert status(res) == jm.Status.SEPARATION and not bool(res.converged)
    assert LOGIT.separated_coefficients(res, {"X": X3, "y": y})[1]


def test_quasi_complete_separation_flags_the_dummy():
    dummy = (X3[:, 1] > 0.5).astype(float)
    y = np.where(dummy == 1, 1.0, RNG.integers(0, 2, N))
    data = {"X": np.column_stack([np.ones(N), dummy, X3[:, 2]]), "y": y}
    res = jm.fit(LOGIT, data)
    assert status(res) == jm.Status.SEPARATION
    assert LOGIT.separated_coefficients(res, data).tolist() == [False, True, False]
    probit = jm.fit(jm.Probit(), data)
    assert status(probit) == jm.Status.SEPARATION


def test_no_separation_converges():
    data = {"X": X3, "y": RNG.integers(0, 2, N).astype(float)}
    res = jm.fit(LOGIT, data)
    assert bool(res.converged)
    assert not LOGIT.separated_coefficients(res, data).any()


def test_separation_found_in_a_mixed_batch():
    # Under vmap the exact check runs only when some fit of the batch looks diverging: a batch
    # of ordinary fits and one separated fit must flag exactly the separated one.
    ys = RNG.integers(0, 2, (4, N)).astype(float)
    ys[2] = (X3[:, 1] > 0).astype(float)
    res = jm.fit_many(LOGIT, {"X": np.broadcast_to(X3, (4, N, 3)), "y": ys})
    flagged = np.asarray(res.status) == int(jm.Status.SEPARATION)
    assert flagged.tolist() == [False, False, True, False]
    assert np.all(np.asarray(res.converged)[[0, 1, 3]])


def test_poisson_zero_count_category():
    group = np.arange(60) % 3
    X = np.column_stack([np.ones(60), group == 1, group == 2]).astype(float)
    y = RNG.poisson(3.0, 60).astype(float)
    y[group == 2] = 0.0
    model = jm.PoissonRegression()
    res = jm.fit(model, {"X": X, "y": y})
    assert status(res) == jm.Status.SEPARATION
    assert model.separated_coefficients(res, {"X": X, "y": y}).tolist() == [False, False, True]


def test_multinomial_empty_cell():
    group = np.arange(60) % 3
    X = np.column_stack([np.ones(60), group == 1, group == 2]).astype(float)
    y = RNG.integers(0, 3, 60).astype(float)
    y[(group == 2) & (y == 1)] = 0.0  # class 1 never occurs in group 2
    model = jm.MultinomialLogit(n_classes=3)
    res = jm.fit(model, {"X": X, "y": y})
    assert status(res) == jm.Status.SEPARATION
    mask = model.separated_coefficients(res, {"X": X, "y": y})
    assert mask.tolist() == [[False, False], [False, False], [True, False]]


# -- validation ----------------------------------------------------------------------------------
def bad(model, data, match):
    with pytest.raises(ValueError, match=match):
        jm.fit(model, data)


def test_shape_errors():
    y = np.zeros(N)
    bad(jm.Logit(), {"X": X3[:, 1], "y": y}, r"data\['X'\] must be 2-D")
    bad(jm.Logit(), {"X": X3, "y": y[:-1]}, r"data\['y'\] must have shape \(40,\) to match")
    bad(jm.Logit(), {"X": X3, "y": np.zeros((N, 1))}, r"data\['y'\] must be 1-D")
    bad(jm.Logit(), {"X": X3}, "must be a dict with 'X'")
    bad(jm.Logit(), {"X": X3, "y": y, "wieghts": y}, "unknown data key")
    bad(jm.PoissonRegression(), {"X": X3, "y": y, "trials": y}, "unknown data key")
    bad(jm.Logit(n_features=2), {"X": X3, "y": y}, "sized for X with 2 columns")


def test_response_errors():
    y01 = (X3[:, 1] > 0).astype(float)
    bad(jm.Logit(), {"X": X3, "y": y01 * 2.0}, r"Logit: data\['y'\] must satisfy y in \{0, 1")
    bad(jm.Probit(), {"X": X3, "y": y01 - 0.5}, "Probit")
    trials = np.full(N, 3.0)
    bad(jm.Logit(), {"X": X3, "y": trials + 1.0, "trials": trials}, "trials < y")
    bad(jm.Logit(), {"X": X3, "y": y01, "trials": trials - 0.5}, "integer trials")
    bad(jm.PoissonRegression(), {"X": X3, "y": -y01}, "non-negative integer count")
    bad(jm.NegativeBinomialRegression(), {"X": X3, "y": y01 + 0.5}, "non-negative integer")
    bad(jm.GammaRegression(), {"X": X3, "y": y01}, r"y > 0")
    bad(jm.GLM("inverse_gaussian"), {"X": X3, "y": -1.0 - y01}, r"y > 0")
    bad(jm.MultinomialLogit(n_classes=2), {"X": X3, "y": y01 * 2}, r"labels in 0..1")


def test_constructor_errors():
    with pytest.raises(ValueError, match="family must be one of"):
        jm.GLM("poison")
    with pytest.raises(ValueError, match="link must be one of"):
        jm.GLM("poisson", "sqrt")
    with pytest.raises(ValueError, match="'log' or 'inverse'"):
        jm.GammaRegression("identity")
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        jm.MultinomialLogit(n_classes=1)
    with pytest.raises(ValueError, match="disagrees"):
        jm.Logit(n_features=2, names=["a", "b", "c"])
    with pytest.raises(AttributeError, match="not sized yet"):
        _ = jm.Logit().param_names


# -- names ---------------------------------------------------------------------------------------
def test_names_from_dataframe_and_constructor():
    frame = pd.DataFrame(X3, columns=["const", "age", "income"])
    bound = jm.LinearRegression().bind({"X": frame, "y": np.zeros(N)})
    assert bound.param_names == ("const", "age", "income", "sigma")
    model = jm.MultinomialLogit(n_classes=3, names=frame.columns)
    assert model.param_names[:2] == ("const[y=1]", "const[y=2]")
    assert jm.GLM("gamma", "log", names=["a", "b"]).param_names == ("a", "b", "scale")


def test_pandas_rows_must_be_aligned():
    """X and y as pandas objects are paired by position: a shuffled X with the original y would
    be fitted mismatched, so it is refused (as statsmodels does); equal indexes fit as arrays."""
    frame = pd.DataFrame(X3, columns=["const", "age", "income"])
    y = pd.Series((RNG.uniform(size=N) < 0.5).astype(float))
    aligned = jm.fit(LOGIT, {"X": frame, "y": y})
    plain = jm.fit(LOGIT, {"X": X3, "y": y.to_numpy()})
    np.testing.assert_array_equal(aligned.params["beta"], plain.params["beta"])
    shuffled = frame.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match=r"data\['X'\] and data\['y'\] have different row"):
        jm.fit(LOGIT, {"X": shuffled, "y": y})
    realigned = jm.fit(LOGIT, {"X": shuffled, "y": y.loc[shuffled.index]})
    np.testing.assert_allclose(realigned.params["beta"], plain.params["beta"], rtol=1e-8)


def test_bad_trials_name_the_trials_key():
    """Non-integer or negative trials are reported as data['trials'] with their values (they
    were reported as data['y']); the y messages are unchanged."""
    y01 = (X3[:, 1] > 0).astype(float)
    for model in (LOGIT, jm.GLM("binomial")):
        for first, shown in ((2.5, r"\[2\.5\]"), (-1.0, r"\[-1\.0\]")):
            trials = np.r_[first, np.ones(N - 1)]
            with pytest.raises(ValueError) as err:
                jm.fit(model, {"X": X3, "y": np.r_[0.0, y01[1:]], "trials": trials})
            message = str(err.value)
            assert message.startswith(f"{model.name}: data['trials'] must satisfy non-negative")
            assert "data['y']" not in message
            assert re.search(rf"found 1 value\(s\) outside: {shown} \(first at index 0\)$", message)
    with pytest.raises(ValueError) as err:
        jm.fit(LOGIT, {"X": X3, "y": y01 * 2.0})
    assert str(err.value).startswith("Logit: data['y'] must satisfy y in {0, 1, ..., trials}")
