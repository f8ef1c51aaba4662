"""Retiring converged fits (``fit_many(compact=True)``, the default) changes no result bit.

The reference is the engine without compaction (``compact=False``: every chunk iterates until its
slowest fit is done), whose results are themselves checked against outside references elsewhere.
Small chunks make every batch below go through several rounds of re-packed chunks.
"""

import jax
import numpy as np
import pytest

import jaxmle as jm


def _assert_bit_identical(a, b):
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _both(model, data, **kwargs):
    return (
        jm.fit_many(model, data, compact=True, **kwargs),
        jm.fit_many(model, data, compact=False, **kwargs),
    )


def _student_t_batch(seed=3, batch=300, n=40):
    rng = np.random.default_rng(seed)
    df = rng.choice([1.5, 3.0, 30.0], batch)  # heavy tails and near-normal data: 3 to 40 steps
    return rng.standard_t(df[:, None], (batch, n)) * 2.0 + 1.0


def test_heavy_tailed_iteration_counts_give_identical_bits():
    x = _student_t_batch()
    compact, plain = _both(jm.StudentT(), x, chunk_size=32)
    n_iter = np.asarray(plain.n_iter)
    assert n_iter.max() >= 1.5 * np.median(n_iter)  # slow fits in most chunks: several rounds
    _assert_bit_identical(compact, plain)
    statuses = np.asarray(plain.status)
    assert int(np.sum(statuses == jm.Status.CONVERGED)) > 200
    assert set(statuses.tolist()) <= {int(jm.Status.CONVERGED), int(jm.Status.BOUNDARY)}


def test_every_status_and_option_survives_compaction():
    rng = np.random.default_rng(5)
    X = np.concatenate([np.ones((120, 30, 1)), rng.normal(size=(120, 30, 2))], axis=2)
    y = (rng.random((120, 30)) < 0.5).astype(float)
    y[::9] = (X[::9, :, 1] > 0).astype(float)  # separated: SEPARATION after many steps
    weights = rng.integers(0, 3, (120, 30)).astype(float)
    weights[:, :5] = 1.0
    data = {"X": X, "y": y}
    options = {"weights": weights, "cov_type": "HC1", "init": {"beta": np.zeros((120, 3))}}
    for kwargs in ({}, {"penalty": "firth"}, {"max_steps": 4, **options}):
        compact, plain = _both(jm.Logit(), data, chunk_size=16, **kwargs)
        _assert_bit_identical(compact, plain)
        statuses = set(np.asarray(compact.status).tolist())
        if not kwargs:
            assert {int(jm.Status.CONVERGED), int(jm.Status.SEPARATION)} <= statuses
        elif "max_steps" in kwargs:
            assert int(jm.Status.MAX_STEPS) in statuses


def test_refused_and_ragged_datasets_with_compaction():
    x = list(_student_t_batch(seed=7, batch=50, n=40))
    x[3] = np.array([1.0, np.nan, 2.0])
    x[10] = x[10][:25]
    compact, plain = _both(jm.StudentT(), x, chunk_size=8, errors="status")
    _assert_bit_identical(compact, plain)
    assert int(compact.status[3]) == int(jm.Status.INVALID_DATA)
    assert compact.messages.refused == (3,)
    assert "NaN" in compact.messages[3]


@pytest.mark.parametrize("workers", [1, 2])
def test_compaction_over_one_or_two_threads(workers):
    x = _student_t_batch(seed=11, batch=200)
    compact = jm.fit_many(jm.StudentT(), x, chunk_size=16, workers=workers)
    plain = jm.fit_many(jm.StudentT(), x, chunk_size=16, workers=workers, compact=False)
    _assert_bit_identical(compact, plain)


def _sorted_quantile(x, w, q):
    """The definition by sorting (numpy): midpoint of the first sorted values whose cumulative
    weight reaches and exceeds ``q W``."""
    order = np.argsort(x, kind="stable")
    xs, cw = x[order], np.cumsum(w[order])
    target = q * cw[-1]
    lower = xs[np.argmax(cw >= target)]
    upper = xs[np.argmax(cw > target)] if np.any(cw > target) else lower
    return 0.5 * (lower + upper)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_quantile_by_bisection_equals_sorting_bit_for_bit(dtype):
    # The Student-t, Laplace, Cauchy and logistic starts use it: the same bits as before.
    from jaxmle.distributions._family import weighted_quantile

    rng = np.random.default_rng(0)
    x = rng.standard_t(2.0, (200, 31)).astype(dtype)
    x[:, 3] = x[:, 4]  # ties
    x[:50, :8] = 0.0  # a tie at zero, with its sign
    x[:25, :4] = -0.0
    x[60:70, 5] = np.inf
    x[70:80, 6] = -1e300 if dtype == np.float64 else -1e30
    w = rng.integers(0, 4, (200, 31)).astype(dtype)
    w[100:110] = 1.0
    w[110:115] = 0.0  # no weight at all
    for q in (0.0, 0.25, 0.5, 0.75, 1.0, 0.3):
        got = np.asarray(jax.jit(jax.vmap(lambda a, b, q=q: weighted_quantile(a, b, q)))(x, w))
        want = np.array([_sorted_quantile(a, b, q) for a, b in zip(x, w, strict=True)], dtype)
        np.testing.assert_array_equal(got, want)


def test_the_exact_separation_check_runs_only_for_suspect_fits_and_agrees_with_the_inline_one():
    from jaxmle._batch import _compaction, _programs

    def diagnosis_programs():
        return [key for key in _programs._PROGRAMS if key[0] is _compaction.diagnose_chunk]

    rng = np.random.default_rng(8)
    X = np.concatenate([np.ones((40, 50, 1)), rng.normal(size=(40, 50, 3))], axis=2)
    y = (rng.random((40, 50)) < 0.5).astype(float)
    model = jm.Logit(n_features=4)
    before = len(diagnosis_programs())
    jm.fit_many(model, {"X": X, "y": y}, chunk_size=16)
    assert len(diagnosis_programs()) == before  # nothing suspect: never compiled
    y[[3, 17, 30]] = (X[[3, 17, 30], :, 2] > 0).astype(float)  # separated
    compact, plain = _both(model, {"X": X, "y": y}, chunk_size=16)
    _assert_bit_identical(compact, plain)
    assert len(diagnosis_programs()) == before + 1
    separated = np.flatnonzero(np.asarray(compact.status) == jm.Status.SEPARATION)
    assert separated.tolist() == [3, 17, 30]
