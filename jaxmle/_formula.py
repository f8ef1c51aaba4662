"""Formulas: a pandas DataFrame and a Wilkinson formula become a regression's data.

``fit(model, df, formula="y ~ x1 + C(g)")`` builds ``{"X": <model matrix>, "y": <response>}``
with `formulaic <https://matthewwardrop.github.io/formulaic/>`_, so categoricals (``C(g)``),
interactions (``x1:x2``, ``x1*x2``), transforms (``np.log(x)``, ``center(x)``) and the intercept
(``- 1`` or ``+ 0`` removes it) work as formulaic does, and the coefficients take the model
matrix's column names (``Intercept``, ``C(g)[T.b]``, ...; the names statsmodels' formulas give,
though the column order may differ). Functions the formula calls are looked up in the calling
code's namespace, as statsmodels does.

Missing values: rows with a missing value (NaN, None, NA) in any variable the formula uses, or in
``weights``, cluster ``groups`` or ``by`` columns, are dropped, like statsmodels' formula default
``missing="drop"``; ``res.nobs`` counts the rows kept.

``fit_many(model, df, formula=..., by="site")`` builds the model matrix once on the whole frame
(so every group has the same columns and categorical levels) and then splits its rows by the
values of ``by`` (a column name, or a list of them): one fit per group, in the sorted order of
the labels (``DataFrame.groupby``'s order), groups of any sizes (a ragged batch). The labels, with
their types (an integer column gives ints), are ``res.groups``.

Only regressions take formulas (data keys ``"X"`` and ``"y"``; ``offset`` and ``trials`` cannot
be given through a formula). A distribution family fits a data array: a formula is a
``ValueError``.
"""

from __future__ import annotations

import dataclasses
import re
import sys

import numpy as np

from ._validation import validate_inputs
from .regression._base import RegressionModel

__all__ = ["Design", "build_design", "fit_many_formula", "formula_inputs"]


@dataclasses.dataclass(frozen=True)
class Design:
    """A regression's data built from a frame: one dataset per group (a single one without ``by``).

    Attributes:
        datasets: list of ``{"X": DataFrame, "y": ndarray}``.
        labels: group labels (Python scalars, tuples for several ``by`` columns), or ``None``.
        rows: each dataset's rows as positions in the input frame (missing rows dropped).
        weights: per-dataset weights, or ``None``.
        groups: per-dataset integer cluster labels, or ``None``.
        by: the ``by`` column(s), or ``None``.
        index: the input frame's index (to name rows in messages).
    """

    datasets: list
    labels: tuple | None
    rows: list
    weights: list | None
    groups: list | None
    by: object
    index: object
    spec: object = None

    def describe(self, k: int) -> str:
        """``"group site='north'"`` for dataset ``k`` (``""`` without ``by``)."""
        if self.labels is None:
            return ""
        if isinstance(self.by, str):
            return f"group {self.by}={self.labels[k]!r}"
        return f"group ({', '.join(self.by)})={self.labels[k]!r}"

    def locate(self, message: str, row_name=None) -> str:
        """A batch message about ``dataset k`` (at index ``i``) told in the frame's terms: the group
        label and the row (see :meth:`place`); other messages unchanged."""
        found = re.match(r"dataset (\d+): (.*)", message, re.S)
        if not found:
            return message
        return self.place(int(found.group(1)), found.group(2), row_name)

    def place(self, k: int, message: str, row_name=None) -> str:
        """``message`` about dataset ``k`` (at index ``i``, a position in its model matrix)
        prefixed with the group label and the row (``row_name(position)``; default: the frame's
        index label, ``row 120``)."""
        row_name = row_name or (lambda pos: f"row {_python(self.index[pos])!r}")
        where = [self.describe(k)] if self.labels is not None else []
        index = re.search(r"(?:first at index|index) \(?(\d+)", message)
        if index is not None and int(index.group(1)) < len(self.rows[k]):
            where.append(row_name(int(self.rows[k][int(index.group(1))])))
        return f"{', '.join(where)}: {message}" if where else message


