"""Eager calls validate their inputs and say what is wrong."""

import jax.scipy.stats as jss
import numpy as np
import pytest

import jaxmle as jm

LINEAR = jm.Model(
    lambda p, d: jss.norm.logpdf(d["y"], d["X"] @ p["beta"], p["sigma"]),
    params={"beta": jm.Real(np.zeros(2)), "sigma": jm.Positive(1.0)},
)


def data(n=10):
    rng = np.random.default_rng(0)
    return {"X": rng.normal(size=(n, 2)), "y": rng.normal(size=n)}


def test_mismatched_lengths():
    bad = data()
    bad["y"] = bad["y"][:7]
    with pytest.raises(ValueError, match=r"disagree.*data\['X'\] has 10.*data\['y'\] has 7"):
        jm.fit(LINEAR, bad)


def test_nan_in_data_names_the_leaf_and_index():
    bad = data()
    bad["X"][3, 1] = np.nan
    with pytest.raises(ValueError, match=r"data\['X'\] contains 1 non-finite.*\(3, 1\)"):
        jm.fit(LINEAR, bad)


def test_inf_in_data():
    bad = data()
    bad["y"][0] = np.inf
    with pytest.raises(ValueError, match=r"data\['y'\].*non-finite"):
        jm.fit(LINEAR, bad)


def test_negative_weights():
    w = np.ones(10)
    w[4] = -1.0
    with pytest.raises(ValueError, match="weights must be non-negative.*index 4"):
        jm.fit(LINEAR, data(), weights=w)


def test_weights_of_the_wrong_shape_or_all_zero():
    with pytest.raises(ValueError, match=r"weights must have shape \(10,\)"):
        jm.fit(LINEAR, data(), weights=np.ones(9))
    with pytest.raises(ValueError, match="all zero"):
        jm.fit(LINEAR, data(), weights=np.zeros(10))


