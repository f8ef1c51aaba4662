"""`jaxmle fit FILE`: fit a built-in model to every group of a CSV or Parquet file in one batch.

Regressions take a formula (``--formula "y ~ x1 + C(g)"``, through formulaic) or ``--y`` and
``--x`` columns (with a ``const`` column unless ``--no-intercept``); distribution families fit one
column (``--column``). ``--by`` splits the rows into groups of any sizes, fitted together by
:func:`~jaxmle.fit_many`; ``--groups`` names the cluster column of ``--cov-type cluster``.

The result is one row per group: the group label (with its type: an integer column stays
integers), then for every parameter its estimate, ``se()``, ``z()``, ``p()``, ``lower()`` and
``upper()`` (Wald interval at ``--level``), then the log-likelihood, observations, AIC, iterations
and status. It is printed, or written at full precision with ``--out`` (``.parquet`` or ``.pq``:
Parquet; anything else: CSV).

Files are read by pandas (``pyarrow`` for Parquet). An empty cell in a column the model uses is
an error (``--missing drop`` drops such rows instead, like statsmodels), and so is a non-numeric
cell in a numeric column; every input problem is one line naming the column, the group and the
file line (data row for Parquet).
"""

from __future__ import annotations

import sys

import numpy as np

from ._cli_models import find_model

PARQUET = (".parquet", ".pq")
COV_TYPES = ("observed", "expected", "HC0", "HC1", "cluster")


def read_table(path: str):
    """``(frame, where)``: the file's rows as a DataFrame and ``where(i)``, how row ``i`` is
    named in messages (its line in a CSV file, the header being line 1)."""
    import pandas as pd

    try:
        if path.lower().endswith(PARQUET):
            frame = pd.read_parquet(path)
            return frame.reset_index(drop=True), lambda i: f"data row {i + 1}"
        frame = pd.read_csv(path, skip_blank_lines=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError, ImportError) as err:
        raise ValueError(f"{path}: cannot read it: {_one_line(err)}") from None
    blank = frame.isna().all(axis=1).to_numpy()
    lines = np.flatnonzero(~blank) + 2  # header is line 1 (quoted line breaks not counted)
    frame = frame[~blank].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"{path}: no data rows")
    return frame, lambda i: f"line {int(lines[i])}"


def run(args) -> int:
    import jaxmle as jm

    from .regression._base import RegressionModel

    factory = find_model(args.model)
    is_regression = issubclass(factory, RegressionModel)
    cov_type = check_options(args, is_regression)
    frame, where = read_table(args.file)
    problem = InputProblems(args, frame, where)
    if args.formula:
        from ._formula import build_design

        problem.check_formula(args.formula)
        model = factory()
        design = build_design(
            model, frame, args.formula, by=args.by, groups=args.groups, context={}
        )
        datasets, labels, rows = design.datasets, design.labels, design.rows
        clusters = design.groups
    else:
        model, datasets, labels, rows, clusters = columns_design(factory, is_regression, problem)
    try:
        res = jm.fit_many(model, datasets, groups=clusters, cov_type=cov_type, errors=args.errors)
    except (ValueError, TypeError) as err:
        raise ValueError(problem.locate(str(err), labels, rows)) from None
    messages = None
    if res.messages:
        messages = [problem.locate(m, labels, rows) if m else "" for m in res.messages]
    table = results_table(res, labels, args.by, args.level, messages)
    if args.out:
        if args.out.lower().endswith(PARQUET):
            table.to_parquet(args.out, index=False)
        else:
            table.to_csv(args.out, index=False)
        print(f"wrote {len(table)} fits to {args.out}", file=sys.stderr)
    else:
        import pandas as pd

        with pd.option_context("display.max_columns", None, "display.width", 200):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    return 0


def check_options(args, is_regression: bool) -> str:
    """The covariance type, after checking that the options go together."""
    if args.formula and (args.y or args.x or args.column):
        raise ValueError("--formula replaces --y/--x/--column: give one or the other")
    if args.formula and not is_regression:
        raise ValueError(
            f"--formula needs a regression model; {args.model} is a distribution family: "
            "use --column COLUMN"
        )
    if not args.formula:
        if is_regression and (not args.y or not args.x):
            raise ValueError('regressions need --formula "y ~ x1 + x2" or --y COLUMN --x COL1,COL2')
        if not is_regression and not args.column:
            raise ValueError("distribution families need --column COLUMN")
    cov_type = args.cov_type or ("cluster" if args.groups else "observed")
    if cov_type not in COV_TYPES:
        raise ValueError(f"--cov-type must be one of {', '.join(COV_TYPES)}; got {cov_type!r}")
    if cov_type == "cluster" and not args.groups:
        raise ValueError("--cov-type cluster needs --groups COLUMN (the cluster of each row)")
    if args.groups and cov_type != "cluster":
        raise ValueError(f"--groups is for --cov-type cluster, not {cov_type}")
    if not 0.0 < args.level < 1.0:
        raise ValueError(f"--level must lie in (0, 1), got {args.level}")
    return cov_type


