"""Trust every fit: malformed inputs raise clear errors eagerly and give a status under jit; a
status does not depend on the batch; one bad dataset never spoils the others."""

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import jax.scipy.stats as jss
import numpy as np
import pytest
from scipy import optimize, stats

import jaxmle as jm

N = 24
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    """A model, a clean dataset, and where its values live (for corrupting them)."""

    model: object
    data: object
    key: str | None  # the value leaf of dict data (None: the data is the array itself)
    outside: float  # a value outside the support
    bad_init: dict  # a starting value outside the parameter's domain (or of the wrong shape)


def _cases():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(N), rng.normal(size=N)])
    custom = jm.Model(
        lambda p, x: jss.norm.logpdf(x, p["m"], p["s"]),
        {"m": jm.Real(0.0), "s": jm.Positive(1.0)},
        name="MyNormal",
    )
    return {
        "Normal": Case(jm.Normal(), rng.normal(size=N), None, np.nan, {"scale": -1.0}),
        "Gamma": Case(jm.Gamma(), rng.gamma(2.0, size=N), None, -1.0, {"shape": 0.0}),
        "Poisson": Case(jm.Poisson(), rng.poisson(3.0, N).astype(float), None, 1.5, {"rate": -2}),
        "Binomial": Case(
            jm.Binomial(),
            {"y": rng.binomial(5, 0.4, N).astype(float), "trials": np.full(N, 5.0)},
            "y",
            6.0,
            {"p": 1.5},
        ),
        "CensoredWeibull": Case(
            jm.Censored(jm.Weibull()),
            {"x": rng.weibull(1.5, N), "event": (rng.random(N) < 0.7).astype(float)},
            "event",
            3.0,
            {"shape": -1.0},
        ),
        "Logit": Case(
            jm.Logit(),
            {"X": X, "y": (rng.random(N) < 0.5).astype(float)},
            "y",
            2.0,
            {"beta": np.zeros(3)},
        ),
        "PoissonRegression": Case(
            jm.PoissonRegression(),
            {"X": X, "y": rng.poisson(2.0, N).astype(float)},
            "y",
            1.5,
            {"beta": np.zeros(1)},
        ),
        "Custom": Case(custom, rng.normal(size=N), None, np.inf, {"s": 0.0}),
    }


CASES = _cases()


def _with_values(case, values):
    if case.key is None:
        return values
    return {**case.data, case.key: values}


def _values(case):
    return np.asarray(case.data if case.key is None else case.data[case.key], dtype=float)


def _corrupt(case, index, value):
    values = _values(case).copy()
    values[index] = value
    return _with_values(case, values)


# Each malformed input: (name, how to build the call's kwargs from a case, expected error).
def _kwargs(case, **extra):
    return {"data": case.data, **extra}


MALFORMED = {
    "trailing axis": lambda c: _kwargs(c, data=_with_values(c, _values(c)[:, None])),
    "NaN": lambda c: _kwargs(c, data=_corrupt(c, 3, np.nan)),
    "infinity": lambda c: _kwargs(c, data=_corrupt(c, 3, np.inf)),
    "outside the support": lambda c: _kwargs(c, data=_corrupt(c, 3, c.outside)),
    "text": lambda c: _kwargs(c, data=_with_values(c, _values(c).astype(str))),
    "complex": lambda c: _kwargs(c, data=_with_values(c, _values(c) + 1j)),
    "empty": lambda c: _kwargs(c, data=jax.tree_util.tree_map(lambda a: a[:0], c.data)),
    "scalar": lambda c: _kwargs(c, data=_with_values(c, _values(c)[0])),
    "wrong container": lambda c: _kwargs(
        c, data={"values": _values(c)} if c.key is None else {"x_": _values(c)}
    ),
    "rows disagree": lambda c: _kwargs(
        c, data=_with_values(c, _values(c)[:-1]) if c.key is not None else [[1.0, 2.0], [3.0]]
    ),
    "weights shape": lambda c: _kwargs(c, weights=np.ones(N - 1)),
    "negative weight": lambda c: _kwargs(c, weights=np.r_[-1.0, np.ones(N - 1)]),
    "NaN weight": lambda c: _kwargs(c, weights=np.r_[np.nan, np.ones(N - 1)]),
    "zero weights": lambda c: _kwargs(c, weights=np.zeros(N)),
    "unknown init": lambda c: _kwargs(c, init={"nope": 1.0}),
    "init outside its domain": lambda c: _kwargs(c, init=c.bad_init),
    "cluster groups": lambda c: _kwargs(c, cov_type="cluster", groups=np.arange(N - 2)),
}