def test_bad_init_and_unknown_parameters():
    with pytest.raises(ValueError, match="outside the domain"):
        jm.fit(LINEAR, data(), init={"sigma": -1.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        jm.fit(LINEAR, data(), init={"tau": 1.0})


def test_model_and_spec_errors():
    with pytest.raises(TypeError, match="expected a spec"):
        jm.Model(lambda p, x: x, params={"a": 1.0})
    with pytest.raises(ValueError, match="low < high"):
        jm.Interval(1.0, 0.0)
    with pytest.raises(TypeError, match="solver must be"):
        jm.fit(LINEAR, data(), solver="bfgs")


def test_fit_many_names_the_bad_dataset():
    good = np.random.default_rng(1).normal(size=20)
    bad = good.copy()
    bad[2] = np.nan
    normal = jm.Model(lambda p, x: jss.norm.logpdf(x, p["m"], 1.0), params={"m": jm.Real(0.0)})
    with pytest.raises(ValueError, match="dataset 1: Model: data contains 1 non-finite"):
        jm.fit_many(normal, [good, bad[:15]])
    with pytest.raises(ValueError, match=r"shape \(B, n"):
        jm.fit_many(normal, good)
    # Stacked batches: the values are checked while the chunks compute, the first bad dataset
    # is named with the index inside it, and the error propagates whatever the threads.
    stacked = np.tile(good, (40, 1))
    stacked[23, 5] = np.inf
    for workers in (1, 2):
        with pytest.raises(
            ValueError, match=r"dataset 23: Model: data contains 1 non-finite.*\(5,\)"
        ):
            jm.fit_many(normal, stacked, chunk_size=4, workers=workers)
    weights = np.ones((40, 20))
    weights[31] = 0.0
    with pytest.raises(ValueError, match="dataset 31: Model: weights are all zero"):
        jm.fit_many(normal, np.tile(good, (40, 1)), weights=weights, chunk_size=4)
    with pytest.raises(TypeError, match=r"dataset 0: Model: data\['y'\] has dtype <U"):
        jm.fit_many(normal, {"y": np.array([["a", "b"]] * 3)})


def test_fit_many_checks_values_block_by_block(monkeypatch):
    # Blocks of 3 datasets (160 bytes each): the bad dataset sits in the eighth block, and is
    # named with its index in the whole batch; the datasets before it are not blamed.
    from jaxmle._batch import _inputs

    monkeypatch.setattr(_inputs, "_CHECK_BYTES", 3 * 160)
    normal = jm.Model(lambda p, x: jss.norm.logpdf(x, p["m"], 1.0), params={"m": jm.Real(0.0)})
    stacked = np.tile(np.random.default_rng(2).normal(size=20), (40, 1))
    stacked[22, 7] = np.nan
    with pytest.raises(ValueError, match=r"dataset 22: Model: data contains 1 non-finite.*\(7,\)"):
        jm.fit_many(normal, stacked, chunk_size=4, workers=1)
    stacked[22, 7] = 0.0
    assert bool(np.all(jm.fit_many(normal, stacked, chunk_size=4).converged))


def test_user_validate_hook_runs_on_eager_calls():
    def positive_only(x):
        if np.any(np.asarray(x) <= 0):
            raise ValueError("Exponential: data must be > 0")

    model = jm.Model(
        lambda p, x: jss.expon.logpdf(x, scale=1 / p["rate"]),
        params={"rate": jm.Positive(1.0)},
        validate=positive_only,
    )
    with pytest.raises(ValueError, match="Exponential: data must be > 0"):
        jm.fit(model, np.array([1.0, -2.0]))


def test_cluster_groups_are_checked():
    with pytest.raises(ValueError, match=r"groups must have shape \(10,\)"):
        jm.fit(LINEAR, data(), cov_type="cluster", groups=np.arange(9))
    with pytest.raises(ValueError, match="NaN labels"):
        jm.fit(LINEAR, data(), cov_type="cluster", groups=np.full(10, np.nan))
    with pytest.raises(ValueError, match="cov_type must be one of"):
        jm.fit(LINEAR, data(), cov_type="HC9")


def test_nan_cluster_labels_in_a_stacked_batch_refuse_that_dataset_only():
    stacked = {key: np.stack([value] * 3) for key, value in data(20).items()}
    groups = np.stack([np.arange(20) % 4] * 3).astype(float)
    groups[2, 5] = np.nan
    with pytest.raises(ValueError, match="dataset 2: groups contain NaN labels"):
        jm.fit_many(LINEAR, stacked, cov_type="cluster", groups=groups)
    res = jm.fit_many(LINEAR, stacked, cov_type="cluster", groups=groups, errors="status")
    assert [jm.Status(int(s)) for s in res.status] == [jm.Status.CONVERGED] * 2 + [
        jm.Status.INVALID_DATA
    ]
    assert res.messages[2] == "dataset 2: groups contain NaN labels" and res.messages[0] == ""


def test_a_batch_with_every_dataset_refused_names_the_first_once():
    X, y = np.ones((2, 30, 2)), np.full((2, 30), 2.0)
    for datasets in ({"X": X, "y": y}, [{"X": X[b], "y": y[b]} for b in range(2)]):
        with pytest.raises(ValueError, match="every dataset was refused") as err:
            jm.fit_many(jm.Logit(), datasets, errors="status")
        assert str(err.value).count("dataset 0:") == 1


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_steps": -5}, "max_steps must be a non-negative integer"),
        ({"max_steps": 2.5}, "max_steps must be a non-negative integer"),
        ({"tol": -1.0}, "tol must be a positive finite number"),
        ({"tol": float("nan")}, "tol must be a positive finite number"),
    ],
)
def test_solver_settings_are_checked(options, message):
    """Settings without meaning are refused instead of giving made-up results (max_steps=-5 gave
    MAX_STEPS with unit standard errors, a negative tol STALLED)."""
    for call in (jm.fit, jm.fit_many):
        d = data() if call is jm.fit else [data(), data(12)]
        with pytest.raises(ValueError, match=message):
            call(LINEAR, d, **options)
    with pytest.raises(ValueError, match="ptol must be a non-negative finite number"):
        jm.Newton(ptol=-1.0)


def test_max_steps_zero_returns_the_start_without_made_up_derivatives():
    res = jm.fit(LINEAR, data(), max_steps=0)
    assert jm.Status(int(res.status)) == jm.Status.MAX_STEPS and int(res.n_iter) == 0
    assert np.all(np.isfinite(res.params["beta"]))
    assert np.all(np.isnan(res.se["beta"])) and np.isnan(float(res.loglik))


def test_empty_data_and_misshapen_weights_and_init_raise_under_jit_too():
    """Shape problems raise a clear ValueError at trace time, not JAX's own errors."""
    import jax

    traced = jax.jit(lambda d, w: jm.fit(LINEAR, d, weights=w))
    for weights in (np.ones(9), np.ones((10, 1)), np.asarray(1.0)):
        with pytest.raises(ValueError, match=r"weights must have shape \(10,\)"):
            traced(data(), weights)
    with pytest.raises(ValueError, match="no observations"):
        jax.jit(lambda d: jm.fit(LINEAR, d))(data(0))
    with pytest.raises(ValueError, match="no observations"):
        jm.fit_many(LINEAR, {key: np.stack([v] * 3) for key, v in data(0).items()})
    with pytest.raises(ValueError, match="the batch is empty"):
        jm.fit_many(LINEAR, {"X": np.zeros((0, 5, 2)), "y": np.zeros((0, 5))})
    with pytest.raises(ValueError, match=r"init\['beta'\]: expected shape \(2,\), got \(3,\)"):
        jax.jit(lambda d: jm.fit(LINEAR, d, init={"beta": np.zeros(3)}))(data())
