"""`fit_many`: many datasets in one call: stacked or ragged, chunked, bucketed, sharded.

The batch is fitted chunk by chunk with one compiled ``jit(vmap(fit))`` per chunk shape
(:mod:`._programs`); the inputs are prepared and checked by :mod:`._inputs` and the chunks are
scheduled over threads or devices by :mod:`._schedule`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from .._fit import DEFAULT_MAX_STEPS, check_starts
from .._model import Model
from .._penalized import penalize
from .._progress import progress_bar
from .._results import FitResult
from .._solvers import check_max_steps, resolve_solver
from ._compaction import compacted_pieces
from ._distributed import agree, is_global, local_part, replicate
from ._inputs import check_stacked, split_init, stack_ragged
from ._programs import chunk_program, fit_chunk
from ._schedule import (
    choose_chunk_size,
    device_mesh,
    join_results,
    mark_refused,
    placement,
    run_chunks,
    take,
    worker_count,
)
from ._stream import fit_stream, is_stream

__all__ = ["fit_many"]


def fit_many(
    model: Model,
    datasets,
    *,
    weights=None,
    solver=None,
    init: dict | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    tol: float | None = None,
    cov_type: str = "observed",
    groups=None,
    n_starts: int = 1,
    key: jax.Array | None = None,
    init_sampler=None,
    penalty=None,
    prior: dict | None = None,
    formula: str | None = None,
    by=None,
    errors: str = "raise",
    chunk_size: int | None = None,
    devices=None,
    workers: int | None = None,
    progress: bool = False,
    compact: bool = True,
    out=None,
) -> FitResult:
    """Fit ``model`` to every dataset of a batch; one :class:`~jaxmle.FitResult` with axis ``B``.

    Args:
        model: the model fitted to every dataset.
        datasets: either a stacked pytree whose leaves have shape ``(B, n, ...)`` (numpy or JAX
            arrays), or a list of ``B`` datasets (pytrees with leading axis ``n_b``) of possibly
            different sizes, which are padded to a common bucketed length.
        weights: ``(B, n)`` frequency weights for stacked input, or a list of ``(n_b,)`` arrays.
        init: starting values (natural scale) for some or all parameters: a value shaped like
            the parameter is one start for every dataset, a value with a leading axis ``B`` one
            start per dataset.
        solver, max_steps, tol, cov_type: as in :func:`~jaxmle.fit`, shared by all fits.
        groups: cluster labels, ``(B, n)`` or a list of ``(n_b,)`` arrays.
        n_starts, key, init_sampler: multiple starts per dataset, as in :func:`~jaxmle.fit`;
            dataset ``i`` draws its starts with ``jax.random.fold_in(key, i)``, so results do not
            depend on chunking, workers or devices.
        errors: ``"raise"`` (default): the first dataset that fails the input checks raises a
            ``ValueError`` naming it, and no further chunk starts. ``"status"``: every dataset is
            checked first; refused ones get ``Status.INVALID_DATA``, NaN estimates and a message
            (``res.messages[i]``, ``""`` for the fitted ones), and the others are fitted as
            usual, with results equal to a batch without the refused ones. Problems shared by
            the whole batch (its structure, ``init``, the options) still raise.
        chunk_size: fit at most this many datasets at a time. ``None`` picks a size from the
            bytes per dataset (a few MiB of data per chunk on CPU, hundreds on accelerators).
            Every chunk has this size (the last one is padded); a batch smaller than one chunk is
            padded to a bucket size instead.
        devices: ``None`` to run on the default device; ``"all"`` for every local device
            (``jax.local_devices()``), or a sequence of devices. Each chunk is sharded over them
            along the batch axis (padded to a multiple of their number). ``"global"``: every
            device of every process, after ``jax.distributed.initialize()``; every process calls
            ``fit_many`` with its own datasets (their numbers may differ) and gets back their
            results, equal to one process fitting every process's datasets in process order
            (multiple starts use the dataset's index in that order). ``chunk_size`` is then
            per process. See :mod:`jaxmle._batch._distributed`.
        workers: at most this many host threads fitting chunks concurrently on a single CPU
            device (``None``: one per CPU core available to the process; 1 for one chunk at a
            time). XLA runs each chunk's solver loop on about one core, so independent chunks in
            parallel threads use the others; results do not depend on it. Programs that contain
            LAPACK kernels (models with more than 8 free parameters, or a ``logpdf`` that calls
            ``jnp.linalg``) always run one chunk at a time: jaxlib's CPU LAPACK kernels block
            inside XLA's thread pool and could deadlock when run concurrently. Ignored with
            ``devices=`` (each device already runs its share) and on accelerators.
        compact: retire converged fits between rounds of solver steps and re-pack the others
            into fresh chunks (active-set compaction, :mod:`jaxmle._batch._compaction`), so that a
            few slow fits do not keep their whole chunk iterating. The results are bit-for-bit
            those of ``compact=False`` (every chunk iterating until its slowest fit is done).
            Applies on one device with ``n_starts=1``; otherwise ignored.
        progress: a progress bar (tqdm's, with fits per second and the time left; one line per
            chunk on stderr without tqdm), updated per finished chunk (per batch when streaming).
        out: stream: a ``.parquet``/``.pq`` or ``.csv`` path that receives one row per dataset as
            each batch finishes; ``datasets`` is then a list or iterator of batches (any other
            input is one batch), and a summary is returned. An iterator (a generator, say)
            streams without ``out=`` too and returns the joined result. Each batch is anything
            this function takes; ``weights``/``groups`` give one item per batch. See
            :mod:`jaxmle._batch._stream`.
        penalty, prior: as in :func:`~jaxmle.fit` (Firth, ridge, MAP), for every dataset.
        formula, by: ``datasets`` is a pandas DataFrame, ``formula`` a regression's formula (as
            in :func:`~jaxmle.fit`) and ``by`` a column name (or list of them): one fit per group
            of rows, in sorted label order, with ``res.groups`` the labels; the model matrix is
            built once on the whole frame, so all groups share its columns. ``weights`` and
            ``groups`` may name columns. Messages name the group. See :mod:`jaxmle._formula`.

    Interrupting (Ctrl-C) stops the batch within about a second: no further chunk starts, and the
    ``KeyboardInterrupt`` carries ``partial``, the result of the leading datasets whose fits had
    finished (the first ``len(partial)`` datasets, in order; ``None`` when none had; with
    compaction the prefix ends at the first fit still iterating).

    Returns:
        A batched :class:`~jaxmle.FitResult`; ``res[i]`` is the fit of dataset ``i``.

    Examples:
        >>> import jax, jax.numpy as jnp, jax.scipy.stats as jss
        >>> import jaxmle as jm
        >>> model = jm.Model(lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
        ...                  {"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
        >>> xs = [jnp.array([0.0, 1.0, 2.0]), jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])]
        >>> res = jm.fit_many(model, xs)
        >>> [round(float(m), 6) for m in res.params["loc"]]
        [1.0, 3.0]
    """
    if is_stream(datasets, out):  # batches one after another, written to `out` as they finish
        options = {k: v for k, v in locals().items() if k not in ("model", "datasets", "out")}
        return fit_stream(fit_many, model, datasets, out, options)
    if formula is not None or by is not None:  # a DataFrame split into groups by a column
        options = {k: v for k, v in locals().items() if k not in ("model", "datasets")}
        del options["formula"], options["by"]
        from .._formula import fit_many_formula

        return fit_many_formula(fit_many, model, datasets, formula, by, options)
    if errors not in ("raise", "status"):
        raise ValueError(f"errors must be 'raise' or 'status', got {errors!r}")
    refused = {} if errors == "status" else None
    ragged = isinstance(datasets, list)
    if ragged and not datasets:
        raise ValueError("datasets is an empty list")
    if not ragged and any(
        np.shape(leaf)[:1] == (0,) for leaf in jax.tree_util.tree_leaves(datasets)
    ):
        raise ValueError("datasets: the batch is empty (its leading axis has length 0)")
    first = datasets[0] if ragged else jax.tree_util.tree_map(lambda leaf: leaf[0], datasets)
    model = penalize(model.bind(first), penalty, prior)
    n_starts = check_starts(n_starts, key, init_sampler)
    max_steps = check_max_steps(max_steps)
    solver = resolve_solver(solver, tol)
    if ragged:
        data, weights, groups = stack_ragged(model, datasets, weights, groups, refused)
        check_values = lambda: None  # noqa: E731  (each dataset was checked while stacking)
    else:
        data, weights, groups, check_values = check_stacked(model, datasets, weights, groups)
    batch = int(jax.tree_util.tree_leaves(data)[0].shape[0])
    stand_in = np.arange(batch)  # which dataset is fitted in each dataset's place
    if refused is not None and not ragged:
        check_values(refused)  # every dataset, before any chunk starts
        check_values = lambda: None  # noqa: E731
        good = next(b for b in range(batch) if b not in refused)
        stand_in[list(refused)] = good
    shared_init, own_init = split_init(model, init, batch)
    mesh = device_mesh(devices)
    n_devices = 1 if mesh is None else mesh.size
    distributed, offset, batch_max = is_global(mesh), 0, batch
    if distributed:  # devices="global": agree with the other processes on shapes and chunks
        options = (model.name, n_starts, max_steps, cov_type, chunk_size, sorted(own_init))
        data, weights, groups, offset, batch_max = agree(data, weights, groups, batch, options)
        shared_init, key = replicate(mesh, (shared_init, key))
        n_devices = mesh.size // jax.process_count()  # a chunk is this process's part
    index = offset + np.arange(batch, dtype=np.int32) if n_starts > 1 else None

    chunk = choose_chunk_size(chunk_size, data, batch_max, n_devices)
    solve = functools.partial(
        fit_chunk,
        model=model,
        solver=solver,
        max_steps=max_steps,
        cov_type=cov_type,
        n_starts=n_starts,
        init_sampler=init_sampler,
        mesh=mesh,
    )
    place = placement(mesh)
    per_dataset = (data, weights, groups, own_init, index)
    if jax.default_backend() == "cpu":
        # Host views of the inputs (no copy): a chunk is then a view that device_put aliases
        # where it is aligned, instead of a slicing program and a copy per chunk and leaf.
        per_dataset = jax.tree_util.tree_map(np.asarray, per_dataset)

    def chunk_rows(start):  # the last chunk repeats the batch's last dataset
        return stand_in[np.minimum(np.arange(start, start + chunk), batch - 1)]

    def load(rows, tree=per_dataset):
        contiguous = bool(np.all(np.diff(rows) == 1))
        return take(tree, index=rows, contiguous=contiguous, place=place)

    def compute_chunk(start):
        return solve(load(chunk_rows(start)), shared_init, key)

    bar = progress_bar(progress, batch, "fit_many")

    def report(n_chunks):
        done = min(n_chunks * chunk, batch)
        bar.update(done - report.done)
        report.done = done

    report.done = 0

    starts = range(0, batch_max, chunk)  # batch_max: every process runs as many chunks
    workers = worker_count(workers, mesh, len(starts))
    compacted = compact and mesh is None and n_starts == 1
    if not compacted and mesh is None and jax.default_backend() == "cpu":
        # Compiled ahead of time, with the CPU compiler options, so that one trace both compiles
        # the program and tells whether it may run in several threads at once.
        solve, concurrent = chunk_program(solve, per_dataset, shared_init, key, chunk)
        workers = workers if concurrent else 1
    try:
        with bar:
            if compacted:  # converged fits retire between rounds, bit for bit (._compaction)
                pieces = compacted_pieces(
                    model=model,
                    solver=solver,
                    max_steps=max_steps,
                    cov_type=cov_type,
                    per_dataset=per_dataset[:4],
                    shared_init=shared_init,
                    chunk=chunk,
                    load=lambda rows: load(rows, per_dataset[:4]),
                    chunk_rows=chunk_rows,
                    starts=starts,
                    workers=workers,
                    check_values=check_values,
                    report=report,
                )
            else:
                pieces = run_chunks(compute_chunk, starts, workers, check_values, report)
    except KeyboardInterrupt as err:  # the leading finished fits (a chunk may be cut)
        completed = getattr(err, "completed", None) or []
        if distributed:
            completed = [local_part(piece) for piece in completed]
        done = min(sum(len(piece) for piece in completed), batch)
        err.partial = join_results(completed, done) if completed else None
        raise
    if distributed:
        pieces = [local_part(piece) for piece in pieces]
    res = join_results(pieces, batch)
    return res if refused is None else mark_refused(res, refused)
