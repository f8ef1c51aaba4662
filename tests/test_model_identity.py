"""Models built alike compare equal, so a fresh ``jm.Logit()`` per call reuses compiled fits.

JAX caches a compiled program per value of its static arguments (the model among them); a model
that compared by identity would be recompiled, several seconds each time, on every call of
``jm.fit_many(jm.Logit(), data)``.
"""

import pickle

import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest

import jaxmle as jm
from jaxmle._batch import _programs
from jaxmle._fit import _fit_compiled


def _normal_logpdf(p, x):
    return jss.norm.logpdf(x, p["loc"], p["scale"])


def _normal_model(init=0.0):
    return jm.Model(_normal_logpdf, {"loc": jm.Real(init), "scale": jm.Positive(1.0)})


@pytest.mark.parametrize(
    "make",
    [
        jm.Logit,
        lambda: jm.GLM("gamma", "log"),
        lambda: jm.Logit(names=["a", "b"]),
        jm.Gamma,
        lambda: jm.Categorical(3),
        lambda: jm.Censored(jm.Weibull()),
        lambda: jm.Truncated(jm.Normal(), low=0.0),
        lambda: jm.MultinomialLogit(n_classes=3),
        _normal_model,
    ],
)
def test_models_built_alike_are_equal(make):
    a, b = make(), make()
    assert a == b and hash(a) == hash(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (jm.Logit(), jm.Probit()),
        (jm.GLM("poisson"), jm.GLM("binomial")),
        (jm.Logit(names=["a", "b"]), jm.Logit(names=["a", "c"])),
        (jm.Logit(n_features=2), jm.Logit(n_features=3)),
        (jm.Categorical(3), jm.Categorical(4)),
        (jm.Truncated(jm.Normal(), low=0.0), jm.Truncated(jm.Normal(), low=1.0)),
        (jm.Censored(jm.Weibull()), jm.Censored(jm.Gamma())),
        (_normal_model(0.0), _normal_model(1.0)),
        (_normal_model(), jm.Model(lambda p, x: _normal_logpdf(p, x), _normal_model().specs)),
    ],
)
def test_models_that_differ_are_unequal(a, b):
    assert a != b


def test_sizing_is_part_of_the_identity():
    X3, X2 = np.ones((4, 3)), np.ones((4, 2))
    a, b = jm.Logit(), jm.Logit()
    assert a == b  # both unsized (and their identities now cached)
    a.bind({"X": X3, "y": np.zeros(4)})
    assert a != b  # sized vs not yet sized
    b.bind({"X": X2, "y": np.zeros(4)})
    assert a != b
    assert a == jm.Logit().bind({"X": X3, "y": np.zeros(4)})


def test_pickled_models_stay_equal_and_rehash():
    model = jm.Logit(names=["a", "b"])
    hash(model)  # caches the identity
    copy = pickle.loads(pickle.dumps(model))
    assert "_frozen_identity" not in vars(copy)
    assert copy == model and hash(copy) == hash(model)


def test_user_subclasses_keep_identity_semantics():
    # A subclass may hold state its constructor does not show; only jaxmle's own classes, whose
    # state is their constructor arguments, compare by value.
    class Scaled(jm.Model):
        def __init__(self):
            super().__init__(_normal_logpdf, {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})

    a, b = Scaled(), Scaled()
    assert a == a and a != b and hash(a) == hash(a)


def test_param_specs_compare_by_value():
    assert jm.Positive(2.0) == jm.Positive(2.0)
    assert jm.Positive(2.0) != jm.Positive(3.0)
    assert jm.Real(np.zeros(2)) != jm.Real(np.zeros(3))
    assert jm.Interval(0.0, 1.0) != jm.Interval(0.0, 2.0)
    assert len({jm.Simplex(np.full(3, 1 / 3)), jm.Simplex(np.full(3, 1 / 3))}) == 1


def test_fresh_model_per_call_does_not_recompile():
    rng = np.random.default_rng(0)
    X = np.concatenate([np.ones((6, 37, 1)), rng.normal(size=(6, 37, 1))], axis=2)
    y = (rng.random((6, 37)) < 0.5).astype(float)

    def programs():  # jit's cache, and fit_many's ahead-of-time programs (CPU; a bounded cache)
        return _programs.fit_chunk._cache_size(), set(_programs._PROGRAMS)

    jitted, before = programs()
    first = jm.fit_many(jm.Logit(), {"X": X, "y": y}, workers=1)
    jitted_after, compiled = programs()
    assert (jitted_after - jitted) + len(compiled - before) == 1
    again = jm.fit_many(jm.Logit(), {"X": X, "y": y}, workers=1)
    assert programs() == (jitted_after, compiled)
    np.testing.assert_array_equal(first.params["beta"], again.params["beta"])

    x = jnp.asarray(rng.normal(size=30))
    jm.fit(jm.Normal(), x)
    programs = _fit_compiled._cache_size()
    jm.fit(jm.Normal(), x)
    assert _fit_compiled._cache_size() == programs


def test_results_carry_the_callers_column_names():
    # Equal models share programs; models whose names differ must not share results' labels.
    rng = np.random.default_rng(1)
    X = np.concatenate([np.ones((30, 1)), rng.normal(size=(30, 1))], axis=1)
    y = (rng.random(30) < 0.5).astype(float)
    first = jm.fit(jm.Logit(names=["const", "x"]), {"X": X, "y": y})
    second = jm.fit(jm.Logit(names=["const", "dose"]), {"X": X, "y": y})
    assert first.param_names == ("const", "x")
    assert second.param_names == ("const", "dose")
