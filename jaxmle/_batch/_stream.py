"""Streaming ``fit_many``: a stream of batches fitted one after another, each batch's results
written to a file as soon as it finishes.

* **Which calls stream.** ``fit_many(model, datasets, out=...)``, or ``datasets`` an *iterator*
  (anything with ``__next__``: a generator, ``iter(list_of_batches)``, ``map(...)``, pyarrow's
  ``ParquetFile.iter_batches()`` mapped to arrays). With ``out=``, a ``list`` is a list of
  batches and any other input (a stacked pytree, a DataFrame with ``by=``) is one batch; without
  ``out=``, a list keeps its old meaning (one ragged batch) and only an iterator streams.
* **Each batch** is anything ``fit_many`` takes (a stacked pytree ``(B_i, n, ...)``, a ragged
  list, a DataFrame with ``formula=``/``by=``) and is fitted by ``fit_many`` with the same
  options, so equal-shaped batches reuse one compiled program (a new trailing shape or a batch
  size smaller than one chunk compiles once more).
* **Per-batch inputs**: ``weights``/``groups`` are then iterables with one item per batch (``None``
  or a column name: the same for every batch). For each batch, the next item of ``datasets`` is
  read first, then those of ``weights`` and ``groups``, all on one helper thread, so a generator
  may hand the weights of the batch it just yielded to the weights iterable (avoid
  ``itertools.tee`` here: it keeps up to 57 items alive).
* **Memory** holds the batch being fitted, the next one (read on a helper thread meanwhile) and
  one batch's results: bounded by the batch size, whatever the length of the stream.
* **Files**: one row per dataset, Parquet (``.parquet``/``.pq``: one row group per batch, through
  ``pyarrow.parquet.ParquetWriter``) or CSV (``.csv``: floats at full, round-trip precision). The
  file is closed whatever happens, so after an exception or Ctrl-C it holds exactly the batches
  that finished, and is a valid file. Its directory must exist: checked, with the extension,
  before any batch is read.
* **Columns**: ``dataset`` (the index in the stream), the ``by=`` labels, each parameter's
  estimate and ``se(name)``, ``loglik``, ``nobs``, ``n_iter``, ``converged``, ``status`` and, with
  ``errors="status"``, ``message`` (naming the dataset by its index in the stream, as
  ``dataset`` does). A parameter named like another column (a regression with
  ``names=["dataset", ...]``) is a ``ValueError`` before anything is written: before any batch
  is read when the names are known without data, else on the first batch's result.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np

from .._results import FitResult, Messages
from .._status import Status
from ._schedule import join_results

__all__ = ["StreamSummary", "fit_stream", "is_stream"]

PARQUET, CSV = (".parquet", ".pq"), (".csv",)
_LABELS = np.array([status.label for status in Status])


def is_stream(datasets, out) -> bool:
    """Whether ``fit_many`` streams: ``out=`` is given or ``datasets`` is an iterator."""
    return out is not None or isinstance(datasets, Iterator)


@dataclasses.dataclass(frozen=True)
class StreamSummary:
    """What a streamed ``fit_many(..., out=path)`` wrote.

    Attributes:
        path: the file written.
        n_fits: datasets fitted (rows of the file).
        n_batches: batches fitted (row groups of a Parquet file).
        n_converged: fits with ``Status.CONVERGED``.
        status_counts: fits per status label (``{"converged": ..., "max steps": ...}``).
        seconds: wall time of the whole stream.
    """

    path: str
    n_fits: int
    n_batches: int
    n_converged: int
    status_counts: dict
    seconds: float


def fit_stream(fit_many, model, datasets, out, options: dict):
    """Fit every batch of ``datasets`` with ``fit_many(model, batch, **options)``.

    Returns a :class:`StreamSummary` when ``out`` is a path, else one ``FitResult`` joining every
    batch's results (which then all stay in memory).
    """
    options = dict(options)
    several = isinstance(datasets, (Iterator, list))
    if isinstance(datasets, list) and not datasets:
        raise ValueError("datasets is an empty list of batches")
    batches = iter(datasets) if several else iter([datasets])
    # Per-batch inputs: an iterable with one item per batch (a column name applies to all).
    for name in ("weights", "groups"):
        value = options[name]
        if value is None or isinstance(value, str):
            options[name] = itertools.repeat(value)
        else:
            options[name] = iter(value) if several else iter([value])
    progress, options["progress"] = options["progress"], False
    sink = None if out is None else _sink(out, model, options)
    started = time.perf_counter()
    done, n_batches, counts = 0, 0, np.zeros(len(Status), dtype=np.int64)
    pieces, labels, refused = [], [], {}
    # Every user iterable is advanced on the read-ahead thread, together (``itertools.tee``
    # copies of one generator may feed ``datasets`` and ``weights``: they must share a thread).
    per_batch_inputs = _with_inputs(batches, options.pop("weights"), options.pop("groups"))
    reader = _read_ahead(per_batch_inputs)
    try:
        for k, (batch, weights, groups) in enumerate(reader):
            per_batch = {**options, "weights": weights, "groups": groups}
            try:
                res = fit_many(model, batch, **per_batch)
            except (ValueError, TypeError) as err:
                hint = ""
                if k == 0 and isinstance(datasets, list) and out is not None:
                    hint = " (with out=, a list is a list of batches: pass [datasets] to write one)"
                raise type(err)(f"batch {k}: {err}{hint}") from None
            status = np.asarray(res.status)
            counts += np.bincount(status, minlength=len(Status))
            if sink is not None:
                sink.write(_columns(res, done, options), k)
            else:
                pieces.append(_on_host(res))
                labels.extend(getattr(res, "groups", None) or ())
                refused.update(_stream_messages(res, done))
            done, n_batches = done + len(status), n_batches + 1
            if progress:
                elapsed = time.perf_counter() - started
                print(
                    f"jaxmle.fit_many: batch {k + 1}, {done} fits done in {elapsed:.1f}s",
                    file=sys.stderr,
                )
    finally:
        reader.close()
        if sink is not None:
            sink.close()
    if sink is None:
        if not pieces:
            raise ValueError("the stream of batches is empty")
        return _joined(pieces, done, refused, labels)
    if done == 0:
        raise ValueError("the stream of batches is empty: nothing was written")
    return StreamSummary(
        path=os.fspath(out),
        n_fits=done,
        n_batches=n_batches,
        n_converged=int(counts[Status.CONVERGED]),
        status_counts={str(_LABELS[c]): int(n) for c, n in enumerate(counts) if n},
        seconds=time.perf_counter() - started,
    )


_END = object()


def _with_inputs(batches, weights, groups):
    """``(batch, weights, groups)`` per batch; an iterable that runs out first is an error."""
    for k, batch in enumerate(batches):
        w, g = next(weights, _END), next(groups, _END)
        for name, value in (("weights", w), ("groups", g)):
            if value is _END:
                raise ValueError(f"{name} ran out at batch {k}: give one item per batch")
        yield batch, w, g


def _read_ahead(batches):
    """Yield the items of ``batches``, reading the next one on a helper thread while the caller
    works on the current one (reading a file or generating data overlaps the fits)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="jaxmle-stream")
    try:
        pending = pool.submit(next, batches, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, batches, _END)
            yield item
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _on_host(res: FitResult) -> FitResult:
    """A batch's result held in numpy arrays, without its messages (joined separately)."""
    host = jax.tree_util.tree_map(np.asarray, dataclasses.replace(res, messages=None))
    labels = getattr(res, "groups", None)
    if labels is not None and not hasattr(host, "groups"):
        object.__setattr__(host, "groups", labels)
    return host


