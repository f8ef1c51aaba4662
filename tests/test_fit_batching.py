"""jit/vmap composability, fit_many (stacked and ragged) and per-fit status codes."""

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest

import jaxmle as jm

NORMAL = jm.Model(
    lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
    params={"loc": jm.Real(0.0), "scale": jm.Positive(1.0)},
)
GAMMA = jm.Model(
    lambda p, x: jss.gamma.logpdf(x, p["shape"], scale=1.0 / p["rate"]),
    params={"shape": jm.Positive(1.0), "rate": jm.Positive(1.0)},
    name="Gamma",
)


def gamma_batch(batch=40, n=150, seed=0):
    rng = np.random.default_rng(seed)
    shapes = rng.uniform(0.5, 5.0, size=(batch, 1))
    return rng.gamma(shapes, 1.0 / 2.0, size=(batch, n))


def assert_results_equal(a, b, rtol=1e-9):
    for key in a.params:
        np.testing.assert_allclose(a.params[key], b.params[key], rtol=rtol)
        np.testing.assert_allclose(a.se[key], b.se[key], rtol=1e-7)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-11)
    np.testing.assert_array_equal(a.status, b.status)


def test_jit_vmap_fit_and_fit_many_agree_with_a_loop_of_fits():
    xs = gamma_batch()
    vmapped = jax.jit(jax.vmap(lambda x: jm.fit(GAMMA, x)))(xs)
    many = jm.fit_many(GAMMA, xs)
    assert vmapped.batch_shape == many.batch_shape == (len(xs),)
    assert bool(jnp.all(many.converged))
    assert_results_equal(vmapped, many)
    for i in (0, len(xs) - 1):
        single = jm.fit(GAMMA, xs[i])
        assert_results_equal(many[i], single)
        assert single.batch_shape == ()


def test_ragged_datasets_match_fitting_each_alone():
    rng = np.random.default_rng(1)
    sizes = [5, 17, 87, 300]
    datasets = [rng.normal(rng.uniform(-3, 3), rng.uniform(0.1, 4), size=n) for n in sizes]
    many = jm.fit_many(NORMAL, datasets)
    np.testing.assert_array_equal(many.nobs, sizes)
    for i, x in enumerate(datasets):
        alone = jm.fit(NORMAL, x)
        assert_results_equal(many[i], alone)
        np.testing.assert_allclose(many.params["scale"][i], x.std(), rtol=1e-9)


def test_chunking_gives_the_same_results():
    xs = gamma_batch(batch=25)
    whole = jm.fit_many(GAMMA, xs)
    chunked = jm.fit_many(GAMMA, xs, chunk_size=10)
    assert_results_equal(whole, chunked)


def test_batched_result_indexing_and_dataframe():
    many = jm.fit_many(GAMMA, gamma_batch(batch=6))
    assert len(many) == 6
    assert many.params["shape"].shape == (6,)
    assert many.cov.shape == (6, 2, 2)
    assert [r.batch_shape for r in many] == [()] * 6
    frame = many.to_dataframe()
    assert list(frame.columns[:4]) == ["shape", "se(shape)", "rate", "se(rate)"]
    assert len(frame) == 6 and frame["converged"].all()
    with pytest.raises(TypeError, match="single fit"):
        many.summary()
    assert "shape" in many[2].summary()


def test_one_bad_dataset_does_not_spoil_the_batch():
    xs = gamma_batch(batch=8)
    xs[3, 10] = np.nan
    res = jax.jit(jax.vmap(lambda x: jm.fit(GAMMA, x)))(xs)
    assert int(res.status[3]) == jm.Status.INVALID_DATA  # NaN data, seen inside jit
    assert np.isnan(res.params["shape"][3])
    assert not bool(res.converged[3])
    others = np.delete(np.arange(8), 3)
    assert bool(jnp.all(res.converged[others]))
    assert_results_equal(res[5], jm.fit(GAMMA, xs[5]))


def test_max_steps_reports_status_instead_of_pretending():
    res = jm.fit(GAMMA, gamma_batch(batch=1)[0], max_steps=1)
    assert int(res.status) == jm.Status.MAX_STEPS
    assert not bool(res.converged)
    assert res.status_name == "max steps"
    assert int(res.n_iter) == 1


def test_singular_hessian_gives_nan_standard_errors_and_status():
    # a and b enter only through a + b: not identified.
    model = jm.Model(
        lambda p, x: jss.norm.logpdf(x, p["a"] + p["b"], 1.0),
        params={"a": jm.Real(0.0), "b": jm.Real(0.0)},
    )
    res = jm.fit(model, np.array([0.5, 1.0, 2.0]))
    assert int(res.status) == jm.Status.SINGULAR_HESSIAN
    assert np.isnan(res.se["a"]) and np.isnan(res.se["b"])
    np.testing.assert_allclose(res.params["a"] + res.params["b"], 7.0 / 6.0, rtol=1e-8)


def test_fit_does_not_retrace_for_new_data_of_the_same_shape():
    traces = []

    def logpdf(p, x):
        traces.append(1)
        return jss.norm.logpdf(x, p["loc"], p["scale"])

    model = jm.Model(logpdf, params={"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
    jm.fit(model, np.arange(10.0))
    first = len(traces)
    jm.fit(model, np.arange(10.0) * 2)
    assert len(traces) == first
