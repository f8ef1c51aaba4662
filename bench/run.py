"""jaxmle benchmark suite: every workload against its references, side by side, in one process.

Run from the repository root::

    python bench/run.py            # full suite (about 5-10 minutes on a 2-core CPU)
    python bench/run.py --quick    # smaller batches, a smoke run of every workload
    python bench/run.py --only logistic weibull --batch 2000

Each workload fits the same data with jaxmle and with its references (statsmodels / scipy loops,
extrapolated from a subset; glmax; a hand-written ``jit(vmap(newton))``), checks the estimates
against the established fitter, and reports warm times (best of ``--repeats`` calls after the
first) and cold times (the first call, compilation included, measured in a fresh subprocess).
Results go to ``bench/results/results.json`` and ``bench/results/results.md``. A workload whose
model is not available in this jaxmle is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import references as ref  # noqa: E402

import jaxmle as jm  # noqa: E402
from jaxmle._linalg import weighted_gram  # noqa: E402

RESULTS = HERE / "results"
AGREE_TOL = 1e-6
LOGLIK_SLACK = 1e-8  # "loglik >= reference" allows this much rounding (nats)


# -- models --------------------------------------------------------------------------------------
def _model(name: str):
    """A jaxmle model by workload name, or ``None`` when this jaxmle does not have it."""
    if name == "closed_form_logit":
        return ClosedFormLogit()
    if name == "generic_logit":
        return jm.Model(
            lambda p, d: d["y"] * (d["X"] @ p["beta"]) - jnp.logaddexp(0.0, d["X"] @ p["beta"]),
            params={"beta": jm.Real(np.zeros(5))},
            name="CustomLogit",
        )
    factory = {
        "logit": "Logit",
        "firth": "Logit",
        "weibull": "Weibull",
        "student_t": "StudentT",
        "nb2": "NegativeBinomialRegression",
    }[name]
    return getattr(jm, factory)() if hasattr(jm, factory) else None


class ClosedFormLogit(jm.Model):
    """Logistic regression with closed-form derivatives: what the engine does given them.

    ``f = sum w (softplus(eta) - y eta)``, ``g = X'(w (mu - y))``, ``H = X' diag(w mu (1 - mu)) X``
    (:func:`jaxmle._linalg.weighted_gram`), with ``softplus`` and ``mu`` from one ``exp``. No
    separation diagnosis; starts at zero. Shown next to ``jm.Logit`` (which computes the same
    derivatives in closed form, plus its start and screened separation check) as the floor of
    what the engine costs.
    """

    def __init__(self, p: int = 5):
        def logpdf(params, data):
            eta = data["X"] @ params["beta"]
            return data["y"] * eta - jnp.logaddexp(0.0, eta)

        super().__init__(logpdf, {"beta": jm.Real(np.zeros(p))}, name="ClosedFormLogit")

    def objective_derivatives(self, u, problem):
        X, y = problem.data["X"], problem.data["y"]
        eta = X @ u
        t = jnp.exp(-jnp.abs(eta))
        mu = jnp.where(eta >= 0, 1.0, t) / (1.0 + t)
        w = problem.effective_weights
        f = jnp.sum(w * (jnp.maximum(eta, 0.0) + jnp.log(1.0 + t) - y * eta))
        return f, X.T @ (w * (mu - y)), weighted_gram(X, w * mu * (1.0 - mu))


def _data(name: str, seed: int, batch: int, n_obs: int | None = None):
    """The workload's datasets as a pytree of JAX arrays (already on the device)."""
    kwargs = {} if n_obs is None else {"n_obs": n_obs}
    if name in ("logit", "generic_logit", "closed_form_logit"):
        X, y = ref.make_logistic_data(seed, batch, **kwargs)
        data = {"X": X, "y": y}
    elif name == "firth":
        X, y = ref.make_firth_data(seed, batch, **kwargs)
        data = {"X": X, "y": y}
    elif name == "nb2":
        X, y = ref.make_nb2_data(seed, batch, **kwargs)
        data = {"X": X, "y": y}
    elif name == "weibull":
        data = ref.make_weibull_data(seed, batch, **kwargs)
    else:
        data = ref.make_student_t_data(seed, batch, **kwargs)
    return jax.device_put(data)


#: ``fit_many`` options of a workload's jaxmle fit (the same in its cold subprocess).
FIT_OPTIONS = {"firth": {"penalty": "firth"}}


def _jaxmle_fitter(model, **options):
    return lambda data: jm.fit_many(model, data, **options)


def _time(fn, *args, repeats: int) -> dict:
    out = ref.time_call(fn, *args, repeats=repeats)
    return {"first_in_process_s": out["cold"], "warm_s": out["warm"]}


