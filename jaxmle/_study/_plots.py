"""Plots of a simulation study (matplotlib, imported on first use).

* ``"coverage"``: coverage against ``n`` for every interval method, with +-1.96 Monte Carlo SE
  bars and the nominal level; one panel per parameter.
* ``"bias"``: bias against ``n`` with +-1.96 MCSE bars and zero; one panel per parameter.
* ``"zip"``: the zip plot of Morris, White & Crowther (2019, Fig. 4) for one (scenario, n,
  parameter): every replicate's interval, ranked vertically by the fractional centile of
  ``|theta - centre| / half-width`` (``|z| / z_crit`` for a Wald interval), non-covering intervals
  in red; the share of red is the non-coverage, drawn with its Monte Carlo interval.
* ``"distribution"``: the sampling distribution of the estimate (histogram) against the
  asymptotic normal ``N(theta, ModSE^2)``, one panel per ``n``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot", "KINDS"]

KINDS = ("coverage", "bias", "zip", "distribution")
Z_95 = 1.959963984540054


def plot(st, kind: str, *, param=None, scenario: int = 0, n=None, ci=None):
    """Draw one of :data:`KINDS` for study ``st``; returns the ``matplotlib.figure.Figure``.

    Args:
        param: a flat parameter name (``"rate"``, ``"beta[1]"``); default every parameter for
            ``"coverage"``/``"bias"``, the first for the others.
        scenario: the scenario shown by ``"zip"`` and ``"distribution"`` (``"coverage"`` and
            ``"bias"`` show every scenario).
        n: the sample size of ``"zip"`` (default the smallest).
        ci: interval methods to show (default all of the study's).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "study plots need matplotlib: pip install 'jaxmle[study]' (or pip install matplotlib)"
        ) from err
    params = _params(st, param, every=kind in ("coverage", "bias"))
    methods = _methods(st, ci)
    if scenario not in range(len(st.design.truths)):
        raise ValueError(f"scenario must be in 0..{len(st.design.truths) - 1}, got {scenario!r}")
    if kind in ("coverage", "bias"):
        return _against_n(plt, st, kind, params, methods)
    if kind == "zip":
        size = min(st.design.sizes) if n is None else n
        if size not in st.design.sizes:
            raise ValueError(f"n must be one of the study's sizes {list(st.design.sizes)}")
        return _zip(plt, st, params[0], methods, scenario, size)
    return _distribution(plt, st, params[0], scenario)


def _params(st, param, every: bool) -> list[str]:
    names = list(st.param_names)
    if param is None:
        return names if every else names[:1]
    chosen = [param] if isinstance(param, str) else list(param)
    unknown = [p for p in chosen if p not in names]
    if unknown:
        raise ValueError(f"param {unknown} not in the study's parameters {names}")
    return chosen


def _methods(st, ci) -> list[str]:
    if ci is None:
        return list(st.design.ci)
    chosen = [ci] if isinstance(ci, str) else list(ci)
    unknown = [m for m in chosen if m not in st.design.ci]
    if unknown:
        raise ValueError(f"ci {unknown} not computed by the study (it has {list(st.design.ci)})")
    return chosen


def _against_n(plt, st, measure, params, methods):
    table = st.performance
    fig, axes = plt.subplots(
        1, len(params), figsize=(max(5.5, 4.2 * len(params)), 3.6), squeeze=False
    )
    scenarios = range(len(st.design.truths))
    for ax, name in zip(axes[0], params, strict=True):
        rows = table[(table.param == name) & (table.measure == measure)]
        lines = methods if measure == "coverage" else [""]
        for s in scenarios:
            for method in lines:
                part = rows[(rows.scenario == s) & (rows.ci == method)].sort_values("n")
                label = " ".join(
                    x for x in (f"scenario {s}" if len(scenarios) > 1 else "", method) if x
                )
                ax.errorbar(
                    part.n,
                    part.value,
                    yerr=Z_95 * part.mcse,
                    marker="o",
                    capsize=3,
                    label=label or None,
                )
        reference = st.design.level if measure == "coverage" else 0.0
        ax.axhline(reference, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xticks(st.design.sizes, [str(n) for n in st.design.sizes])
        ax.minorticks_off()
        ax.set_xlabel("n")
        ax.set_ylabel(measure)
        ax.set_title(name)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.suptitle(f"{st.model.name}: {measure} (bars: ±1.96 Monte Carlo SE)", fontsize="medium")
    fig.tight_layout()
    return fig


def _zip(plt, st, name, methods, scenario, n):
    cell = st.results[(scenario, n)]
    j = st.param_names.index(name)
    keep = st.included(scenario, n)
    truth = st.truth_vector(scenario)[j]
    fig, axes = plt.subplots(
        1, len(methods), figsize=(max(5.5, 4.2 * len(methods)), 4.2), squeeze=False
    )
    for ax, method in zip(axes[0], methods, strict=True):
        m = st.design.ci.index(method)
        lower, upper = cell["lower"][keep, m, j], cell["upper"][keep, m, j]
        found = ~(np.isnan(lower) | np.isnan(upper))
        lower, upper = lower[found], upper[found]
        centre, half = (lower + upper) / 2.0, (upper - lower) / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            distance = np.abs(truth - centre) / half
        order = np.argsort(distance, kind="stable")
        centile = 100.0 * (np.arange(order.size) + 0.5) / order.size
        covers = (lower[order] <= truth) & (truth <= upper[order])
        for mask, colour in ((covers, "tab:blue"), (~covers, "tab:red")):
            ax.hlines(centile[mask], lower[order][mask], upper[order][mask], color=colour, lw=0.6)
        ax.axvline(truth, color="black", linewidth=1)
        coverage = covers.mean() if covers.size else np.nan
        mcse = np.sqrt(coverage * (1.0 - coverage) / max(covers.size, 1))
        for y in (100 * st.design.level, *(100 * (coverage + np.array([-1, 1]) * Z_95 * mcse))):
            ax.axhline(y, color="grey", linestyle="--" if y == 100 * st.design.level else ":")
        ax.set_ylim(0, 100)
        ax.set_xlabel(f"{method} interval for {name}")
        ax.set_ylabel("fractional centile of |z|")
        ax.set_title(f"coverage {coverage:.3f}")
    fig.suptitle(f"{st.model.name}, scenario {scenario}, n = {n}: zip plot")
    fig.tight_layout()
    return fig


def _distribution(plt, st, name, scenario):
    j = st.param_names.index(name)
    truth = st.truth_vector(scenario)[j]
    sizes = st.design.sizes
    fig, axes = plt.subplots(
        1, len(sizes), figsize=(max(5.5, 3.6 * len(sizes)), 3.4), squeeze=False
    )
    for ax, n in zip(axes[0], sizes, strict=True):
        cell = st.results[(scenario, n)]
        keep = st.included(scenario, n)
        estimate, se = cell["estimate"][keep, j], cell["se"][keep, j]
        ax.hist(estimate, bins=60, density=True, color="tab:blue", alpha=0.6, label="estimates")
        modelse = np.sqrt(np.mean(se**2))
        grid = np.linspace(estimate.min(), estimate.max(), 400)
        density = np.exp(-0.5 * ((grid - truth) / modelse) ** 2) / (modelse * np.sqrt(2 * np.pi))
        ax.plot(grid, density, color="black", label="N(truth, ModSE²)")
        ax.axvline(truth, color="grey", linestyle="--")
        ax.set_title(f"n = {n}")
        ax.set_xlabel(name)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"{st.model.name}, scenario {scenario}: sampling distribution of {name}")
    fig.tight_layout()
    return fig