@pytest.mark.parametrize("malformed", sorted(MALFORMED))
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_malformed_input_raises_a_clear_error(name, malformed):
    case = CASES[name]
    kwargs = MALFORMED[malformed](case)
    data = kwargs.pop("data")
    with pytest.raises((ValueError, TypeError)) as raised:
        jm.fit(case.model, data, **kwargs)
    message = str(raised.value)
    # The message names the model, or the argument at fault; never a bare JAX internal error.
    named = case.model.name in message or any(
        word in message for word in ("weights", "init", "groups", "data")
    )
    assert named, f"{name} / {malformed}: unhelpful message {message!r}"
    assert "jax" not in type(raised.value).__module__


def test_a_scalar_or_short_logpdf_raises_even_under_jit():
    x = np.random.default_rng(1).normal(size=10)
    total = jm.Model(lambda p, x: jnp.sum(jss.norm.logpdf(x, p["m"])), {"m": jm.Real(0.0)})
    short = jm.Model(lambda p, x: jss.norm.logpdf(x[1:], p["m"]), {"m": jm.Real(0.0)})
    for model, hint in ((total, "returned shape \\(\\)"), (short, "returned shape \\(9,\\)")):
        with pytest.raises(ValueError, match=hint):
            jm.fit(model, x)
        with pytest.raises(ValueError, match=hint):
            jax.jit(lambda x, model=model: jm.fit(model, x))(x)
    with pytest.raises(ValueError, match=r"must have shape \(n,\).*\(10, 1\)"):
        jax.jit(lambda x: jm.fit(jm.Gamma(), x))(np.abs(x)[:, None])


def _poisoned(case):
    """Nine copies of the dataset and their weights, six of them poisoned by value."""
    clean = _values(case)
    rows, weights = [], []
    for value, weight in (
        (None, None),
        (np.nan, None),
        (np.inf, None),
        (case.outside, None),
        (None, -1.0),
        (None, np.nan),
        (None, 0.0),  # every weight zero
        (None, None),
        (None, None),
    ):
        v = clean.copy()
        w = np.ones(N)
        if value is not None:
            v[5] = value
        if weight is not None:
            w[:] = 0.0 if weight == 0.0 else 1.0
            w[2] = weight
        rows.append(_with_values(case, v))
        weights.append(w)
    data = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *rows)
    return data, np.stack(weights)


@pytest.mark.parametrize("name", sorted(CASES))
def test_under_jit_invalid_datasets_get_their_own_status(name):
    case = CASES[name]
    data, weights = _poisoned(case)
    batched = jax.jit(jax.vmap(lambda d, w: jm.fit(case.model, d, weights=w)))
    res = batched(data, weights)
    status = np.asarray(res.status)
    poisoned = [1, 2, 3, 4, 5, 6]
    assert np.all(status[poisoned] == jm.Status.INVALID_DATA), status
    first = np.asarray(jax.tree_util.tree_leaves(res.params)[0]).reshape(9, -1)[:, 0]
    assert np.all(np.isnan(first[poisoned]))
    # The clean members are converged and equal to a clean batch bit for bit.
    clean = [0, 7, 8]
    assert np.all(status[clean] == jm.Status.CONVERGED), status
    tidy = jax.tree_util.tree_map(lambda a: np.repeat(a[:1], 9, axis=0), data)
    reference = batched(tidy, np.ones((9, N)))
    for key in res.params:
        np.testing.assert_array_equal(
            np.asarray(res.params[key])[clean], np.asarray(reference.params[key])[clean]
        )
    # Nothing converged carries a NaN.
    converged = status == jm.Status.CONVERGED
    assert np.all(np.isfinite(np.asarray(res.loglik)[converged]))


def _separated_logit(rng, n=20):
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return {"X": X, "y": (X[:, 1] > 0).astype(float)}


def test_separation_status_does_not_depend_on_the_batch():
    rng = np.random.default_rng(2)
    separated = _separated_logit(rng)
    codes = set()
    for size in (1, 30, 10_000):  # fit_many at 1 and 10,000; jit(vmap(fit)) at 30
        X = np.concatenate([np.ones((size, 20, 1)), rng.normal(size=(size, 20, 1))], axis=2)
        y = (rng.random((size, 20)) < 0.5).astype(float)
        where = rng.integers(size)
        X[where], y[where] = separated["X"], separated["y"]
        for kwargs in ({}, {"chunk_size": 7, "workers": 2}) if size != 30 else ():
            res = jm.fit_many(jm.Logit(), {"X": X, "y": y}, **kwargs)
            codes.add(int(res.status[where]))
        if size == 30:
            res = jax.jit(jax.vmap(lambda X, y: jm.fit(jm.Logit(), {"X": X, "y": y})))(X, y)
            codes.add(int(res.status[where]))
    codes.add(int(jm.fit(jm.Logit(), separated).status))
    assert codes == {jm.Status.SEPARATION}


