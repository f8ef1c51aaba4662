"""Starting values: multiple starts per fit, one start per dataset in a batch."""

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import optax
import pytest
from scipy import optimize, stats

import jaxmle as jm


def _mixture_logpdf(p, x):
    first = jnp.log(p["w"]) + jss.norm.logpdf(x, p["mu1"], p["s1"])
    second = jnp.log1p(-p["w"]) + jss.norm.logpdf(x, p["mu2"], p["s2"])
    return jnp.logaddexp(first, second)


MIXTURE = jm.Model(
    _mixture_logpdf,
    {
        "w": jm.UnitInterval(0.5),
        "mu1": jm.Real(0.0),
        "mu2": jm.Real(0.5),
        "s1": jm.Positive(1.0),
        "s2": jm.Positive(1.0),
    },
    name="NormalMixture",
)
# From this start a single fit converges to a local maximum (the two right clusters merged).
LOCAL_START = {"mu1": 0.0, "mu2": 4.0, "w": 0.7}


def _three_clusters(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.normal(-4, 0.7, 50), rng.normal(0.5, 0.7, 80), rng.normal(4, 0.7, 70)]
    )


def _scipy_multistart(x, n_starts=50):
    """Best of ``n_starts`` BFGS searches (scipy) from random unconstrained starts."""

    def nll(v):
        w = 1.0 / (1.0 + np.exp(-v[0]))
        dens = w * stats.norm.pdf(x, v[1], np.exp(v[3])) + (1 - w) * stats.norm.pdf(
            x, v[2], np.exp(v[4])
        )
        return -np.sum(np.log(np.maximum(dens, 1e-300)))

    rng = np.random.default_rng(123)
    best = np.inf
    for _ in range(n_starts):
        v0 = np.concatenate([[rng.normal()], rng.uniform(x.min(), x.max(), 2), rng.normal(0, 1, 2)])
        best = min(best, optimize.minimize(nll, v0, method="BFGS").fun)
    return -best


def test_multistart_finds_the_global_maximum_a_single_start_misses():
    x = _three_clusters()
    single = jm.fit(MIXTURE, x, init=LOCAL_START)
    multi = jm.fit(MIXTURE, x, init=LOCAL_START, n_starts=16, key=jax.random.key(0))
    reference = _scipy_multistart(x)
    assert bool(single.converged) and bool(multi.converged)
    assert float(single.loglik) < reference - 5.0  # a genuine local maximum
    np.testing.assert_allclose(float(multi.loglik), reference, atol=1e-6)
    assert 1 <= int(multi.n_best) < 16
    # The reported fit is a complete fit at that optimum: its SEs are the single fit's from there.
    polished = jm.fit(MIXTURE, x, init=multi.params)
    np.testing.assert_allclose(MIXTURE.flatten(multi.se), MIXTURE.flatten(polished.se), rtol=1e-6)


def test_multistart_in_fit_many_does_not_depend_on_chunking():
    xs = np.stack([_three_clusters(seed) for seed in range(5)])
    key = jax.random.key(3)
    init = {k: jnp.asarray(v) for k, v in LOCAL_START.items()}
    whole = jm.fit_many(MIXTURE, xs, init=init, n_starts=16, key=key, chunk_size=4, workers=2)
    # Dataset i draws with fold_in(key, i), whatever chunk it lands in: its fit equals a single
    # multi-start fit with that key (the program the other test compiles).
    one = jm.fit(MIXTURE, xs[3], init=LOCAL_START, n_starts=16, key=jax.random.fold_in(key, 3))
    np.testing.assert_allclose(whole.loglik[3], one.loglik, rtol=1e-12)


def test_init_sampler_draws_the_extra_starts():
    x = _three_clusters()

    def sampler(key, data):
        mu = jax.random.uniform(key, (2,), minval=jnp.min(data), maxval=jnp.max(data))
        return {"mu1": jnp.min(mu), "mu2": jnp.max(mu)}

    res = jm.fit(
        MIXTURE, x, init=LOCAL_START, n_starts=12, key=jax.random.key(1), init_sampler=sampler
    )
    np.testing.assert_allclose(float(res.loglik), _scipy_multistart(x, 10), atol=1e-6)


def test_single_start_reports_n_best():
    x = jnp.asarray(np.random.default_rng(0).normal(size=30))
    assert int(jm.fit(jm.Normal(), x).n_best) == 1
    assert int(jm.fit(jm.StudentT(), x, max_steps=1).n_best) == 0


def test_start_arguments_are_checked():
    x = jnp.asarray(np.random.default_rng(0).normal(size=30))
    with pytest.raises(ValueError, match="n_starts=4 needs key="):
        jm.fit(jm.Normal(), x, n_starts=4)
    with pytest.raises(ValueError, match="n_starts must be a positive integer"):
        jm.fit(jm.Normal(), x, n_starts=0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="init_sampler must be callable"):
        jm.fit(jm.Normal(), x, n_starts=2, key=jax.random.key(0), init_sampler=3)


def test_one_start_per_dataset_in_fit_many():
    rng = np.random.default_rng(4)
    xs = rng.standard_t(3.0, size=(7, 40)) + np.arange(7)[:, None]
    starts = {"loc": np.arange(7.0) + 0.1}  # one start per dataset, mixed with a shared one
    many = jm.fit_many(jm.StudentT(), xs, init={**starts, "df": 5.0}, max_steps=3)
    for i in range(7):
        one = jm.fit(jm.StudentT(), xs[i], init={"loc": starts["loc"][i], "df": 5.0}, max_steps=3)
        np.testing.assert_allclose(many.params["loc"][i], one.params["loc"], rtol=1e-12)


def test_per_dataset_starts_are_checked():
    xs = np.random.default_rng(5).normal(size=(4, 20))
    with pytest.raises(ValueError, match=r"init\['scale'\]: expected shape \(\) .* or \(4,\)"):
        jm.fit_many(jm.Normal(), xs, init={"scale": np.ones(3)})
    with pytest.raises(ValueError, match=r"init\['scale'\].*dataset 2"):
        jm.fit_many(jm.Normal(), xs, init={"scale": np.array([1.0, 2.0, -1.0, 1.0])})
    with pytest.raises(ValueError, match="unknown parameter"):
        jm.fit_many(jm.Normal(), xs, init={"sd": np.ones(4)})


def test_equal_solvers_share_the_compiled_fit_and_tol_has_one_owner():
    from jaxmle._fit import _fit_compiled

    x = jnp.asarray(np.random.default_rng(6).normal(size=30))
    jm.fit(jm.Normal(), x, solver=optax.lbfgs())
    before = _fit_compiled._cache_size()
    jm.fit(jm.Normal(), x, solver=optax.lbfgs())  # a fresh but equal transformation
    jm.fit(jm.Normal(), x, solver=jm.Newton(tol=1e-9))
    jm.fit(jm.Normal(), x, solver=jm.Newton(tol=1e-9))
    assert _fit_compiled._cache_size() == before + 1
    assert jm.OptaxSolver(optax.adam(1e-2)) != jm.OptaxSolver(optax.adam(1e-3))
    with pytest.raises(ValueError, match="has its own tolerance"):
        jm.fit(jm.Normal(), x, solver=jm.Newton(), tol=1e-8)
