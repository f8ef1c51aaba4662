"""`jaxmle fit FILE`: fit a built-in model to every group of a CSV file in one batch.

Distribution families fit one column (``--column``); regressions fit ``--y`` on ``--x`` columns
(with an intercept unless ``--no-intercept``). ``--by`` splits the rows into groups of any sizes,
fitted together by :func:`~jaxmle.fit_many`. The result is one row per group: estimates, standard
errors, log-likelihood, AIC and status, printed or written as CSV with ``--out``.
"""

from __future__ import annotations

import csv
import re
import sys

import numpy as np

from ._cli_models import find_model


def read_csv(path: str) -> dict[str, np.ndarray]:
    """Columns of a CSV file with a header row; numeric where every value parses as a number."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    columns = {}
    for j, name in enumerate(header):
        values = [row[j] for row in body]
        try:
            columns[name] = np.array([float(v) for v in values])
        except ValueError:
            columns[name] = np.array(values)
    return columns


def build_datasets(columns, args, is_regression: bool):
    """``(labels, datasets, names, rows)``: one dataset per group (or a single one) in the layout
    the model expects, and each group's row numbers in the file's body (0 = first data row)."""

    def need(name):
        if name not in columns:
            raise ValueError(f"column {name!r} not in the file; it has {list(columns)}")
        return columns[name]

    if is_regression:
        if not args.y or not args.x:
            raise ValueError("regressions need --y COLUMN and --x COL1,COL2,...")
        names = [n for n in args.x.split(",") if n]
        X = np.column_stack([need(n) for n in names])
        if not args.no_intercept:
            X, names = np.column_stack([np.ones(len(X)), X]), ["const", *names]
        make = lambda rows: {"X": X[rows], "y": need(args.y)[rows]}  # noqa: E731
    else:
        if not args.column:
            raise ValueError("distribution families need --column COLUMN")
        names = None
        make = lambda rows: need(args.column)[rows]  # noqa: E731
    n_rows = len(next(iter(columns.values())))
    if args.by is None:
        return ["all"], [make(slice(None))], names, [np.arange(n_rows)]
    labels = need(args.by)
    groups = list(dict.fromkeys(labels.tolist()))
    rows = [np.flatnonzero(labels == g) for g in groups]
    return groups, [make(r) for r in rows], names, rows


def run(args) -> int:
    import jaxmle as jm

    factory = find_model(args.model)
    is_regression = factory.__module__.startswith("jaxmle.regression")
    groups, datasets, names, rows = build_datasets(read_csv(args.file), args, is_regression)
    model = factory(names=names) if is_regression else factory()
    try:
        res = jm.fit_many(model, datasets, cov_type=args.cov_type)
    except (ValueError, TypeError) as err:
        raise ValueError(_locate(str(err), args, groups, rows)) from None
    frame = res.to_dataframe()
    header = [args.by or "group", *frame.columns]
    records = zip(groups, frame.itertuples(index=False), strict=True)
    rows = [[str(g), *map(_cell, record)] for g, record in records]
    if args.out:
        with open(args.out, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
        print(f"wrote {len(rows)} fits to {args.out}", file=sys.stderr)
    else:
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
        for line in [header, *rows]:
            print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    return 0


def _locate(message: str, args, groups, rows) -> str:
    """A batch error about ``dataset k`` (row ``i``), told in the file's terms: the group label
    and the file line (the header is line 1)."""
    found = re.match(r"dataset (\d+): (.*)", message, re.S)
    if not found:
        return message
    k, rest = int(found.group(1)), found.group(2)
    where = f"{args.file}" if args.by is None else f"{args.file}, group {args.by}={groups[k]!r}"
    index = re.search(r"(?:first at index|index) \(?(\d+)", rest)
    if index is not None and int(index.group(1)) < len(rows[k]):
        where += f", line {int(rows[k][int(index.group(1))]) + 2}"
    return f"{where}: {rest}"


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return str(value)