def test_boundary_optima_give_one_status_on_every_path():
    rng = np.random.default_rng(3)
    pinned = jm.Model(
        lambda p, x: jss.norm.logpdf(x, p["m"], 1.0), {"m": jm.Interval(0.0, 1.0, 0.5)}
    )
    cases = [
        # every observation right-censored: the Weibull scale runs off to infinity
        (jm.Censored(jm.Weibull()), {"x": rng.weibull(1.5, 30), "event": np.zeros(30)}),
        # constant data: the Gamma shape runs off to infinity
        (jm.Gamma(), np.full(30, 2.0)),
        # the MLE of an Interval parameter sits on its upper end
        (pinned, rng.normal(2.0, 1.0, 30)),
    ]
    for number, (model, data) in enumerate(cases):
        single = int(jm.fit(model, data).status)
        stacked = jax.tree_util.tree_map(lambda a: np.stack([a, a, a]), data)
        many = set(np.asarray(jm.fit_many(model, stacked).status))
        assert single == jm.Status.BOUNDARY, model.name
        assert many == {jm.Status.BOUNDARY}, model.name
        if number == 0:  # fit_many is jit(vmap(fit)) in chunks; once spelled out
            traced = jax.jit(jax.vmap(lambda d, model=model: jm.fit(model, d)))(stacked)
            assert set(np.asarray(traced.status)) == {jm.Status.BOUNDARY}


def test_errors_status_fits_the_good_datasets_and_says_why_the_others_were_refused():
    rng = np.random.default_rng(4)
    xs = rng.gamma(2.0, size=(6, 20))
    xs[2, 3], xs[4, 0] = -1.0, np.nan
    res = jm.fit_many(jm.Gamma(), xs, errors="status")
    np.testing.assert_array_equal(res.status, [0, 0, 7, 0, 7, 0])
    assert res.messages[2].startswith("dataset 2: Gamma: data must satisfy x > 0")
    assert "non-finite" in res.messages[4] and res.messages[0] == ""
    assert np.isnan(res.params["shape"][2]) and res.messages.refused == (2, 4)
    good = jm.fit_many(jm.Gamma(), xs[[0, 1, 3, 5]])
    fitted = np.asarray(res.params["shape"])[[0, 1, 3, 5]]
    np.testing.assert_allclose(fitted, good.params["shape"], rtol=1e-12)
    ragged = jm.fit_many(jm.Gamma(), [xs[0], xs[2][:10], xs[3]], errors="status")
    np.testing.assert_array_equal(ragged.status, [0, 7, 0])
    with pytest.raises(ValueError, match="dataset 2: Gamma"):
        jm.fit_many(jm.Gamma(), xs)
    with pytest.raises(ValueError, match="errors must be"):
        jm.fit_many(jm.Gamma(), xs, errors="ignore")


def test_fit_many_checks_cluster_labels_and_takes_integer_or_float_starts():
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(4, 12))
    groups = np.tile(np.repeat(np.arange(4.0), 3), (4, 1))
    groups[1, 4] = np.nan
    with pytest.raises(ValueError, match="dataset 1: groups contain NaN"):
        jm.fit_many(jm.Normal(), xs, cov_type="cluster", groups=groups)
    first = jm.fit_many(jm.Normal(), xs, init={"loc": 0.0})
    second = jm.fit_many(jm.Normal(), xs, init={"loc": 0})
    np.testing.assert_array_equal(first.params["loc"], second.params["loc"])


def test_inputs_a_user_would_pass_work():
    x = [1.0, 2.5, 4.0, 3.0]
    np.testing.assert_allclose(jm.fit(jm.Normal(), x).params["loc"], np.mean(x))
    rng = np.random.default_rng(6)
    X = np.column_stack([np.ones(40), rng.normal(size=40)])
    y = rng.random(40) < 0.5  # booleans
    res = jm.fit(jm.Logit(), {"X": X, "y": y})
    ref = jm.fit(jm.Logit(), {"X": X, "y": y.astype(float)})
    np.testing.assert_array_equal(res.params["beta"], ref.params["beta"])
    with pytest.raises(ValueError, match="Logit: data must be a dict with 'X'"):
        jm.fit(jm.Logit(), {"x": X, "y": y})
    with pytest.raises(ValueError, match="datasets is an empty list"):
        jm.fit_many(jm.Normal(), [])


