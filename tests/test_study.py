"""Simulation studies (`jm.study`) against exact values, hand computations and themselves.

The exponential rate at n = 10 has exact answers: with ``T = rate * sum(x) ~ Gamma(n, 1)`` the
MLE is ``n * rate / T``, so its bias is ``rate / (n - 1)`` and each interval's coverage is the
Gamma probability of the set of ``T`` for which it covers:

* Wald ``rate_hat (1 +- z/sqrt(n))``: ``n (1 - c) <= T <= n (1 + c)``, ``c = z / sqrt(n)``;
* log-scale Wald (``"transformed"``): ``n e^-c <= T <= n e^c``;
* profile: ``2 (T - n - n log(T / n)) <= chi2_1(level)``.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import jaxmle as jm
from jaxmle._study._design import replicate_keys
from jaxmle._study._programs import run_chunk

ALL_CI = ("wald", "transformed", "profile")
RATE = 2.0


def exponential_study(**options):
    """An Exponential(rate 2) study; every option not given is shared by the tests (so they
    share compiled programs)."""
    arguments = dict(truth={"rate": RATE}, sizes=[10], n_rep=2000, key=jax.random.key(0))
    return jm.study(jm.Exponential(), **(arguments | {"ci": ALL_CI} | options))


@pytest.fixture(scope="module")
def exponential():
    """40,000 replicates at n = 10 and 16 (one compiled program: both pad to 16 rows)."""
    return exponential_study(sizes=[10, 16], n_rep=40_000)


def exact_coverage(n: int, level: float = 0.95) -> dict:
    gamma = stats.gamma(n)
    c = stats.norm.ppf(0.5 + level / 2) / np.sqrt(n)
    q = stats.chi2.ppf(level, 1)
    lr = lambda t: 2 * (t - n - n * np.log(t / n)) - q  # noqa: E731
    low, high = optimize.brentq(lr, 1e-9, n), optimize.brentq(lr, n, 20 * n)
    return {
        "wald": gamma.cdf(n * (1 + c)) - gamma.cdf(n * (1 - c)),
        "transformed": gamma.cdf(n * np.exp(c)) - gamma.cdf(n * np.exp(-c)),
        "profile": gamma.cdf(high) - gamma.cdf(low),
    }


def row(table, **where):
    mask = np.ones(len(table), bool)
    for column, value in where.items():
        mask &= table[column].to_numpy() == value
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


def test_exponential_coverage_and_bias_match_exact_values(exponential):
    perf = exponential.performance
    for method, exact in exact_coverage(10).items():
        r = row(perf, n=10, ci=method, measure="coverage")
        assert r.n_used == 40_000
        assert abs(r.value - exact) < 3 * r.mcse, (method, r.value, exact, r.mcse)
    # The three methods differ by far more than their Monte Carlo error: the test has power.
    exact = exact_coverage(10)
    assert abs(exact["wald"] - exact["transformed"]) > 10 * 0.0012
    bias = row(perf, n=10, ci="", measure="bias")
    assert abs(bias.value - RATE / 9) < 3 * bias.mcse
    assert row(perf, n=10, ci="", measure="converged").value == 1.0


def test_every_measure_equals_a_hand_computation_from_the_replicates():
    st = jm.study(
        jm.Normal(),
        [{"loc": 0.0, "scale": 1.0}, {"loc": 0.3, "scale": 2.0}],
        sizes=[12, 16],
        n_rep=500,
        key=jax.random.key(3),
        ci=("wald", "transformed"),
        level=0.9,
    )
    reps, perf = st.replicates, st.performance
    assert set(perf.measure) == {
        "bias",
        "rel_bias",
        "empse",
        "modelse",
        "relerr_modelse",
        "mse",
        "rmse",
        "coverage",
        "be_coverage",
        "power",
        "width",
        "converged",
    }
    checked = 0
    for (s, n, param), g in reps.groupby(["scenario", "n", "param"]):
        used = g[g.included]
        t, se, R = used.estimate.to_numpy(), used.se.to_numpy(), len(used)
        theta = used.truth.iloc[0]
        mean, sd = t.mean(), t.std(ddof=1)
        ok = (g.status == "converged").to_numpy()
        mse = np.mean((t - theta) ** 2)
        mse_mcse = np.sqrt(np.sum(((t - theta) ** 2 - mse) ** 2) / (R * (R - 1)))
        modse = np.sqrt(np.mean(se**2))
        v = np.var(se**2, ddof=1)
        expected = {
            ("", "bias"): (mean - theta, sd / np.sqrt(R)),
            ("", "empse"): (sd, sd / np.sqrt(2 * (R - 1))),
            ("", "mse"): (mse, mse_mcse),
            ("", "rmse"): (np.sqrt(mse), mse_mcse / (2 * np.sqrt(mse))),
            ("", "modelse"): (modse, np.sqrt(v / (4 * R * modse**2))),
            ("", "relerr_modelse"): (
                100 * (modse / sd - 1),
                100 * modse / sd * np.sqrt(v / (4 * R * modse**4) + 1 / (2 * (R - 1))),
            ),
            ("", "converged"): (ok.mean(), np.sqrt(ok.mean() * (1 - ok.mean()) / len(g))),
        }
        if theta != 0:
            expected[("", "rel_bias")] = ((mean - theta) / theta, sd / np.sqrt(R) / abs(theta))
        for method in st.design.ci:
            lo, hi = used[f"{method}_lower"].to_numpy(), used[f"{method}_upper"].to_numpy()
            for measure, hit in (
                ("coverage", (lo <= theta) & (theta <= hi)),
                ("be_coverage", (lo <= mean) & (mean <= hi)),
                *([("power", (0 < lo) | (hi < 0))] if param == "loc" else []),
            ):
                p = hit.mean()
                expected[(method, measure)] = (p, np.sqrt(p * (1 - p) / R))
            w = hi - lo
            expected[(method, "width")] = (w.mean(), w.std(ddof=1) / np.sqrt(R))
        got = perf[(perf.scenario == s) & (perf.n == n) & (perf.param == param)]
        assert len(got) == len(expected), (s, n, param)
        for (method, measure), (value, mcse) in expected.items():
            r = row(got, ci=method, measure=measure)
            np.testing.assert_allclose([r.value, r.mcse], [value, mcse], rtol=1e-12, atol=1e-15)
            checked += 1
    # loc (true value 0 in scenario 0: no rel_bias) has power rows, scale does not
    assert checked == 2 * (7 + 2 * 4) + 2 * (8 + 2 * 4) + 4 * (8 + 2 * 3)


def test_same_call_gives_identical_tables_whatever_the_chunking(exponential):
    # Replicate r's data depend only on (key, scenario, n, r): a smaller study is a prefix.
    small = exponential_study(sizes=[16, 10], n_rep=3000, chunk_size=2000)
    for n in (10, 16):
        for name, value in small.results[(0, n)].items():
            np.testing.assert_array_equal(value, exponential.results[(0, n)][name][:3000])
    again = exponential_study(sizes=[16, 10], n_rep=3000, chunk_size=2000)
    pd.testing.assert_frame_equal(small.performance, again.performance, check_exact=True)
    pd.testing.assert_frame_equal(small.replicates, again.replicates, check_exact=True)


def test_replicate_data_are_drawn_from_their_own_keys(exponential):
    key = jax.random.key(0)
    rep_key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, 0), 10), 123)
    x = jm.Exponential().simulate(jax.random.fold_in(rep_key, 0), {"rate": RATE}, jnp.zeros(16))
    res = jm.fit(jm.Exponential(), x, weights=(jnp.arange(16) < 10).astype(float))
    cell = exponential.results[(0, 10)]
    np.testing.assert_allclose(cell["estimate"][123, 0], res.params["rate"], rtol=1e-13)
    np.testing.assert_allclose(cell["estimate"][123, 0], 10 / x[:10].sum(), rtol=1e-13)


def test_sizes_of_one_octave_share_one_program(exponential):
    # n = 9, 12 and 13 pad to the 16 rows of the fixture's program: nothing new is compiled.
    before = run_chunk._cache_size()
    st = exponential_study(sizes=[9, 12, 13], key=jax.random.key(1))
    assert run_chunk._cache_size() == before
    assert {n for _, n in st.results} == {9, 12, 13}
    # The padding changes nothing: n = 12 equals a direct fit of the first 12 rows.
    keys = replicate_keys(jax.random.key(1), 0, 12, jnp.arange(1), jnp.zeros(1, int))
    x = jm.Exponential().simulate(keys[0], {"rate": RATE}, jnp.zeros(16))[:12]
    res = jm.fit(jm.Exponential(), x)
    lower, upper = jm.profile_ci(jm.Exponential(), x, res)
    cell = st.results[(0, 12)]
    np.testing.assert_allclose(cell["estimate"][0, 0], res.params["rate"], rtol=1e-12)
    np.testing.assert_allclose(cell["se"][0, 0], res.se["rate"], rtol=1e-12)
    np.testing.assert_allclose(cell["lower"][0, 2, 0], lower["rate"], rtol=1e-9)
    np.testing.assert_allclose(cell["upper"][0, 2, 0], upper["rate"], rtol=1e-9)


def test_non_converged_replicates_are_resimulated_and_counted():
    # Bernoulli(0.1), n = 10: an all-zero sample (probability 0.9^10 = 0.35) puts the MLE on the
    # boundary. Without re-simulation those replicates are left out and counted.
    model = jm.Bernoulli()

    def bernoulli_study(**options):
        return jm.study(
            model, {"p": 0.1}, sizes=[10], n_rep=2000, key=jax.random.key(5), ci="wald", **options
        )

    plain = bernoulli_study()
    cell = plain.results[(0, 10)]
    failed = cell["status"] != jm.Status.CONVERGED
    assert abs(failed.mean() - 0.9**10) < 4 * np.sqrt(0.35 * 0.65 / 2000)
    assert set(cell["status"][failed]) == {int(jm.Status.BOUNDARY)}
    conv = row(plain.performance, ci="", measure="converged")
    assert conv.value == 1 - failed.mean() and conv.n_used == 2000
    assert row(plain.performance, ci="", measure="bias").n_used == (~failed).sum()

    again = bernoulli_study(resimulate=4)
    cell2 = again.results[(0, 10)]
    # Replicates that converged first time are untouched; the others took new draws.
    np.testing.assert_array_equal(cell2["estimate"][~failed], cell["estimate"][~failed])
    assert (cell2["attempts"][failed] > 1).all() and (cell2["attempts"][~failed] == 1).all()
    assert (cell2["status"] != jm.Status.CONVERGED).mean() < 0.35**5 * 10
    drawn = cell2["attempts"].sum()
    conv2 = row(again.performance, ci="", measure="converged")
    assert conv2.n_used == drawn
    assert conv2.value == np.sum(cell2["status"] == jm.Status.CONVERGED) / drawn
    # A re-simulated replicate is the fit of the dataset drawn with its attempt's key.
    r = int(np.flatnonzero(failed & (cell2["status"] == jm.Status.CONVERGED))[0])
    a = int(cell2["attempts"][r]) - 1
    keys = replicate_keys(jax.random.key(5), 0, 10, jnp.array([r]), jnp.array([a]))
    y = model.simulate(keys[0], {"p": jnp.asarray(0.1)}, jnp.zeros(16))[:10]
    np.testing.assert_allclose(cell2["estimate"][r, 0], y.mean(), rtol=1e-12)

    kept = bernoulli_study(include_failed=True)
    assert row(kept.performance, ci="", measure="bias").n_used == 2000


def test_a_regression_with_a_fixed_design():
    X = np.column_stack([np.ones(400), np.linspace(-2, 2, 400)])
    model = jm.Logit()

    def generate(key, truth, n):  # the model's own simulator on the first n rows of the design
        return model.simulate(key, truth, {"X": jnp.asarray(X[:n])})

    st = jm.study(
        model, {"beta": [-0.5, 1.0]}, sizes=[400], n_rep=400, key=jax.random.key(2),
        generate=generate, ci="wald",
    )  # fmt: skip
    assert st.param_names == ("beta[0]", "beta[1]")
    perf = st.performance
    for name in st.param_names:
        r = row(perf, param=name, ci="wald", measure="coverage")
        assert abs(r.value - 0.95) < 4 * r.mcse
        bias = row(perf, param=name, ci="", measure="bias")
        assert abs(bias.value) < 4 * bias.mcse
    # power: the slope (true value 1) is rejected against 0 in every replicate.
    assert row(perf, param="beta[1]", ci="wald", measure="power").value == 1.0


def test_a_user_generator_is_padded_inside_the_support():
    # A Gamma sample of n = 11 padded to 16 rows: the padding must not be zeros (outside x > 0).
    def generate(key, truth, n):
        return jax.random.gamma(key, truth["shape"], (n,)) / truth["rate"]

    st = jm.study(
        jm.Gamma(), {"shape": 2.0, "rate": 3.0}, sizes=[11], n_rep=50, key=jax.random.key(4),
        generate=generate, ci="wald",
    )  # fmt: skip
    cell = st.results[(0, 11)]
    assert (cell["status"] == jm.Status.CONVERGED).all()
    keys = replicate_keys(jax.random.key(4), 0, 11, jnp.arange(1), jnp.zeros(1, int))
    direct = jm.fit(jm.Gamma(), generate(keys[0], {"shape": 2.0, "rate": 3.0}, 11))
    np.testing.assert_allclose(cell["estimate"][0], [direct.params["shape"], direct.params["rate"]],
                               rtol=1e-10)  # fmt: skip


def test_checkpoint_resumes_after_sigkill_without_recomputing(tmp_path):
    directory = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import time, jax
        jax.config.update("jax_enable_x64", True)
        import jaxmle as jm
        from jaxmle._study import _checkpoint
        save = _checkpoint.Checkpoint.save
        def slow_save(self, *args):  # slow the run down so that the kill lands mid-way
            save(self, *args)
            time.sleep(0.4)
        _checkpoint.Checkpoint.save = slow_save
        jm.study(jm.Exponential(), {{"rate": 2.0}}, sizes=[10, 16], n_rep=6000,
                 key=jax.random.key(7), ci="wald", chunk_size=500, checkpoint={str(directory)!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while len(list(directory.glob("*.npz"))) < 3:
            assert child.poll() is None, "the study finished or failed before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    finished = len(list(directory.glob("*.npz")))
    assert 3 <= finished < 24
    options = dict(sizes=[10, 16], n_rep=6000, key=jax.random.key(7), ci="wald", chunk_size=500)
    resumed = jm.study(jm.Exponential(), {"rate": 2.0}, checkpoint=directory, **options)
    assert resumed.chunks_loaded == finished and resumed.chunks_computed == 24 - finished
    fresh = jm.study(jm.Exponential(), {"rate": 2.0}, **options)
    pd.testing.assert_frame_equal(resumed.performance, fresh.performance, check_exact=True)
    pd.testing.assert_frame_equal(resumed.replicates, fresh.replicates, check_exact=True)
    rerun = jm.study(jm.Exponential(), {"rate": 2.0}, checkpoint=directory, **options)
    assert rerun.chunks_computed == 0 and rerun.chunks_loaded == 24
    assert not list(directory.glob(".*.tmp"))
    with pytest.raises(ValueError, match="n_rep: stored 6000, now 7000"):
        jm.study(jm.Exponential(), {"rate": 2.0}, checkpoint=directory, **options | {"n_rep": 7000})


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(truth={"lam": 1.0}), ValueError, r"truth must give every parameter .*\['rate'\]"),
        (dict(truth={"rate": -1.0}), ValueError, r"outside the parameter's constraint"),
        (dict(truth={"rate": [1.0, 2.0]}), ValueError, r"truth\['rate'\] must have shape \(\)"),
        (dict(truth=[{"rate": 1.0}, {"rate": np.nan}]), ValueError, r"truth\[1\]\['rate'\]"),
        (dict(truth=3.0), TypeError, "truth must be a dict"),
        (dict(sizes=[10, 0]), ValueError, "sizes must be positive integers"),
        (dict(sizes=[]), ValueError, "at least one sample size"),
        (dict(n_rep=1), ValueError, "n_rep must be an integer >= 2"),
        (dict(ci=("wald", "bootstrap")), ValueError, "ci must be one or more"),
        (dict(level=95), ValueError, "level must lie in"),
        (dict(key=None), ValueError, "key is required"),
        (dict(resimulate=-1), ValueError, "resimulate"),
        (dict(null={"mean": 0.0}), ValueError, "null names unknown parameters"),
        (dict(generate=3), TypeError, "generate must be callable"),
        (
            dict(generate=lambda key, truth, n: jnp.ones(n + 1)),
            ValueError,
            r"must return a dataset whose leaves all have 10 rows",
        ),
    ],
)
def test_malformed_arguments_raise_naming_them(kwargs, error, message):
    arguments = dict(
        model=jm.Exponential(),
        truth={"rate": 1.0},
        sizes=[10],
        n_rep=100,
        key=jax.random.key(0),
    )
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        jm.study(**arguments)


def test_models_that_need_a_design_ask_for_a_generator():
    with pytest.raises(ValueError, match=r"Logit cannot draw a dataset from its size alone"):
        jm.study(jm.Logit(), {"beta": [0.0, 1.0]}, sizes=[10], n_rep=10, key=jax.random.key(0))


def test_plots_and_progress(exponential, capsys):
    import matplotlib

    matplotlib.use("Agg")
    for kind in ("coverage", "bias", "zip", "distribution"):
        fig = exponential.plot(kind)
        assert fig.axes, kind
    coverage = exponential.plot("coverage").axes[0]
    assert len(coverage.get_lines()) >= 3  # three methods and the nominal level
    zip_axes = exponential.plot("zip", n=16, ci="profile").axes
    assert len(zip_axes) == 1 and "coverage" in zip_axes[0].get_title()
    with pytest.raises(ValueError, match="kind must be one of"):
        exponential.plot("qq")
    with pytest.raises(ValueError, match=r"ci \['bootstrap'\] not computed"):
        exponential.plot("zip", ci="bootstrap")
    exponential_study(n_rep=4000, progress=True)
    assert "4000/4000" in capsys.readouterr().err


def test_command_line_study(tmp_path, capsys):
    from jaxmle.cli import main

    config = tmp_path / "exp.toml"
    config.write_text(
        textwrap.dedent(
            """
            model = "Exponential"
            sizes = [10]
            n_rep = 2000
            seed = 0
            ci = ["wald", "transformed", "profile"]
            out = "perf.parquet"
            replicates = "reps.csv"
            [truth]
            rate = 2.0
            """
        )
    )
    assert main(["study", str(config), "--quiet"]) == 0
    table = pd.read_parquet(tmp_path / "perf.parquet")
    expected = exponential_study()
    pd.testing.assert_frame_equal(table, expected.performance, check_exact=True)
    reps = pd.read_csv(tmp_path / "reps.csv")  # written at full precision
    np.testing.assert_array_equal(reps.estimate, expected.replicates.estimate)

    bad = tmp_path / "bad.toml"
    for text, message in (
        ('model = "Exponential"\nsizes = [10]\n', "missing truth, n_rep"),
        ('model = "Expo"\nsizes = [10]\nn_rep = 5\ntruth = {rate = 1.0}\n', "unknown model"),
        ('model = "Exponential"\nsizes = [10]\nn_rep = 5\ntruth = {rate = 1.0}\nrpes = 1\n',
         "unknown keys rpes"),
        ("model = ", "not valid TOML"),
    ):  # fmt: skip
        bad.write_text(text)
        capsys.readouterr()
        assert main(["study", str(bad), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def _gamma_generator(kind):
    def generate(key, truth, n):
        x = jax.random.gamma(key, truth["shape"], (n,)) / truth["rate"]
        return x.at[0].set({"nan": jnp.nan, "support": -1.0}[kind])

    return generate


@pytest.mark.parametrize("kind", ["nan", "support"])
def test_generated_data_outside_the_support_are_invalid_replicates_at_any_batch_size(kind):
    # Data problems are only seen inside the compiled program: each replicate gets
    # INVALID_DATA, is left out of the measures and counted by `converged`.
    for n_rep in (2, 1000):
        st = jm.study(
            jm.Gamma(), {"shape": 2.0, "rate": 3.0}, sizes=[10], n_rep=n_rep,
            key=jax.random.key(0), generate=_gamma_generator(kind), ci="wald",
        )  # fmt: skip
        assert set(st.results[(0, 10)]["status"]) == {int(jm.Status.INVALID_DATA)}
        perf = st.performance
        assert set(perf.measure) == {"converged"} and (perf.value == 0.0).all()
        assert (perf.n_used == n_rep).all()


def test_generated_data_of_the_wrong_layout_raise_naming_it():
    with pytest.raises(ValueError, match=r"Logit: data must be a dict with 'X'"):
        jm.study(
            jm.Logit(), {"beta": [0.0, 1.0]}, sizes=[10], n_rep=5, key=jax.random.key(0),
            generate=lambda key, truth, n: {"X": jnp.ones((n, 2))},
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"Gamma: data must have shape \(n,\)"):
        jm.study(
            jm.Gamma(), {"shape": 2.0, "rate": 1.0}, sizes=[10], n_rep=5, key=jax.random.key(0),
            generate=lambda key, truth, n: jnp.ones((n, 3)),
        )  # fmt: skip
