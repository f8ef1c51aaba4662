"""Performance measures of a simulation study with their Monte Carlo standard errors.

Definitions follow Morris, White & Crowther (2019), "Using simulation studies to evaluate
statistical methods", Statistics in Medicine 38:2074-2102, Table 6. With ``R`` included
replicates, estimates ``t_i`` with mean ``m``, model standard errors ``s_i``, the true value
``theta`` and EmpSE the sample SD of the ``t_i`` (divisor ``R - 1``):

* ``bias = m - theta``; MCSE ``EmpSE / sqrt(R)``. ``rel_bias = bias / theta``; MCSE divided by
  ``|theta|`` too (no row when ``theta = 0``).
* ``empse = EmpSE``; MCSE ``EmpSE / sqrt(2 (R - 1))``.
* ``mse = sum (t_i - theta)^2 / R``; MCSE ``sqrt(sum ((t_i - theta)^2 - MSE)^2 / (R (R - 1)))``.
  ``rmse = sqrt(MSE)``; MCSE ``MCSE(MSE) / (2 RMSE)`` (delta method).
* ``modelse = sqrt(mean s_i^2)``; MCSE ``sqrt(V / (4 R ModSE^2))`` with ``V`` the sample variance
  of the ``s_i^2``.
* ``relerr_modelse = 100 (ModSE / EmpSE - 1)``; MCSE
  ``100 (ModSE / EmpSE) sqrt(V / (4 R ModSE^4) + 1 / (2 (R - 1)))``.
* ``coverage = mean 1(l_i <= theta <= u_i)``, ``be_coverage = mean 1(l_i <= m <= u_i)`` (bias
  eliminated), ``power = mean 1(theta_0 outside [l_i, u_i])``; MCSE ``sqrt(p (1 - p) / R)``.
* ``width = mean (u_i - l_i)``; MCSE ``sd(u - l) / sqrt(R)``.
* ``converged`` = converged fits / datasets drawn (re-simulated ones included); binomial MCSE.

``power`` is the rejection rate of the test of ``theta = theta_0`` at level ``1 - level`` that the
interval inverts (the Wald interval gives the Wald test): the power when ``theta_0 != theta``, the
type I error rate when ``theta_0 = theta``. Interval measures use the replicates whose interval
exists (a NaN bound, such as a profile bound that was not found, leaves the replicate out of that
method's measures).
"""

from __future__ import annotations

import numpy as np

__all__ = ["estimate_measures", "interval_measures", "proportion"]


def estimate_measures(estimate: np.ndarray, se: np.ndarray, truth: float) -> dict:
    """``{measure: (value, mcse)}`` for the measures of the point estimates and model SEs."""
    r = estimate.size
    if r < 2:
        return {}
    mean = estimate.mean()
    empse = estimate.std(ddof=1)
    bias = mean - truth
    squared_error = (estimate - truth) ** 2
    mse = squared_error.mean()
    mse_mcse = np.sqrt(((squared_error - mse) ** 2).sum() / (r * (r - 1)))
    rmse = np.sqrt(mse)
    variance = se**2
    modelse = np.sqrt(variance.mean())
    var_of_variance = variance.var(ddof=1)
    ratio = modelse / empse
    out = {
        "bias": (bias, empse / np.sqrt(r)),
        "empse": (empse, empse / np.sqrt(2.0 * (r - 1))),
        "modelse": (modelse, np.sqrt(var_of_variance / (4.0 * r * modelse**2))),
        "relerr_modelse": (
            100.0 * (ratio - 1.0),
            100.0
            * ratio
            * np.sqrt(var_of_variance / (4.0 * r * modelse**4) + 1.0 / (2.0 * (r - 1))),
        ),
        "mse": (mse, mse_mcse),
        "rmse": (rmse, mse_mcse / (2.0 * rmse)),
    }
    if truth != 0:
        out["rel_bias"] = (bias / truth, empse / (np.sqrt(r) * abs(truth)))
    return {name: (float(v), float(m)) for name, (v, m) in out.items()}


def interval_measures(
    lower: np.ndarray, upper: np.ndarray, truth: float, mean_estimate: float, null
) -> dict:
    """``{measure: (value, mcse)}`` for one interval method; ``null`` may be ``None``."""
    found = ~(np.isnan(lower) | np.isnan(upper))
    lower, upper = lower[found], upper[found]
    r = lower.size
    if r == 0:
        return {}
    out = {
        "coverage": proportion(np.sum((lower <= truth) & (truth <= upper)), r),
        "be_coverage": proportion(np.sum((lower <= mean_estimate) & (mean_estimate <= upper)), r),
    }
    if null is not None:
        out["power"] = proportion(np.sum((null < lower) | (upper < null)), r)
    width = upper - lower
    spread = width.std(ddof=1) if r > 1 else np.nan
    out["width"] = (float(width.mean()), float(spread / np.sqrt(r)))
    return out


def proportion(count, total: int) -> tuple[float, float]:
    """A proportion and its binomial Monte Carlo SE ``sqrt(p (1 - p) / total)``."""
    p = float(count) / total
    return p, float(np.sqrt(p * (1.0 - p) / total))