def _time_loop(loop, *arrays, sub: int):
    """``(seconds per fit, outputs)`` of a CPU reference ``loop`` over the first ``sub`` datasets.

    The loop first runs untimed on two datasets, so that one-off costs (lazy imports and caches
    inside statsmodels and scipy) are not extrapolated to the whole batch: the reference is
    timed warm, like jaxmle.
    """
    loop(*(a[:2] for a in arrays))
    start = time.perf_counter()
    out = loop(*(a[:sub] for a in arrays))
    return (time.perf_counter() - start) / sub, out


def _side_by_side(fit, data, loop, *arrays, sub: int, repeats: int):
    """``(warm seconds of fit(data), seconds per fit of loop, loop's outputs)``, timed in turns.

    After one untimed call of each (compilation; the loop's lazy imports and caches), ``repeats``
    rounds of one ``fit(data)`` call and one run of ``loop`` over the first ``sub`` datasets; the
    best of each side is kept. This machine's speed drifts by up to 30% from one minute to the
    next, so the two sides are timed in alternation and the best of each (the least disturbed
    run) is compared: a ratio of two measurements taken minutes apart swung from 14x to 21x
    between two runs of the Firth workload.
    """
    jax.block_until_ready(fit(data))
    loop(*(a[:2] for a in arrays))
    fits, loops = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fit(data))
        fits.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = loop(*(a[:sub] for a in arrays))
        loops.append((time.perf_counter() - start) / sub)
    return min(fits), min(loops), out