def build_design(model, frame, formula: str, *, by=None, weights=None, groups=None, context=None):
    """The :class:`Design` of ``model`` for ``formula`` on ``frame`` (see the module doc).

    Args:
        model: a regression (``ValueError`` for anything else).
        frame: a pandas DataFrame (or anything ``pandas.DataFrame`` accepts, e.g. a dict).
        formula: ``"y ~ x1 + x2"``; the left side is one numeric column.
        by: ``None``, a column name or a list of column names splitting the rows into groups.
        weights, groups: ``None``, a column name, or one value per row of ``frame``.
        context: names the formula may call besides formulaic's (default: the calling code's).
    """
    pd = _pandas()
    from formulaic import Formula, model_matrix
    from formulaic.errors import FormulaicError

    if not isinstance(model, RegressionModel):
        raise ValueError(
            f"formula= builds a regression's data (X and y) from a DataFrame; {model.name} is "
            "not a regression: fit it to an array of observations instead"
        )
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string 'y ~ x1 + x2' with a response, got {formula!r}")
    if not isinstance(frame, pd.DataFrame):
        try:
            frame = pd.DataFrame(frame)
        except (ValueError, TypeError) as err:
            raise ValueError(f"formula= needs a pandas DataFrame of columns: {err}") from None
    index = frame.index
    frame = frame.reset_index(drop=True)
    context = _caller_namespace() if context is None else dict(context)
    try:
        variables = {str(v) for v in Formula(formula).required_variables}
    except FormulaicError as err:
        raise ValueError(f"formula {formula!r}: {_one_line(err)}") from None
    unknown = sorted(variables - set(map(str, frame.columns)) - set(context))
    if unknown:
        raise ValueError(
            f"formula {formula!r}: column {unknown[0]!r} not in the data; it has "
            f"{list(map(str, frame.columns))}"
        )
    by_columns = None if by is None else [by] if isinstance(by, str) else list(by)
    keep = np.ones(len(frame), dtype=bool)
    for column in by_columns or ():
        keep &= _column(frame, column, "by").notna().to_numpy()
    weights = _per_row(frame, weights, "weights", keep)
    groups = _per_row(frame, groups, "groups", keep)
    used = frame[keep]
    try:
        matrices = model_matrix(formula, used, context=context, na_action="drop", output="pandas")
    except FormulaicError as err:
        raise ValueError(f"formula {formula!r}: {_one_line(err)}") from None
    lhs, X = matrices.lhs, matrices.rhs
    if X.shape[1] == 0:
        raise ValueError(f"formula {formula!r} has no right-hand side columns")
    if lhs.shape[1] != 1:
        raise ValueError(
            f"formula {formula!r}: the response became {lhs.shape[1]} columns {list(lhs.columns)};"
            " it must be one numeric column (0/1 for binary models)"
        )
    kept = X.index.to_numpy()  # positions in the (re-indexed) frame
    X = X.astype(float)
    X.columns = [str(c) for c in X.columns]
    y = lhs.iloc[:, 0].to_numpy(dtype=float)
    codes = None if groups is None else pd.factorize(groups)[0]
    if by_columns is None:
        members = [np.arange(len(kept))]
        labels = None
    else:
        key = by if isinstance(by, str) else by_columns
        found = used.groupby(key, sort=True, observed=True).groups  # all labels, even emptied
        position = pd.Index(kept)
        labels = tuple(_python(label) for label in found)
        members = []
        for label in found:
            where = position.get_indexer(np.asarray(found[label]))
            members.append(where[where >= 0])
    datasets = [{"X": X.iloc[m], "y": y[m]} for m in members]
    return Design(
        datasets=datasets,
        labels=labels,
        rows=[kept[m] for m in members],
        weights=None if weights is None else [weights[kept[m]] for m in members],
        groups=None if codes is None else [codes[kept[m]] for m in members],
        by=by,
        index=index,
        spec=FormulaSpec(formula, matrices.model_spec, context),
    )