def _joined(pieces, total, refused, labels):
    """One FitResult over every batch, with the refused datasets' messages at their indices."""
    res = join_results(pieces, total) if len(pieces) > 1 else pieces[0]
    res = jax.tree_util.tree_map(jax.numpy.asarray, res)
    if refused:
        res = dataclasses.replace(res, messages=Messages(refused, total))
    if labels:
        from .._formula import with_groups

        res = with_groups(res, labels)
    return res


def _stream_messages(res: FitResult, start: int) -> dict:
    """The refused datasets' messages of a batch starting at ``start``, by index in the stream."""
    if not res.messages:
        return {}
    return {start + i: _in_stream(res.messages[i], i, start) for i in res.messages.refused}


def _in_stream(message: str, i: int, start: int) -> str:
    """A batch's message about its dataset ``i`` telling that dataset's index in the stream,
    ``start + i`` (a message naming a ``by=`` group instead is kept as it is)."""
    prefix = f"dataset {i}: "
    if not message.startswith(prefix):
        return message
    return f"dataset {start + i}: {message[len(prefix) :]}"


def _flat(res: FitResult, tree: dict, size: int) -> np.ndarray:
    """A params-shaped dict of a batch as a ``(B, n_params)`` host array."""
    parts = [np.asarray(tree[key]).reshape(size, -1) for key in res.model.specs]
    return np.concatenate(parts, axis=1)