def _cold(workload: str, fitter: str, batch: int, enabled: bool, cache_dir=None) -> float | None:
    """First-call time (compilation included) of ``fitter`` in a fresh Python process.

    With ``cache_dir``, the child uses JAX's persistent compilation cache there.
    """
    if not enabled:
        return None
    cmd = [sys.executable, str(Path(__file__)), "--child-cold", workload, fitter, str(batch)]
    env = dict(os.environ)
    if cache_dir is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        print(f"    cold run of {fitter} failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["cold_s"]


def _cold_cached(workload: str, batch: int, enabled: bool) -> float | None:
    """First call in a fresh process whose compilation cache was filled by an earlier process."""
    if not enabled:
        return None
    with tempfile.TemporaryDirectory() as cache_dir:
        _cold(workload, "jaxmle", batch, True, cache_dir)
        return _cold(workload, "jaxmle", batch, True, cache_dir)


def _child_cold(workload: str, fitter: str, batch: int) -> None:
    data = _data(workload, 1, batch)
    if fitter == "jaxmle":
        fn = _jaxmle_fitter(_model(workload), **FIT_OPTIONS.get(workload, {}))
    elif fitter == "glmax":
        fn = lambda d: ref.glmax_logit(d["X"], d["y"])  # noqa: E731
    else:
        fn = lambda d: ref.handwritten_vmap_newton_logit(d["X"], d["y"])  # noqa: E731
    start = time.perf_counter()
    jax.block_until_ready(fn(data))
    print(json.dumps({"cold_s": time.perf_counter() - start}))


def _row(fitter: str, batch: int, warm: float, cold=None, note: str = "") -> dict:
    return {"fitter": fitter, "batch": batch, "warm_s": warm, "cold_s": cold, "note": note}


# -- workloads -----------------------------------------------------------------------------------
def bench_logistic(args, generic: bool = False) -> dict:
    """10,000 logistic regressions (n=500, p=5) vs statsmodels, glmax, hand-written Newton."""
    name = "generic_logit" if generic else "logit"
    model = _model(name)
    if model is None:
        return {"skipped": "jm.Logit is not available"}
    B = args.batch
    data = _data(name, 1, B)
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    sub = args.loop
    warm, per_fit, (sm_params, sm_bse, sm_llf) = _side_by_side(
        _jaxmle_fitter(model), data, ref.statsmodels_logit_loop, X, y, sub=sub, repeats=args.repeats
    )
    res = jm.fit_many(model, data)
    beta = np.asarray(res.params["beta"])
    rows = [_row("jaxmle", B, warm, _cold(name, "jaxmle", B, args.cold))]
    rows.append(_row("statsmodels Logit loop", B, per_fit * B, note=f"extrapolated from {sub}"))
    checks = {
        "converged": int(np.sum(np.asarray(res.converged))),
        "of": B,
        "max_abs_diff_beta_vs_statsmodels": float(np.max(np.abs(beta[:sub] - sm_params))),
        "max_rel_diff_se_vs_statsmodels": float(
            np.max(np.abs(np.asarray(res.se["beta"])[:sub] / sm_bse - 1.0))
        ),
        "max_abs_diff_loglik_vs_statsmodels": float(
            np.max(np.abs(np.asarray(res.loglik)[:sub] - sm_llf))
        ),
    }
    checks["ok"] = bool(
        checks["converged"] == B and checks["max_abs_diff_beta_vs_statsmodels"] < AGREE_TOL
    )
    if not generic:
        one_thread = lambda d: jm.fit_many(model, d, workers=1)  # noqa: E731
        t = _time(one_thread, data, repeats=args.repeats)
        rows.append(
            _row("jaxmle, one thread (workers=1)", B, t["warm_s"], note="no worker threads")
        )
        # A new jm.Logit() per call: equal models share the compiled fit, so this stays warm.
        fresh = lambda d: jm.fit_many(_model(name), d)  # noqa: E731
        t = _time(fresh, data, repeats=args.repeats)
        rows.append(
            _row("jaxmle, new model object per call", B, t["warm_s"], note="jm.Logit() each call")
        )
        rows.append(
            _row(
                "jaxmle, compilation cache filled",
                B,
                None,
                _cold_cached(name, B, args.cold),
                note="cold = first call with jax_compilation_cache_dir warm",
            )
        )
        closed = _model("closed_form_logit")
        t = _time(_jaxmle_fitter(closed), data, repeats=args.repeats)
        closed_beta = np.asarray(jm.fit_many(closed, data).params["beta"])
        diff = np.max(np.abs(closed_beta[:sub] - sm_params))
        checks["closed_form_max_abs_diff_vs_statsmodels"] = float(diff)
        rows.append(
            _row(
                "jaxmle engine, closed-form derivatives",
                B,
                t["warm_s"],
                _cold("closed_form_logit", "jaxmle", B, args.cold),
                note="bench.run.ClosedFormLogit: custom jm.Model, analytic g and H",
            )
        )
        if ref.glmax_logit is not None:
            t = _time(ref.glmax_logit, data["X"], data["y"], repeats=args.repeats)
            cold = _cold(name, "glmax", B, args.cold)
            rows.append(_row("glmax vmap IRLS", B, t["warm_s"], cold, note="tol 1e-8"))
            diff = np.max(np.abs(ref.glmax_logit(data["X"], data["y"])[:sub] - sm_params))
            checks["glmax_max_abs_diff_vs_statsmodels"] = float(diff)
        t = _time(ref.handwritten_vmap_newton_logit, data["X"], data["y"], repeats=args.repeats)
        cold = _cold(name, "handwritten", B, args.cold)
        rows.append(_row("hand-written vmap Newton", B, t["warm_s"], cold, note="6 steps"))
    return {"rows": rows, "checks": checks}


def bench_distribution(args, name: str) -> dict:
    """10,000 Weibull or Student-t fits (n=200) vs the scipy ``.fit`` loop."""
    model = _model(name)
    if model is None:
        return {"skipped": f"jm.{'Weibull' if name == 'weibull' else 'StudentT'} is not available"}
    B = args.batch
    data = _data(name, 1, B)
    x = np.asarray(data)
    sub = args.loop if name == "weibull" else max(args.loop // 4, 10)
    loop = ref.scipy_weibull_loop if name == "weibull" else ref.scipy_t_loop
    warm, per_fit, fits = _side_by_side(
        _jaxmle_fitter(model), data, loop, x, sub=sub, repeats=args.repeats
    )
    res = jm.fit_many(model, data)
    rows = [_row("jaxmle", B, warm, _cold(name, "jaxmle", B, args.cold))]
    scipy_loglik = fits[-1]
    label = "scipy weibull_min.fit loop" if name == "weibull" else "scipy t.fit loop"
    rows.append(_row(label, B, per_fit * B, note=f"extrapolated from {sub}"))
    gap = np.asarray(res.loglik)[:sub] - scipy_loglik
    checks = {
        "converged": int(np.sum(np.asarray(res.converged))),
        "of": B,
        "compared": sub,
        "min_loglik_gain_vs_scipy": float(np.min(gap)),
        "max_loglik_gain_vs_scipy": float(np.max(gap)),
        "fits_below_scipy": int(np.sum(gap < -LOGLIK_SLACK)),
    }
    statuses = np.bincount(np.asarray(res.status), minlength=len(jm.Status))
    checks["status_counts"] = {jm.Status(i).name: int(c) for i, c in enumerate(statuses) if c}
    # A fit may legitimately stop at BOUNDARY (Student-t df -> infinity): its loglik still counts.
    checks["ok"] = bool(checks["fits_below_scipy"] == 0)
    return {"rows": rows, "checks": checks}


def bench_nb2(args) -> dict:
    """10,000 NB2 regressions (n=500, p=3 + alpha) vs statsmodels NegativeBinomial."""
    model = _model("nb2")
    if model is None:
        return {"skipped": "jm.NegativeBinomialRegression is not available"}
    B = args.batch
    data = _data("nb2", 1, B)
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    sub = max(args.loop // 2, 10)
    warm, per_fit, (params, _, llf) = _side_by_side(
        _jaxmle_fitter(model), data, ref.statsmodels_nb2_loop, X, y, sub=sub, repeats=args.repeats
    )
    res = jm.fit_many(model, data)
    rows = [_row("jaxmle", B, warm, _cold("nb2", "jaxmle", B, args.cold))]
    rows.append(_row("statsmodels NB2 loop", B, per_fit * B, note=f"extrapolated from {sub}"))
    ours = np.concatenate(
        [np.asarray(res.params["beta"])[:sub], np.asarray(res.params["alpha"])[:sub, None]], 1
    )
    checks = {
        "converged": int(np.sum(np.asarray(res.converged))),
        "of": B,
        "max_abs_diff_params_vs_statsmodels": float(np.max(np.abs(ours - params))),
        "min_loglik_gain_vs_statsmodels": float(np.min(np.asarray(res.loglik)[:sub] - llf)),
    }
    checks["ok"] = bool(
        checks["converged"] == B and checks["min_loglik_gain_vs_statsmodels"] > -LOGLIK_SLACK
    )
    return {"rows": rows, "checks": checks}


def bench_firth(args) -> dict:
    """10,000 Firth logistic regressions (n=100, p=5; 2 in 1,000 separated) vs a hand loop.

    statsmodels has no Firth, so the reference is :func:`references.firth_logit`, the
    modified-score Newton iteration of ``logistf`` written in numpy/scipy, looped over the first
    ``2.5 --loop`` datasets and extrapolated. statsmodels' plain ``Logit`` (MLE, not Firth) and
    jaxmle's MLE on the same data are context rows.
    """
    model = _model("firth")
    if model is None:
        return {"skipped": "jm.Logit is not available"}
    B = args.batch
    data = _data("firth", 1, B)
    X, y = np.asarray(data["X"]), np.asarray(data["y"])
    fitter = _jaxmle_fitter(model, **FIT_OPTIONS["firth"])
    sub = min(B, max(args.loop * 5 // 2, 20))
    warm, per_fit, (params, bse, loglik, pll, n_iter, ref_converged) = _side_by_side(
        fitter, data, ref.scipy_firth_logit_loop, X, y, sub=sub, repeats=args.repeats
    )
    res = fitter(data)
    cold = _cold("firth", "jaxmle", B, args.cold)
    rows = [_row("jaxmle, penalty='firth'", B, warm, cold)]
    rows.append(
        _row(
            "numpy/scipy Firth loop (modified-score Newton)",
            B,
            per_fit * B,
            note=f"extrapolated from {sub}; hand-written (statsmodels has no Firth)",
        )
    )
    t = _time(_jaxmle_fitter(model), data, repeats=args.repeats)
    rows.append(
        _row("jaxmle Logit MLE (not Firth)", B, t["warm_s"], note="context: same data, no penalty")
    )
    complete, quasi = ref.firth_separated(B)
    separated = np.concatenate([complete, quasi])
    regular = np.setdiff1d(np.arange(sub), separated)
    per_fit_sm, _ = _time_loop(ref.statsmodels_logit_loop, X[regular], y[regular], sub=len(regular))
    rows.append(
        _row(
            "statsmodels Logit loop (MLE, not Firth)",
            B,
            per_fit_sm * B,
            note=f"context; extrapolated from the {len(regular)} non-separated of the first {sub}",
        )
    )

    beta = np.asarray(res.params["beta"])
    converged = np.asarray(res.converged)
    checks = {
        "converged": int(np.sum(converged)),
        "of": B,
        "compared": sub,
        "reference_converged": int(np.sum(ref_converged)),
        "max_abs_diff_beta_vs_reference": float(np.max(np.abs(beta[:sub] - params))),
        "max_rel_diff_se_vs_reference": float(
            np.max(np.abs(np.asarray(res.se["beta"])[:sub] / bse - 1.0))
        ),
        "max_abs_diff_loglik_vs_reference": float(
            np.max(np.abs(np.asarray(res.loglik)[:sub] - loglik))
        ),
        "max_abs_diff_penalized_loglik_vs_reference": float(
            np.max(np.abs(np.asarray(res.penalized_loglik)[:sub] - pll))
        ),
        "separated": len(separated),
        "separated_converged": int(np.sum(converged[separated])),
        "separated_compared": int(np.sum(separated < sub)),
        "separated_max_abs_beta": float(np.max(np.abs(beta[separated]))),
        "mean_iterations_jaxmle": float(np.mean(np.asarray(res.n_iter))),
        "mean_iterations_reference": float(np.mean(n_iter)),
        "speedup_vs_reference": rows[1]["warm_s"] / rows[0]["warm_s"],
        "target_speedup": 20.0,
    }
    checks["target_met"] = bool(checks["speedup_vs_reference"] >= checks["target_speedup"])
    # ok: correctness (every fit converged, estimates equal to the reference's); the speed
    # target is reported apart, in target_met.
    checks["ok"] = bool(
        checks["converged"] == B
        and checks["reference_converged"] == sub
        and checks["max_abs_diff_beta_vs_reference"] < AGREE_TOL
    )
    return {"rows": rows, "checks": checks}


def bench_bootstrap(args) -> dict:
    """A nonparametric bootstrap of one logistic fit (n=500, p=5): ``--batch / 10`` replicates
    with ``jm.bootstrap`` against a statsmodels ``Logit`` loop over resampled rows (extrapolated
    from ``--loop`` replicates). The checks compare the bootstrap SEs with the loop's replicate SDs
    (both Monte Carlo estimates of the same quantity) and with the fit's model-based SEs."""
    B = max(args.batch // 10, 100)
    X, y = ref.make_logistic_data(1, 1, 500, 5)
    data = {"X": X[0], "y": y[0]}
    key = jax.random.key(0)

    def fit(data):
        return jm.bootstrap(jm.Logit(), data, B, key).replicates.params

    rows = np.random.default_rng(0).integers(0, 500, size=(B, 500))

    def loop(rows):
        return ref.statsmodels_logit_loop(data["X"][rows], data["y"][rows])

    sub = args.loop
    warm, per_fit, (params, _, _) = _side_by_side(
        fit, data, loop, rows, sub=sub, repeats=args.repeats
    )
    boot = jm.bootstrap(jm.Logit(), data, B, key)
    rows_out = [
        _row("jaxmle bootstrap", B, warm, note="replicates as one batch"),
        _row(
            "statsmodels Logit loop over resamples", B, per_fit * B, note=f"extrapolated from {sub}"
        ),
    ]
    se = np.asarray(boot.se["beta"])
    checks = {
        "converged": int(np.sum(np.asarray(boot.converged))),
        "of": B,
        "max_rel_diff_se_vs_loop_sd": float(np.max(np.abs(se / params.std(axis=0, ddof=1) - 1))),
        "max_rel_diff_se_vs_model_se": float(
            np.max(np.abs(se / np.asarray(boot.fit.se["beta"]) - 1))
        ),
    }
    # Monte Carlo error of an SD from m replicates is about 1 / sqrt(2 m): 5% at m = 200.
    checks["ok"] = bool(
        checks["converged"] == B
        and checks["max_rel_diff_se_vs_loop_sd"] < 4 / np.sqrt(2 * min(B, sub))
        and checks["max_rel_diff_se_vs_model_se"] < 0.25
    )
    return {"rows": rows_out, "checks": checks}


def bench_scaling(args) -> dict:
    """Warm time of the logistic workload against the batch size and against ``n``."""
    model = _model("logit") or _model("generic_logit")
    rows = []
    batches = [100, 1_000, 10_000] + ([] if args.quick else [100_000])
    for B in batches:
        data = _data("logit", 2, B, n_obs=100)
        t = _time(_jaxmle_fitter(model), data, repeats=1 if B >= 100_000 else args.repeats)
        rows.append({"axis": "batch", "batch": B, "n": 100, "warm_s": t["warm_s"]})
        print(f"    batch {B:>7,} (n=100): {t['warm_s']:.3f} s")
        del data
    for n in [50, 200, 1_000] + ([] if args.quick else [5_000]):
        data = _data("logit", 3, 1_000, n_obs=n)
        t = _time(_jaxmle_fitter(model), data, repeats=args.repeats)
        rows.append({"axis": "n", "batch": 1_000, "n": n, "warm_s": t["warm_s"]})
        print(f"    n {n:>6,} (batch 1,000): {t['warm_s']:.3f} s")
    return {"scaling": rows, "model": model.name}


def bench_memory(args) -> dict:
    """Peak RSS of fit_many on 100,000 Weibull datasets (n=200), in a fresh process.

    ``peak_over_input`` is (peak RSS while the data exist - RSS before the data) / input bytes,
    so the input itself counts 1.0.
    """
    if _model("weibull") is None:
        return {"skipped": "jm.Weibull is not available"}
    B = 20_000 if args.quick else 100_000
    cmd = [sys.executable, str(Path(__file__)), "--child-memory", str(B)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"skipped": f"memory child failed: {out.stderr[-2000:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child_memory(batch: int) -> None:
    model = _model("weibull")
    for warm in (5_000, 7_000):  # compile, and let the runtime set up its pools and arenas
        jax.block_until_ready(jm.fit_many(model, ref.make_weibull_data(0, warm)).loglik)
    # RSS is sampled while the data exist: ru_maxrss would also count the compile-time peak.
    peak, done = [_rss()], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(_rss())
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    before = _rss()
    sampler.start()
    x = np.empty((batch, 200))
    for start in range(0, batch, 10_000):  # generated in pieces: no temporary copy of the input
        x[start : start + 10_000] = ref.make_weibull_data(start, min(10_000, batch - start))
    with_data = _rss()
    start = time.perf_counter()
    res = jm.fit_many(model, x)
    jax.block_until_ready(res.loglik)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "batch": batch,
                "input_bytes": x.nbytes,
                "rss_before_data": before,
                "rss_with_data": with_data,
                "peak_rss": max(peak),
                "peak_over_input": (max(peak) - before) / x.nbytes,
                "fit_s": seconds,
                "converged": int(np.sum(np.asarray(res.converged))),
            }
        )
    )


def bench_gradient(args) -> dict:
    """Derivatives through a Logit fit (n=500, p=5): implicit (jaxmle) against unrolled solver
    iterations (forward mode through the while_loop, what jaxmle 0.1 allowed), warm, jitted.

    Rows: the fit itself; ``jit(grad)`` of an estimate, of its standard error and of the
    log-likelihood with respect to ``X``; ``jit(jacfwd)`` of ``beta`` with respect to ``y``
    (500 tangents), implicit and unrolled; and a vmapped batch of gradients against the
    vmapped batch of fits. The ratio column reads "row time / fit time" here.
    """
    from jaxmle._problem import Problem
    from jaxmle._solvers import Newton, Objective, iterate

    model = jm.Logit()
    batch = max(args.batch // 10, 100)
    data = _data("logit", 3, batch)
    X, y = data["X"][0], data["y"][0]

    def fitted(X, y):
        return jm.fit(model, {"X": X, "y": y})

    def unrolled_beta(X, y):
        # The solver loop differentiated step by step (no implicit rule): jaxmle 0.1's only way.
        problem = Problem.build({"X": X, "y": y})
        bound = model.bind({"X": X, "y": y})
        u0 = bound.to_unconstrained(bound.init_params(problem))
        objective = Objective(bound.objective, bound.objective_derivatives)
        return iterate(Newton(), objective, u0, problem, 2000).u

    calls = {
        "fit (jit)": jax.jit(lambda X, y: fitted(X, y).params["beta"]),
        "jit(grad) of beta[1] w.r.t. X": jax.jit(
            jax.grad(lambda X, y: fitted(X, y).params["beta"][1])
        ),
        "jit(grad) of se(beta[1]) w.r.t. X": jax.jit(
            jax.grad(lambda X, y: fitted(X, y).se["beta"][1])
        ),
        "jit(grad) of loglik w.r.t. X": jax.jit(jax.grad(lambda X, y: fitted(X, y).loglik)),
        "jit(jacfwd) of beta w.r.t. y, implicit": jax.jit(
            jax.jacfwd(lambda X, y: fitted(X, y).params["beta"], argnums=1)
        ),
        "jit(jacfwd) of beta w.r.t. y, unrolled": jax.jit(jax.jacfwd(unrolled_beta, argnums=1)),
    }
    rows, base = [], None
    for label, fn in calls.items():
        t = _time(fn, X, y, repeats=max(args.repeats, 50))  # sub-millisecond calls: best of 50
        base = base or t["warm_s"]
        rows.append({**_row(label, 1, t["warm_s"]), "first_call_s": t["first_in_process_s"]})
    fits = jax.jit(jax.vmap(lambda X, y: fitted(X, y).params["beta"]))
    grads = jax.jit(jax.vmap(jax.grad(lambda X, y: fitted(X, y).se["beta"][1])))
    for label, fn in (
        ("jit(vmap(fit))", fits),
        ("jit(vmap(grad)) of se(beta[1]) w.r.t. X", grads),
    ):
        t = _time(fn, data["X"], data["y"], repeats=args.repeats)
        rows.append({**_row(label, batch, t["warm_s"]), "first_call_s": t["first_in_process_s"]})
    t_fits, t_grads = rows[-2]["warm_s"], rows[-1]["warm_s"]

    implicit = np.asarray(calls["jit(jacfwd) of beta w.r.t. y, implicit"](X, y))
    unrolled = np.asarray(calls["jit(jacfwd) of beta w.r.t. y, unrolled"](X, y))
    grad_ratio = rows[1]["warm_s"] / base
    checks = {
        "grad_over_fit": grad_ratio,
        "batch_grad_over_batch_fit": t_grads / t_fits,
        "max_abs_diff_implicit_vs_unrolled": float(np.max(np.abs(implicit - unrolled))),
        "ok": bool(grad_ratio <= 3.0 and np.allclose(implicit, unrolled, rtol=1e-6, atol=1e-12)),
    }
    return {"rows": rows, "checks": checks, "relative_to": "fit (jit)"}


STUDY_TRUTHS = {"Exponential": {"rate": 2.0}, "Gamma": {"shape": 2.0, "rate": 3.0}}


def _legacy_gamma_generator(key, truth, n):
    """The sampler jaxmle 0.1's Gamma used (jax.random.gamma), as a user generator."""
    return jax.random.gamma(key, truth["shape"], (n,)) / truth["rate"]


def _study_pair(n_rep: int, n_obs: int, generate_gamma=None, ci=("wald",)):
    """An Exponential study and a Gamma study, ``n_rep`` replicates of ``n_obs`` each, with their
    performance measures computed."""
    key = jax.random.key(0)
    studies = [
        jm.study(
            getattr(jm, name)(), truth, [n_obs], n_rep, key, ci=ci,
            generate=generate_gamma if name == "Gamma" else None,
        )
        for name, truth in STUDY_TRUTHS.items()
    ]  # fmt: skip
    for st in studies:
        st.performance_rows()
    return studies


def bench_study(args) -> dict:
    """Simulation studies: an Exponential and a Gamma study (n=50; estimates, SEs, Wald intervals
    and every performance measure) against the hand-written numpy + ``scipy.stats.expon.fit`` /
    ``gamma.fit(floc=0)`` loop; then the cost of a 26-size sweep against one size, cold, in fresh
    processes (what padding sizes to shared programs buys)."""
    n_rep, n_obs = args.batch, 50
    rows = []
    for label, generate in (
        ("jaxmle study (model's own samplers)", None),
        ("jaxmle study (Gamma drawn by jax.random.gamma)", _legacy_gamma_generator),
    ):
        t = _time(lambda g=generate: _study_pair(n_rep, n_obs, g), repeats=args.repeats)
        rows.append({**_row(label, n_rep, t["warm_s"]), "first_call_s": t["first_in_process_s"]})
    sub = max(args.loop * 5, 200)
    per_replicate, (rates, shapes, _) = _time_loop(
        lambda r: ref.numpy_scipy_study_loop(len(r), n_obs), np.arange(sub), sub=sub
    )
    rows.append(
        _row("numpy draws + scipy expon/gamma.fit loop", n_rep, per_replicate * n_rep,
             note=f"extrapolated from {sub}")
    )  # fmt: skip
    exp_study, gamma_study = _study_pair(n_rep, n_obs)
    ours = {
        "exp_rate_mean": float(np.mean(exp_study.results[(0, n_obs)]["estimate"][:, 0])),
        "gamma_shape_mean": float(np.mean(gamma_study.results[(0, n_obs)]["estimate"][:, 0])),
    }
    sweep = [10 * (i + 1) for i in range(26)]
    single = _cold_study([50], args.cold)
    swept = _cold_study(sweep, args.cold)
    loop_time = rows[-1]["warm_s"]
    checks = {
        "speedup_vs_loop_own_samplers": loop_time / rows[0]["warm_s"],
        "speedup_vs_loop_jax_random_gamma": loop_time / rows[1]["warm_s"],
        # Both estimate the same sampling distributions: means agree to Monte Carlo error.
        **ours,
        "scipy_exp_rate_mean": float(np.mean(rates)),
        "scipy_gamma_shape_mean": float(np.mean(shapes)),
        "cold_single_size_s": single,
        "cold_26_sizes_s": swept,
        "sweep_over_single": None if single is None else swept / single,
    }
    checks["ok"] = bool(
        checks["speedup_vs_loop_own_samplers"] >= 3.0
        and (single is None or checks["sweep_over_single"] < 8.0)
    )
    return {"rows": rows, "checks": checks}


def _cold_study(sizes: list[int], enabled: bool) -> float | None:
    """Seconds of ``jm.study`` (Exponential, 1,000 replicates per size, Wald and log-scale
    intervals) in a fresh process: compilation and the run, not the interpreter's start."""
    if not enabled:
        return None
    cmd = [sys.executable, str(Path(__file__)), "--child-study", ",".join(map(str, sizes))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"    cold study failed:\n{out.stderr[-2000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _child_study(sizes: str) -> None:
    start = time.perf_counter()
    jm.study(
        jm.Exponential(), {"rate": 2.0}, [int(n) for n in sizes.split(",")], 1000,
        jax.random.key(0), ci=("wald", "transformed"),
    )  # fmt: skip
    print(json.dumps({"seconds": time.perf_counter() - start}))


# -- report --------------------------------------------------------------------------------------
def _machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "jaxmle": jm.__version__,
        "python": platform.python_version(),
        "x64": True,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _fmt(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.3f}"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# jaxmle benchmark results",
        "",
        f"{m['date']}; {m['cpu']}, {m['cores']} cores; devices {', '.join(m['devices'])}; "
        f"jax {m['jax']}, float64. Warm = best of the calls after the first; cold = the first "
        "call in a fresh process (compilation included). Ratio = fitter time / jaxmle time.",
        "",
    ]
    for name, out in results["workloads"].items():
        lines += [f"## {name}", ""]
        if "skipped" in out:
            lines += [f"skipped: {out['skipped']}", ""]
            continue
        if "relative_to" in out:
            lines += _relative_table(out)
        elif "rows" in out:
            base = out["rows"][0]["warm_s"]
            lines += [
                "| fitter | batch | warm (s) | cold (s) | jaxmle faster by | note |",
                "| --- | ---: | ---: | ---: | ---: | --- |",
            ]
            for r in out["rows"]:
                ratio = "-" if r["fitter"].startswith("jaxmle") else f"{r['warm_s'] / base:.1f}x"
                lines.append(
                    f"| {r['fitter']} | {r['batch']:,} | {_fmt(r['warm_s'])} | "
                    f"{_fmt(r['cold_s'])} | {ratio} | {r['note']} |"
                )
            lines += ["", "checks: " + json.dumps(out["checks"]), ""]
        elif "scaling" in out:
            lines += [f"model: {out['model']}", "", "| axis | batch | n | warm (s) | us/fit |"]
            lines += ["| --- | ---: | ---: | ---: | ---: |"]
            for r in out["scaling"]:
                per = 1e6 * r["warm_s"] / r["batch"]
                lines.append(
                    f"| {r['axis']} | {r['batch']:,} | {r['n']:,} | {r['warm_s']:.3f} | {per:.1f} |"
                )
            lines.append("")
        else:
            lines += ["```", json.dumps(out, indent=1), "```", ""]
    return "\n".join(lines)


def _relative_table(out: dict) -> list[str]:
    """Rows timed in milliseconds, each as a multiple of the first row (same batch size)."""
    base = {}
    lines = [
        f"| call | batch | warm (ms) | first call (s) | cost / {out['relative_to']} |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in out["rows"]:
        base.setdefault(r["batch"], r["warm_s"])
        first = r.get("first_call_s")
        lines.append(
            f"| {r['fitter']} | {r['batch']:,} | {1e3 * r['warm_s']:.3f} | "
            f"{'-' if first is None else f'{first:.2f}'} | {r['warm_s'] / base[r['batch']]:.2f}x |"
        )
    return lines + ["", "checks: " + json.dumps(out["checks"]), ""]


WORKLOADS = {
    "logistic": bench_logistic,
    "weibull": lambda a: bench_distribution(a, "weibull"),
    "student_t": lambda a: bench_distribution(a, "student_t"),
    "nb2": bench_nb2,
    "firth": bench_firth,
    "generic_logistic": lambda a: bench_logistic(a, generic=True),
    "scaling": bench_scaling,
    "memory": bench_memory,
    "gradient": bench_gradient,
    "study": bench_study,
    "bootstrap": bench_bootstrap,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches: a smoke run")
    parser.add_argument("--batch", type=int, help="datasets per workload (default 10,000)")
    parser.add_argument("--loop", type=int, help="datasets fitted by the CPU reference loops")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls (best is kept)")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="run these only")
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="skip cold runs")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--child-cold", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-study", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_cold:
        _child_cold(args.child_cold[0], args.child_cold[1], int(args.child_cold[2]))
        return 0
    if args.child_study:
        _child_study(args.child_study)
        return 0
    if args.child_memory:
        _child_memory(args.child_memory)
        return 0
    args.batch = args.batch or (1_000 if args.quick else 10_000)
    args.loop = args.loop or (40 if args.quick else 200)

    results = {"machine": _machine(), "args": {"batch": args.batch, "loop": args.loop}}
    results["workloads"] = {}
    ok = True
    for name in args.only or WORKLOADS:
        print(f"== {name}", flush=True)
        out = WORKLOADS[name](args)
        results["workloads"][name] = out
        if "skipped" in out:
            print(f"    skipped: {out['skipped']}")
        for r in out.get("rows", []):
            warm = "-" if r["warm_s"] is None else f"{r['warm_s']:.3e}"
            print(f"    {r['fitter']:40s} warm {warm} s  cold {_fmt(r['cold_s'])} s")
        if "checks" in out:
            print(f"    checks: {out['checks']}")
            ok &= out["checks"]["ok"]
        if "peak_over_input" in out:
            print(f"    peak RSS / input size: {out['peak_over_input']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "results.md").write_text(markdown(results))
    print(f"wrote {args.out / 'results.md'}" + ("" if ok else "  (SOME CHECKS FAILED)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