class FormulaSpec:
    """A fitted formula's model specification (formulaic's ``ModelSpecs``): it turns a new
    DataFrame into the design the fit used, with the same columns and categorical levels.

    Results of formula fits carry it (``res.formula``), so that post-estimation methods take a
    DataFrame: ``res.predict(new_frame)``. Compared by identity (formulaic's specs are not
    hashable), which is what a static field of a result needs.
    """

    def __init__(self, formula: str, spec, context: dict):
        self.formula = formula
        self._spec = spec
        self._context = context

    def __repr__(self) -> str:
        return f"FormulaSpec({self.formula!r})"

    def data(self, frame) -> dict:
        """``{"X": DataFrame, "y": array}`` for ``frame`` (``y`` when the response is there)."""
        pd = _pandas()
        from formulaic.errors import FormulaicError

        frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
        try:
            X = self._spec.rhs.get_model_matrix(
                frame, context=self._context, na_action="raise", output="pandas"
            )
            out = {"X": X.astype(float)}
            response = [str(v) for v in self._spec.lhs.required_variables]
            if all(name in frame.columns for name in response):
                y = self._spec.lhs.get_model_matrix(frame, context=self._context, output="pandas")
                out["y"] = y.iloc[:, 0].to_numpy(dtype=float)
        except (FormulaicError, ValueError, KeyError) as err:
            message = f"formula {self.formula!r} on the new data: {_one_line(err)}"
            raise ValueError(message) from None
        out["X"].columns = [str(c) for c in out["X"].columns]
        return out


def formula_inputs(model, data, formula, weights, groups):
    """``(data, weights, groups, spec)`` of :func:`~jaxmle.fit` for ``formula`` on the frame
    ``data``; ``spec`` is the :class:`FormulaSpec` the result keeps.

    The inputs are checked here, where their rows are known: a ``ValueError`` names the frame's
    row label (``row 120: ...``, as :func:`fit_many_formula`'s do) rather than a position in the
    model matrix, which rows with missing values shifted."""
    design = build_design(model, data, formula, weights=weights, groups=groups)
    first = lambda values: None if values is None else values[0]  # noqa: E731
    data, weights, groups = design.datasets[0], first(design.weights), first(design.groups)
    bound = model.bind(data)  # as fit binds it (cached): the same model, named by the frame
    try:
        validate_inputs(bound, {key: np.asarray(value) for key, value in data.items()}, weights)
    except ValueError as err:
        raise ValueError(design.place(0, str(err))) from None
    return data, weights, groups, design.spec


def fit_many_formula(fit_many, model, data, formula, by, options: dict):
    """:func:`~jaxmle.fit_many` of ``model`` on the groups of ``data`` (``options``: its other
    keyword arguments). Messages name the group labels and rows; ``res.groups`` holds the labels."""
    if formula is None:
        raise ValueError("by= needs formula=: the groups' data are built from a formula")
    options = dict(options)
    design = build_design(
        model, data, formula, by=by, weights=options.pop("weights"), groups=options.pop("groups")
    )
    try:
        res = fit_many(
            model, design.datasets, weights=design.weights, groups=design.groups, **options
        )
    except ValueError as err:
        raise ValueError(design.locate(str(err))) from None
    if res.messages:
        refused = {k: design.locate(res.messages[k]) for k in res.messages.refused}
        messages = type(res.messages)(refused, len(res.messages))  # _results.Messages
        res = dataclasses.replace(res, messages=messages)
    res = dataclasses.replace(res, formula=design.spec)
    return with_groups(res, design.labels)


def with_groups(res, labels):
    """``res`` carrying the group labels as ``res.groups``."""
    return res if labels is None else dataclasses.replace(res, groups=tuple(labels))


def _pandas():
    try:
        import formulaic  # noqa: F401
        import pandas as pd
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "formula= needs pandas and formulaic: pip install 'jaxmle[study]'"
        ) from err
    return pd


def _column(frame, name, what):
    if name not in frame.columns:
        raise ValueError(f"{what}: column {name!r} not in the data; it has {list(frame.columns)}")
    return frame[name]


def _per_row(frame, values, what, keep):
    """``values`` (a column name or one value per row) as a numpy array; clears ``keep`` where
    missing."""
    if values is None:
        return None
    if isinstance(values, str):
        values = _column(frame, values, what)
    values = np.asarray(values)
    if values.shape != (len(frame),):
        raise ValueError(f"{what} must have one value per row ({len(frame)}), got {values.shape}")
    keep &= ~_pandas().isna(values)
    return values


def _python(label):
    """Numpy scalars (also inside tuples) as Python scalars: int labels stay ints."""
    if isinstance(label, tuple):
        return tuple(_python(part) for part in label)
    return label.item() if isinstance(label, np.generic) else label


def _one_line(err) -> str:
    return " ".join(str(err).split())


def _caller_namespace() -> dict:
    """Globals and locals of the first frame outside jaxmle (the user's call)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "jaxmle":
        frame = frame.f_back
    if frame is None:
        return {}
    return {**frame.f_globals, **frame.f_locals}