def test_parametric_bootstrap_of_binomial_and_censored_models():
    data = {"y": np.array([1.0, 2, 3, 0, 5, 2]), "trials": np.array([5.0, 5, 6, 4, 8, 6])}
    boot = jm.bootstrap(jm.Binomial(), data, 200, jax.random.key(0), kind="parametric")
    assert bool(np.all(boot.converged))
    p = 13 / 34
    np.testing.assert_allclose(np.std(boot.params["p"]), np.sqrt(p * (1 - p) / 34), rtol=0.2)
    # Censored rows are simulated as censored at their own points (type I censoring).
    censored = {"x": np.array([1.0, 2, 3, 4]), "event": np.array([1.0, 0, 1, 1])}
    boot = jm.bootstrap(
        jm.Censored(jm.Exponential()), censored, 20, jax.random.key(0), "parametric"
    )
    assert boot.params["rate"].shape == (20,) and bool(np.all(boot.converged))


def test_negative_binomial_tails_and_zero_truncated_fit_match_scipy():
    nb = jm.NegativeBinomial()
    params = {"mean": jnp.asarray(3.0), "alpha": jnp.asarray(0.5)}
    x = np.array([0.0, 2.0, 2.5, 10.0, 40.0])
    r, p = 2.0, 1.0 / 2.5
    np.testing.assert_allclose(nb.logcdf(params, x), stats.nbinom.logcdf(x, r, p), rtol=1e-10)
    np.testing.assert_allclose(nb.logsf(params, x), stats.nbinom.logsf(x, r, p), rtol=1e-10)

    y = np.random.default_rng(7).negative_binomial(2.0, 0.4, 400).astype(float)
    y = y[y > 0]
    res = jm.fit(jm.Truncated(jm.NegativeBinomial(), low=0), y)

    def nll(v):
        mean, alpha = np.exp(v)
        rr, pp = 1 / alpha, 1 / (1 + alpha * mean)
        return -np.sum(stats.nbinom.logpmf(y, rr, pp) - stats.nbinom.logsf(0, rr, pp))

    best = optimize.minimize(
        nll, np.log([3.0, 0.5]), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    assert bool(res.converged)
    np.testing.assert_allclose(float(res.loglik), -best.fun, rtol=1e-9)


def test_float64_data_without_x64_warns_once():
    script = textwrap.dedent(
        """
        import warnings, numpy as np
        import jaxmle as jm
        x = np.random.default_rng(0).normal(size=20)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            jm.fit(jm.Normal(), x)
            jm.fit(jm.Normal(), x)
        print(sum("jax_enable_x64 is off" in str(w.message) for w in caught))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "1"


def test_sigint_stops_a_threaded_fit_many_within_a_second():
    script = textwrap.dedent(
        """
        import os, signal, threading, time
        # Python's own Ctrl-C handler, unblocked, whatever the test process set: an ignored or
        # blocked SIGINT is inherited by a child process (seen in the full suite only).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        import jax
        jax.config.update("jax_enable_x64", True)
        import numpy as np, jaxmle as jm
        xs = np.random.default_rng(0).standard_t(4.0, size=(1_000_000, 20))
        jm.fit_many(jm.StudentT(), xs[:20_000], workers=2)  # compiles the chunk program
        sent = []
        def interrupt():
            time.sleep(0.5)  # the batch takes several seconds
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt, daemon=True).start()
        try:
            jm.fit_many(jm.StudentT(), xs, workers=2)
            print("finished")
        except KeyboardInterrupt as err:
            returned = time.perf_counter() - sent[0]
            partial = err.partial  # the chunks finished before the interrupt, in order
            first = 0 if partial is None else min(len(partial), 16_384)
            same = jm.fit_many(jm.StudentT(), xs[:16_384], workers=1)  # same chunk program
            equal = partial is None or (
                np.array_equal(partial.params["df"][:first], same.params["df"][:first])
                and set(np.asarray(partial.status).tolist()) <= {0, 5}  # finished fits only
            )
            print(returned, 0 if partial is None else len(partial), equal)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    words = out.stdout.split()
    assert words[0] != "finished", "the batch finished before the interrupt; make it longer"
    assert float(words[0]) < 1.0
    assert words[2] == "True"  # the leading finished fits (whole chunks, then a cut one)


def test_cli_names_the_group_label_and_the_file_line(tmp_path, capsys):
    from jaxmle.cli import main

    path = tmp_path / "bad.csv"
    path.write_text("site,x\n1,1.5\n1,2.0\n2,3.0\n2,-1.0\n2,2.5\n3,1.0\n")
    assert main(["fit", str(path), "--model", "Gamma", "--column", "x", "--by", "site"]) == 2
    err = capsys.readouterr().err
    assert "group site=2, line 5: Gamma: data must satisfy x > 0" in err  # label type kept
    assert main(["fit", str(path), "--model", "Gamm", "--column", "x"]) == 2
    assert "unknown model 'Gamm'; choose one of" in capsys.readouterr().err


def test_cloglog_expected_information_stays_finite_with_a_row_of_all_events():
    # Grouped dose-response data whose last rows are all events (as in MASS's menarche data):
    # the expected weight (d mu / d eta)^2 / (mu (1 - mu)) is 0/0 once mu rounds to 1 there.
    # Reference: statsmodels' GLM, whose IRLS standard errors are the expected-information ones.
    import statsmodels.api as sm

    age = np.linspace(9.0, 17.5, 18)
    total = np.full(18, 60.0)
    events = np.round(total / (1 + np.exp(-2.2 * (age - 13.0))))
    events[-4:] = total[-4:]  # every subject had the event
    X = np.column_stack([np.ones(18), age])
    link = sm.families.links.CLogLog()
    ref = sm.GLM(np.column_stack([events, total - events]), X, sm.families.Binomial(link)).fit(
        tol=1e-14
    )
    res = jm.fit(
        jm.GLM("binomial", "cloglog"), {"X": X, "y": events, "trials": total}, cov_type="expected"
    )
    assert bool(res.converged)
    np.testing.assert_allclose(res.params["beta"], ref.params, rtol=1e-7)
    np.testing.assert_allclose(res.se["beta"], ref.bse, rtol=1e-6)


def test_invalid_data_status_is_the_same_at_batch_sizes_1_and_1000():
    rng = np.random.default_rng(8)
    fit = jax.jit(jax.vmap(lambda x: jm.fit(jm.Gamma(), x)))
    for size in (1, 1000):
        xs = rng.gamma(2.0, size=(size, 20))
        xs[size - 1, 4] = -1.0  # outside the support
        res = fit(xs)
        assert int(res.status[-1]) == jm.Status.INVALID_DATA
        assert np.all(np.asarray(res.status)[:-1] == jm.Status.CONVERGED)
        if size > 1:  # a batch of one refused dataset has nothing to fit: errors="status" raises
            many = jm.fit_many(jm.Gamma(), xs, errors="status")
            assert int(many.status[-1]) == jm.Status.INVALID_DATA
        with pytest.raises(ValueError, match=f"dataset {size - 1}: Gamma: data must satisfy"):
            jm.fit_many(jm.Gamma(), xs)


def _new_models():
    """The models of issue 15, each with one good dataset (n = 40) and its response key."""
    rng = np.random.default_rng(0)
    n = 40
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return {
        "firth": (jm.Logit(), {"X": X, "y": (rng.random(n) < 0.5) * 1.0}, {"penalty": "firth"}),
        "zip": (jm.ZeroInflatedPoisson(), {"X": X, "y": rng.poisson(2.0, n) * 1.0}, {}),
        "weibull_aft": (
            jm.WeibullRegression(),
            {"X": X, "y": rng.weibull(1.5, n) + 0.1, "event": np.ones(n)},
            {},
        ),
        "mixture": (jm.Mixture(jm.Poisson(), 2), {"y": rng.poisson(3.0, n) * 1.0}, {}),
    }


@pytest.mark.parametrize("name", ["firth", "zip", "weibull_aft", "mixture"])
def test_new_models_refuse_bad_data_alike_eagerly_and_at_batch_sizes_1_and_1000(name):
    model, data, options = _new_models()[name]
    unwrap = (lambda d: d["y"]) if name == "mixture" else (lambda d: d)  # noqa: E731
    fit = jax.jit(jax.vmap(lambda d: jm.fit(model, unwrap(d), **options)))
    for bad_value in (np.nan, -1.0 if name != "firth" else 2.0):  # NaN, then outside the support
        bad = {key: value.copy() for key, value in data.items()}
        bad["y"][3] = bad_value
        with pytest.raises(ValueError):
            jm.fit(model, unwrap(bad), **options)
        for size in (1, 1000):
            batch = {k: np.repeat(data[k][None], size, axis=0) for k in data}
            for k in data:
                batch[k][0] = bad[k]
            status = np.asarray(fit(batch).status)
            assert status[0] == jm.Status.INVALID_DATA, (name, bad_value, size)
            assert np.all(status[1:] != jm.Status.INVALID_DATA)
    with pytest.raises(ValueError):  # wrong keys (or a 2-D array for the mixture)
        jm.fit(model, np.ones((40, 2)) if name == "mixture" else {"Z": np.ones(40)}, **options)
