"""Self-check and timings for the reference side of the benchmark (bench/references.py).

Run from the repository root::

    python bench/check_references.py [--small 20] [--loop 200] [--batch 10000]

1. On ``--small`` datasets per model, checks that the references agree where
   they should: hand-written vmapped Newton and glmax against statsmodels Logit
   (coefficients to 1e-6), and that every fitter's log-likelihood is at least
   the log-likelihood at the true parameters (the MLE property).
2. Times the per-dataset CPU loops (statsmodels, scipy) on ``--loop`` datasets
   and extrapolates to 10,000; times the JAX logistic fitters on ``--batch``
   datasets, cold (first call, compiling) and warm (best of 3).

Exits non-zero if a check fails.
"""

import argparse
import sys

import jax
import numpy as np
import references as ref
from scipy import stats

jax.config.update("jax_enable_x64", True)

AGREE_TOL = 1e-6
EXTRAPOLATE_TO = 10_000


def _linear_predictor(X, beta):
    """``X @ beta`` per dataset, for ``beta`` shared (p,) or per dataset (B, p)."""
    return (X @ beta[..., None])[..., 0]


def _logit_loglik(X, y, beta):
    eta = _linear_predictor(X, beta)
    return np.sum(y * eta - np.logaddexp(0.0, eta), axis=-1)


def _nb2_loglik(X, y, beta, alpha):
    mu = np.exp(_linear_predictor(X, beta))
    return stats.nbinom.logpmf(y, 1.0 / alpha, 1.0 / (1.0 + alpha * mu)).sum(axis=-1)


def _report(name: str, ok: bool, detail: str) -> bool:
    print(f"  [{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return ok


def _check_mle(name: str, loglik_fit, loglik_true) -> bool:
    """The fitted log-likelihood must not fall below the one at the true parameters."""
    gap = np.min(loglik_fit - loglik_true)
    return _report(name, gap > -1e-6, f"min(loglik_fit - loglik_true) = {gap:.3g}")


def check_agreement(n: int) -> bool:
    """Cross-check the references on ``n`` datasets per model; True if all pass."""
    print(f"Agreement checks on {n} datasets per model")
    ok = True

    X, y = ref.make_logistic_data(0, n)
    sm_params, sm_bse, sm_llf = ref.statsmodels_logit_loop(X, y)
    ok &= _check_mle("statsmodels Logit", sm_llf, _logit_loglik(X, y, ref.logistic_true_beta(5)))
    ok &= _report(
        "statsmodels Logit llf", np.allclose(sm_llf, _logit_loglik(X, y, sm_params)), "recomputed"
    )
    ok &= _report("statsmodels Logit bse", bool(np.all(sm_bse > 0)), "all positive")
    newton = ref.handwritten_vmap_newton_logit(X, y)
    diff = np.max(np.abs(newton - sm_params))
    ok &= _report("hand-written Newton vs statsmodels", diff < AGREE_TOL, f"max |diff| {diff:.2e}")
    if ref.glmax_logit is None:
        print("  [skip] glmax is not installed")
    else:
        diff = np.max(np.abs(ref.glmax_logit(X, y) - sm_params))
        ok &= _report("glmax vs statsmodels", diff < AGREE_TOL, f"max |diff| {diff:.2e}")

    X, y = ref.make_nb2_data(0, n)
    params, bse, llf = ref.statsmodels_nb2_loop(X, y)
    truth = _nb2_loglik(X, y, ref.nb2_true_beta(3), ref.NB2_TRUE_ALPHA)
    ok &= _check_mle("statsmodels NB2", llf, truth)
    ok &= _report(
        "statsmodels NB2 llf",
        np.allclose(llf, _nb2_loglik(X, y, params[:, :-1], params[:, -1:])),
        f"recomputed; mean alpha {params[:, -1].mean():.3f} (true {ref.NB2_TRUE_ALPHA})",
    )

    x = ref.make_weibull_data(0, n)
    shape, scale, loglik = ref.scipy_weibull_loop(x)
    w = ref.WEIBULL_TRUE
    truth = stats.weibull_min.logpdf(x, w["shape"], 0.0, w["scale"]).sum(axis=1)
    ok &= _check_mle("scipy Weibull", loglik, truth)
    print(f"      mean shape {shape.mean():.3f}, scale {scale.mean():.3f} (true {w})")

    x = ref.make_student_t_data(0, n)
    df, loc, scale, loglik = ref.scipy_t_loop(x)
    t = ref.STUDENT_T_TRUE
    truth = stats.t.logpdf(x, t["df"], t["loc"], t["scale"]).sum(axis=1)
    ok &= _check_mle("scipy Student-t", loglik, truth)
    print(
        f"      median df {np.median(df):.2f}, mean loc {loc.mean():.3f}, "
        f"scale {scale.mean():.3f} (true {t})"
    )
    return ok


def time_loops(n: int) -> None:
    """Per-fit cost of the CPU loops on ``n`` datasets, extrapolated to 10,000."""
    print(f"\nCPU loops on {n} datasets (one call each; extrapolated to {EXTRAPOLATE_TO:,})")
    logit = ref.make_logistic_data(1, n)
    nb2 = ref.make_nb2_data(1, n)
    cases = [
        ("statsmodels Logit (n=500, p=5)", ref.statsmodels_logit_loop, logit),
        ("statsmodels NB2 (n=500, p=3+alpha)", ref.statsmodels_nb2_loop, nb2),
        ("scipy weibull_min.fit (n=200)", ref.scipy_weibull_loop, (ref.make_weibull_data(1, n),)),
        ("scipy t.fit (n=200)", ref.scipy_t_loop, (ref.make_student_t_data(1, n),)),
    ]
    for name, fn, args in cases:
        seconds = ref.time_call(fn, *args, repeats=0)["cold"]
        print(
            f"  {name:38s} {1e3 * seconds / n:8.3f} ms/fit"
            f"   -> {seconds / n * EXTRAPOLATE_TO:8.1f} s per {EXTRAPOLATE_TO:,}"
        )


def time_jax(n: int) -> None:
    """Cold and warm wall time of the JAX logistic fitters on ``n`` datasets."""
    print(f"\nJAX logistic fitters on {n:,} datasets (n=500, p=5; inputs already on device)")
    X, y = (jax.device_put(a) for a in ref.make_logistic_data(2, n))
    fitters = [("hand-written vmap Newton (6 steps)", ref.handwritten_vmap_newton_logit)]
    if ref.glmax_logit is not None:
        fitters.append(("glmax vmap IRLS (tol 1e-8)", ref.glmax_logit))
    for name, fn in fitters:
        t = ref.time_call(fn, X, y)
        print(
            f"  {name:38s} cold {t['cold']:7.3f} s   warm {t['warm']:7.3f} s"
            f"   ({1e6 * t['warm'] / n:.1f} us/fit warm)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20, help="datasets per agreement check")
    parser.add_argument("--loop", type=int, default=200, help="datasets for the CPU loops")
    parser.add_argument("--batch", type=int, default=10_000, help="datasets for the JAX fitters")
    args = parser.parse_args()

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, x64 enabled")
    if ref.glmax is not None:
        print(f"glmax {ref.glmax.__version__}")
    ok = check_agreement(args.small)
    time_loops(args.loop)
    time_jax(args.batch)
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