class InputProblems:
    """Checks of the file's cells, told as ``FILE, group by=label, line L: ...``."""

    def __init__(self, args, frame, where):
        self.args, self.frame, self.where = args, frame, where

    def place(self, row: int) -> str:
        parts = [self.args.file]
        if self.args.by is not None:
            parts.append(f"group {self.args.by}={_python(self.frame[self.args.by].iloc[row])!r}")
        return ", ".join([*parts, self.where(row)])

    def need(self, name: str):
        if name not in self.frame.columns:
            raise ValueError(
                f"{self.args.file}: column {name!r} not in the file; it has "
                f"{list(map(str, self.frame.columns))}"
            )
        return self.frame[name]

    def check_cells(self, name: str, numeric: bool) -> None:
        """No empty cell (unless ``--missing drop``); numbers only in a numeric column."""
        import pandas as pd

        column = self.need(name)
        missing = column.isna().to_numpy()
        if missing.any() and self.args.missing == "error":
            row = int(np.argmax(missing))
            raise ValueError(
                f"{self.place(row)}: empty cell in column {name!r} (--missing drop skips such rows)"
            )
        if numeric and not pd.api.types.is_numeric_dtype(column):
            parsed = pd.to_numeric(column, errors="coerce")
            bad = (parsed.isna() & ~column.isna()).to_numpy()
            row = int(np.argmax(bad))
            raise ValueError(
                f"{self.place(row)}: column {name!r} has a non-numeric value {column.iloc[row]!r}"
            )

    def check_formula(self, formula: str) -> None:
        """The formula's columns exist, have no empty cell, and hold numbers where most do."""
        import pandas as pd
        from formulaic import Formula
        from formulaic.errors import FormulaicError

        try:
            variables = sorted(str(v) for v in Formula(formula).required_variables)
        except FormulaicError as err:
            raise ValueError(f"--formula {formula!r}: {_one_line(err)}") from None
        for name in variables:
            if name not in self.frame.columns:
                raise ValueError(
                    f"{self.args.file}: column {name!r} of the formula not in the file; it has "
                    f"{list(map(str, self.frame.columns))}"
                )
            column = self.frame[name]
            # Text where most cells are numbers is a typo, not a categorical variable.
            parsed = pd.to_numeric(column, errors="coerce")
            numeric = parsed.notna().sum() > (column.notna() & parsed.isna()).sum()
            self.check_cells(name, numeric)
        for name in (self.args.by, self.args.groups):
            if name is not None:
                self.check_cells(name, numeric=False)

    def locate(self, message: str, labels, rows) -> str:
        """A batch message about ``dataset k`` told in the file's terms."""
        import re

        found = re.match(r"dataset (\d+): (.*)", message, re.S)
        if not found:
            return f"{self.args.file}: {message}"
        k, rest = int(found.group(1)), found.group(2)
        index = re.search(r"(?:first at index|index) \(?(\d+)", rest)
        row = None
        if index is not None and int(index.group(1)) < len(rows[k]):
            row = int(rows[k][int(index.group(1))])
        label = labels[k] if labels is not None else None
        if row is None and label is None:
            return f"{self.args.file}: {rest}"
        parts = [self.args.file]
        if label is not None:
            parts.append(f"group {self.args.by}={label!r}")
        if row is not None:
            parts.append(self.where(row))
        return f"{', '.join(parts)}: {rest}"


def columns_design(factory, is_regression: bool, problem: InputProblems):
    """``(model, datasets, labels, rows, clusters)`` from ``--y/--x`` or ``--column``."""
    args, frame = problem.args, problem.frame
    if is_regression:
        names = [n for n in args.x.split(",") if n]
        used = [args.y, *names]
    else:
        names, used = None, [args.column]
    for name in used:
        problem.check_cells(name, numeric=True)
    for name in (args.by, args.groups):
        if name is not None:
            problem.check_cells(name, numeric=False)
    keep = ~frame[[c for c in (*used, args.by, args.groups) if c]].isna().any(axis=1).to_numpy()
    positions = np.flatnonzero(keep)
    if is_regression:
        X = frame[names].to_numpy(dtype=float)
        if not args.no_intercept:
            X, names = np.column_stack([np.ones(len(X)), X]), ["const", *names]
        y = frame[args.y].to_numpy(dtype=float)
        make = lambda r: {"X": X[r], "y": y[r]}  # noqa: E731
        model = factory(names=names)
    else:
        values = frame[args.column].to_numpy(dtype=float)
        make = lambda r: values[r]  # noqa: E731
        model = factory()
    clusters = None
    if args.groups:
        import pandas as pd

        clusters = pd.factorize(frame[args.groups])[0]
    if args.by is None:
        labels, rows = None, [positions]
    else:
        found = frame.iloc[positions].groupby(args.by, sort=True, observed=True).groups
        labels = [_python(label) for label in found]
        rows = [np.asarray(found[label]) for label in found]
    datasets = [make(r) for r in rows]
    return model, datasets, labels, rows, None if clusters is None else [clusters[r] for r in rows]


def results_table(res, labels, by, level: float, messages):
    """One row per fit: label, estimate/se/z/p/lower/upper per parameter, fit statistics."""
    import pandas as pd

    from ._results import flatten_batched

    def flat(tree):
        return np.atleast_2d(np.asarray(flatten_batched(res.model, tree)))

    lower, upper = res.conf_int(level, method="transformed")  # inside each constraint
    pieces = {
        "": flat(res.params),
        "se": flat(res.se),
        "z": flat(res.zvalues),
        "p": flat(res.pvalues),
        "lower": flat(lower),
        "upper": flat(upper),
    }
    columns = {}
    if labels is not None:
        columns[by] = list(labels)
    for j, name in enumerate(res.param_names):
        for stat, values in pieces.items():
            columns[f"{stat}({name})" if stat else name] = values[:, j]
    for key in ("loglik", "nobs", "aic", "n_iter", "grad_norm"):
        columns[key] = np.atleast_1d(np.asarray(getattr(res, key)))
    columns["converged"] = np.atleast_1d(np.asarray(res.converged))
    columns["status"] = np.atleast_1d(res.status_name)
    if messages is not None:
        columns["message"] = messages
    return pd.DataFrame(columns)


def _python(label):
    return label.item() if isinstance(label, np.generic) else label


def _one_line(err) -> str:
    return " ".join(str(err).split())
