"""The result of a simulation study: per-replicate results and performance tables."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .._status import Status
from ._design import Design
from ._measures import estimate_measures, interval_measures, proportion

__all__ = ["Study"]

COLUMNS = ("scenario", "n", "param", "ci", "measure", "value", "mcse", "truth", "n_used")


@dataclasses.dataclass(frozen=True, eq=False)
class Study:
    """A finished simulation study (:func:`~jaxmle.study`).

    Attributes:
        model: the fitted model (bound to the generated data's layout).
        design: the checked :class:`~jaxmle.study._design.Design` (truths, sizes, n_rep, ...).
        results: ``{(scenario, n): arrays}`` with per-replicate ``estimate``/``se`` ``(R, k)``,
            ``lower``/``upper`` ``(R, len(ci), k)``, ``status``, ``n_iter``, ``attempts``,
            ``rep`` ``(R,)``, in ``model.param_names`` order.
        include_failed: whether non-converged replicates enter the measures.
        chunks_computed, chunks_loaded: chunks fitted in this call and loaded from the
            checkpoint.
        seconds: wall time of the call.
    """

    model: object
    design: Design
    results: dict
    include_failed: bool
    chunks_computed: int
    chunks_loaded: int
    seconds: float

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.model.param_names)

    def truth_vector(self, scenario: int) -> np.ndarray:
        """The true values of scenario ``scenario`` flattened in ``param_names`` order."""
        truth = self.design.truths[scenario]
        return np.concatenate([np.ravel(truth[name]) for name in self.model.specs])

    def included(self, scenario: int, n: int) -> np.ndarray:
        """Which replicates of a cell enter the measures: converged ones, or with
        ``include_failed`` every replicate whose estimates are finite."""
        cell = self.results[(scenario, n)]
        if self.include_failed:
            return np.isfinite(cell["estimate"]).all(axis=1)
        return cell["status"] == Status.CONVERGED

    # -- tables -----------------------------------------------------------------------------------
    @functools.cached_property
    def performance(self):
        """Tidy ``pandas.DataFrame``: one row per (scenario, n, param, ci, measure) with columns
        ``scenario, n, param, ci, measure, value, mcse, truth, n_used`` (``ci`` is ``""`` for
        measures of the point estimate; ``n_used`` counts the replicates behind the row)."""
        return _pandas().DataFrame(self.performance_rows(), columns=list(COLUMNS))

    def performance_rows(self) -> list[tuple]:
        """The rows of :attr:`performance` as tuples (no pandas needed)."""
        rows = []
        for (s, n), cell in self.results.items():
            keep = self.included(s, n)
            truth = self.truth_vector(s)
            drawn = int(cell["attempts"].sum())
            converged = proportion(np.sum(cell["status"] == Status.CONVERGED), drawn)
            for j, name in enumerate(self.param_names):
                est, se = cell["estimate"][keep, j], cell["se"][keep, j]
                base = (s, n, name)
                for measure, (value, mcse) in estimate_measures(est, se, truth[j]).items():
                    rows.append((*base, "", measure, value, mcse, truth[j], est.size))
                null = self._null(name)
                for m, method in enumerate(self.design.ci):
                    lower, upper = cell["lower"][keep, m, j], cell["upper"][keep, m, j]
                    centre = est.mean() if est.size else np.nan  # no replicate included
                    measures = interval_measures(lower, upper, truth[j], centre, null)
                    used = int(np.sum(~(np.isnan(lower) | np.isnan(upper))))
                    for measure, (value, mcse) in measures.items():
                        rows.append((*base, method, measure, value, mcse, truth[j], used))
                rows.append((*base, "", "converged", *converged, truth[j], drawn))
        return rows

    def _null(self, flat_name: str):
        key = flat_name.split("[", 1)[0]
        return self.design.null.get(key)

    @functools.cached_property
    def replicates(self):
        """``pandas.DataFrame``, one row per (scenario, n, replicate, param): ``truth``,
        ``estimate``, ``se``, ``{ci}_lower``/``{ci}_upper`` for each interval method, ``status``
        (name), ``attempts`` (datasets drawn) and ``included`` (enters the measures)."""
        columns = {name: [] for name in ("scenario", "n", "rep", "param", "truth")}
        columns.update(estimate=[], se=[])
        for method in self.design.ci:
            columns[f"{method}_lower"], columns[f"{method}_upper"] = [], []
        columns.update(status=[], attempts=[], included=[])
        k = len(self.param_names)
        labels = np.array([s.name.lower() for s in Status])
        for (s, n), cell in self.results.items():
            r = cell["rep"].size
            columns["scenario"].append(np.full(r * k, s))
            columns["n"].append(np.full(r * k, n))
            columns["rep"].append(np.repeat(cell["rep"], k))
            columns["param"].append(np.tile(np.array(self.param_names, dtype=object), r))
            columns["truth"].append(np.tile(self.truth_vector(s), r))
            columns["estimate"].append(cell["estimate"].ravel())
            columns["se"].append(cell["se"].ravel())
            for m, method in enumerate(self.design.ci):
                columns[f"{method}_lower"].append(cell["lower"][:, m, :].ravel())
                columns[f"{method}_upper"].append(cell["upper"][:, m, :].ravel())
            columns["status"].append(np.repeat(labels[cell["status"]], k))
            columns["attempts"].append(np.repeat(cell["attempts"], k))
            columns["included"].append(np.repeat(self.included(s, n), k))
        return _pandas().DataFrame({name: np.concatenate(v) for name, v in columns.items()})

    def plot(self, kind: str = "coverage", **options):
        """A matplotlib figure: ``"coverage"``, ``"bias"``, ``"zip"`` or ``"distribution"``;
        see :mod:`jaxmle.study._plots` for the options."""
        from ._plots import plot

        return plot(self, kind, **options)

    def __repr__(self) -> str:
        cells = len(self.results)
        return (
            f"Study({self.model.name}, {len(self.design.truths)} scenario(s) x sizes "
            f"{list(self.design.sizes)}, {self.design.n_rep} replicates each = {cells} cells; "
            f"ci={list(self.design.ci)}; {self.chunks_computed} chunks computed, "
            f"{self.chunks_loaded} loaded, {self.seconds:.1f} s)"
        )


def _pandas():
    try:
        import pandas
    except ImportError as err:
        raise ImportError(
            "study tables need pandas: pip install 'jaxmle[study]' (or pip install pandas)"
        ) from err
    return pandas