def _columns(res: FitResult, start: int, options: dict) -> dict:
    """One batch's rows, under the names of :func:`_column_names`: ``dataset`` (index in the
    stream), group labels (with ``by=``), the estimates and ``se(name)`` per flat parameter,
    ``loglik``, ``nobs``, ``n_iter``, ``converged``, ``status`` (its label) and, with
    ``errors="status"``, ``message`` (naming the dataset by its index in the stream)."""
    size = len(res.status)
    labels = getattr(res, "groups", None)
    label_names = [] if labels is None else _label_names(options.get("by"))
    names = _column_names(res.param_names, label_names, options.get("errors"))
    values = [np.arange(start, start + size, dtype=np.int64)]
    if len(label_names) == 1:
        values.append(list(labels))
    else:
        values.extend([label[j] for label in labels] for j in range(len(label_names)))
    est, se = _flat(res, res.params, size), _flat(res, res.se, size)
    values.extend(est[:, j] for j in range(est.shape[1]))
    values.extend(se[:, j] for j in range(se.shape[1]))
    status = np.asarray(res.status)
    values.extend([np.asarray(res.loglik), np.asarray(res.nobs), np.asarray(res.n_iter)])
    values.extend([status == Status.CONVERGED, _LABELS[status]])
    if options.get("errors") == "status":
        messages = [""] * size
        for index, message in _stream_messages(res, start).items():
            messages[index - start] = message
        values.append(messages)
    return dict(zip(names, values, strict=True))


_STATS = ("loglik", "nobs", "n_iter", "converged", "status")


def _label_names(by) -> list[str]:
    """The columns of the group labels: the ``by=`` column(s), ``group`` without ``by``."""
    return [by] if isinstance(by, str) else list(by) if by is not None else ["group"]


def _column_names(param_names, label_names, errors) -> list[str]:
    """The file's column names, in order; a ``ValueError`` when two are the same (a parameter
    named ``dataset`` or ``nobs``, say), since the file would silently keep one of them."""
    params = [str(name) for name in param_names]
    head = ["dataset", *label_names]
    tail = [*_STATS, *(["message"] if errors == "status" else [])]
    names = [*head, *params, *(f"se({name})" for name in params), *tail]
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        raise ValueError(
            f"out=: {', '.join(map(repr, twice))} would name two columns of the "
            f"file, whose columns besides the parameters' are {head + tail}; rename the parameters "
            "(a regression's names=[...], or the formula's variables) or the by= columns so "
            "that every column has its own name"
        )
    return names


def _sink(out, model, options):
    """The writer of ``out``, after the checks that need no batch: the extension, the directory,
    and the column names when the parameters' names are known without data (no ``formula=``;
    a regression named or sized at construction, or any model of fixed parameters)."""
    path = os.fspath(out)
    lower = path.lower()
    if not lower.endswith(PARQUET + CSV):
        raise ValueError(f"out must name a .parquet, .pq or .csv file, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"out={path!r}: the directory {folder!r} does not exist; create it first "
            "(os.makedirs) or write elsewhere"
        )
    by = options.get("by")
    known = None if options.get("formula") is not None else getattr(model, "param_names", None)
    _column_names(known or (), [] if by is None else _label_names(by), options.get("errors"))
    return _ParquetSink(path) if lower.endswith(PARQUET) else _CsvSink(path)


def _check_names(names, first, k):
    if list(names) != list(first):
        raise ValueError(
            f"batch {k}: its result columns {list(names)} differ from the first batch's "
            f"{list(first)}; every batch of a stream must give the same parameters"
        )


class _ParquetSink:
    """One row group per batch; the schema is the first batch's."""

    def __init__(self, path: str):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("out='*.parquet' needs pyarrow: pip install pyarrow") from err
        self.path, self.pa, self.pq, self.writer = path, pa, pq, None

    def write(self, columns: dict, k: int) -> None:
        if self.writer is None:
            table = self.pa.table(columns)
            self.writer = self.pq.ParquetWriter(self.path, table.schema)
        else:
            _check_names(columns, self.writer.schema.names, k)
            table = self.pa.table(columns, schema=self.writer.schema)
        self.writer.write_table(table, row_group_size=table.num_rows)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _CsvSink:
    """A header, then each batch's rows appended and flushed; floats as ``repr`` (shortest
    round-trip), so the file reads back to the same float64 values."""

    def __init__(self, path: str):
        import csv

        self.path, self.csv, self.file, self.writer, self.names = path, csv, None, None, None

    def write(self, columns: dict, k: int) -> None:
        if self.file is None:
            self.file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
            self.writer = self.csv.writer(self.file)
            self.names = list(columns)
            self.writer.writerow(self.names)
        _check_names(columns, self.names, k)
        values = [
            np.asarray(v).tolist() if isinstance(v, np.ndarray) else v for v in columns.values()
        ]
        self.writer.writerows(zip(*values, strict=True))
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
