"""`fit_many`: many datasets in one call: stacked or ragged, chunked, bucketed, sharded.

The batch is fitted chunk by chunk with one compiled ``jit(vmap(fit))`` per chunk shape:

* **Chunking** bounds memory and keeps each chunk's data in cache: only two chunks are in flight at
  a time, so peak memory is the input plus a few chunks, whatever the batch size.
* **Buckets.** Shapes are rounded up to *bucket sizes* ``k * 2**e`` with ``k`` in 4..7 (at most 25%
  padding): ragged datasets are padded to a bucketed length and a batch smaller than one chunk to
  a bucketed count, so batches of many different sizes share a few compiled
  programs. A new batch with the same bucketed shapes never recompiles.
* **Padding** never changes a result: padded rows repeat the dataset's first row (so the
  log-density stays finite and in the support) with weight 0; padded datasets repeat the batch's
  last dataset and are dropped from the result.
* **Sharding** (``devices=``): each chunk is split over a 1-D mesh of devices along the batch axis
  and every device runs its own solver loop on its share (``shard_map``), so a device stops as soon
  as its own fits have converged.
* **Threads** (CPU): XLA keeps a chunk's solver loop on about one core, so chunks are fitted by one
  host thread per core, from a program compiled ahead of time (with options that compile faster
  on a CPU, see :mod:`jaxmle._compile`) whose trace also tells whether it holds LAPACK kernels
  (then one chunk at a time; see ``workers``). The inputs' values are checked
  while the first chunks compute; a failure stops the remaining chunks and names the dataset.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ._compile import compile_lowered
from ._fit import DEFAULT_MAX_STEPS, _validate_init, fit_prepared, validate_inputs
from ._model import Model
from ._results import FitResult

__all__ = ["bucket_size", "fit_many", "pad_datasets"]

#: Bytes of data per chunk aimed at by the automatic chunk size, per platform. On a CPU a chunk
#: should stay in the last-level cache across solver iterations; accelerators want large chunks.
_CHUNK_BYTES = {"cpu": 2 * 2**20}
_CHUNK_BYTES_ACCELERATOR = 512 * 2**20
_MIN_CHUNK, _MAX_CHUNK = 32, 2**16
#: Bytes of data validated at a time by ``fit_many``'s eager checks (bounds their temporaries).
_CHECK_BYTES = 8 * 2**20


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
    chunk_size: int | None = None,
    devices=None,
    workers: int | None = None,
    progress: bool = False,
) -> FitResult:
    """Fit ``model`` to every dataset of a batch; one :class:`~jaxmle.FitResult` with axis ``B``.

    Args:
        model: the model fitted to every dataset.
        datasets: either a stacked pytree whose leaves have shape ``(B, n, ...)`` (numpy or JAX
            arrays), or a list of ``B`` datasets (pytrees with leading axis ``n_b``) of possibly
            different sizes, which are padded to a common bucketed length.
        weights: ``(B, n)`` frequency weights for stacked input, or a list of ``(n_b,)`` arrays.
        solver, init, max_steps, tol, cov_type: as in :func:`~jaxmle.fit`, shared by all fits.
        groups: cluster labels, ``(B, n)`` or a list of ``(n_b,)`` arrays.
        chunk_size: fit at most this many datasets at a time. ``None`` picks a size from the
            bytes per dataset (a few MiB of data per chunk on CPU, hundreds on accelerators).
            Every chunk has this size (the last one is padded); a batch smaller than one chunk is
            padded to a bucket size instead.
        devices: ``None`` to run on the default device; ``"all"`` for every local device
            (``jax.local_devices()``), or a sequence of devices. Each chunk is sharded over them
            along the batch axis (padded to a multiple of their number).
        workers: at most this many host threads fitting chunks concurrently on a single CPU
            device (``None``: one per CPU core available to the process; 1 for one chunk at a
            time). XLA runs each chunk's solver loop on about one core, so independent chunks in
            parallel threads use the others; results do not depend on it. Programs that contain
            LAPACK kernels (models with more than 8 free parameters, or a ``logpdf`` that calls
            ``jnp.linalg``) always run one chunk at a time: jaxlib's CPU LAPACK kernels block
            inside XLA's thread pool and could deadlock when run concurrently. Ignored with
            ``devices=`` (each device already runs its share) and on accelerators.
        progress: print one line per finished chunk to stderr.

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
    ragged = isinstance(datasets, (list, tuple))
    if ragged and not datasets:
        raise ValueError("datasets is an empty list")
    first = datasets[0] if ragged else jax.tree_util.tree_map(lambda leaf: leaf[0], datasets)
    model = model.bind(first)
    if ragged:
        data, weights, groups = _stack_ragged(model, datasets, weights, groups)
        check_values = lambda: None  # noqa: E731  (each dataset was checked while stacking)
    else:
        data, weights, groups, check_values = _check_stacked(model, datasets, weights, groups)
    if init is not None:
        _validate_init(model, init)
        init = {key: jnp.asarray(value) for key, value in init.items()}
    mesh = _mesh(devices)
    n_devices = 1 if mesh is None else mesh.size

    batch = int(jax.tree_util.tree_leaves(data)[0].shape[0])
    chunk = _chunk_size(chunk_size, data, batch, n_devices)
    solve = functools.partial(
        _fit_batch,
        model=model,
        solver=solver,
        max_steps=int(max_steps),
        tol=tol,
        cov_type=cov_type,
        mesh=mesh,
    )
    place = _placement(mesh)
    if jax.default_backend() == "cpu":
        # Host views of the inputs (no copy): a chunk is then a view that device_put aliases
        # where it is aligned, instead of a slicing program and a copy per chunk and leaf.
        data, weights, groups = jax.tree_util.tree_map(np.asarray, (data, weights, groups))

    def fit_chunk(start):
        index = np.minimum(np.arange(start, start + chunk), batch - 1)
        contiguous = start + chunk <= batch
        take = functools.partial(_take, index=index, contiguous=contiguous, place=place)
        return solve(take(data), take(weights), init, take(groups))

    started = time.perf_counter()

    def report(n_chunks):
        if progress:
            done, elapsed = min(n_chunks * chunk, batch), time.perf_counter() - started
            print(f"jaxmle.fit_many: {done}/{batch} fits done in {elapsed:.1f}s", file=sys.stderr)

    starts = range(0, batch, chunk)
    workers = _workers(workers, mesh, len(starts))
    if mesh is None and jax.default_backend() == "cpu":
        # Compiled ahead of time, with the CPU compiler options, so that one trace both compiles
        # the program and tells whether it may run in several threads at once.
        solve, concurrent = _chunk_program(solve, data, weights, init, groups, chunk)
        workers = workers if concurrent else 1
    return _join(_run_chunks(fit_chunk, starts, workers, check_values, report), batch)


@functools.partial(
    jax.jit, static_argnames=("model", "solver", "max_steps", "tol", "cov_type", "mesh")
)
def _fit_batch(data, weights, init, groups, *, model, solver, max_steps, tol, cov_type, mesh):
    def local(d, w, g, start):
        def one(d, w, g):
            return fit_prepared(model, d, w, solver, start, max_steps, tol, cov_type, g)

        axes = (0, None if w is None else 0, None if g is None else 0)
        return jax.vmap(one, in_axes=axes)(d, w, g)

    if mesh is None:
        return local(data, weights, groups, init)
    # Every device runs its own while_loop over its share of the batch: no per-iteration
    # cross-device synchronisation, and a device stops when its own fits are done.
    batch_axis = P("batch")
    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(batch_axis, batch_axis, batch_axis, P()),
        out_specs=batch_axis,
        check_vma=False,
    )
    return sharded(data, weights, groups, init)


def bucket_size(m: int) -> int:
    """Smallest bucket size ``>= m``: a power of two up to 8, else ``k * 2**e`` with ``k`` in 4..7.

    Rounding shapes up to bucket sizes bounds the padding at 25% (beyond 8) while letting batches
    of many different sizes share a handful of compiled programs.

    Examples:
        >>> [bucket_size(m) for m in (3, 8, 9, 100, 500, 1000, 1025)]
        [4, 8, 10, 112, 512, 1024, 1280]
    """
    m = max(int(m), 1)
    if m <= 8:
        return 1 << (m - 1).bit_length()
    step = 2 ** (m.bit_length() - 3)
    return -(-m // step) * step


def pad_datasets(datasets, length: int | None = None):
    """Stack datasets of different sizes into ``(B, length, ...)`` leaves plus a 0/1 mask.

    Padded rows repeat each dataset's first row, so they stay inside the model's support.

    Args:
        datasets: list of pytrees with leading observation axes ``n_b``.
        length: padded length; defaults to the largest ``n_b``.

    Returns:
        ``(stacked, mask)``: numpy leaves of shape ``(B, length, ...)`` and a ``(B, length)`` mask.
    """
    sizes = [int(jax.tree_util.tree_leaves(d)[0].shape[0]) for d in datasets]
    length = max(sizes) if length is None else int(length)
    if length < max(sizes):
        raise ValueError(f"length={length} is shorter than the largest dataset ({max(sizes)})")

    def pad(leaf, size):
        leaf = np.asarray(leaf)
        filler = np.repeat(leaf[:1], length - size, axis=0)
        return np.concatenate([leaf, filler], axis=0)

    padded = [
        jax.tree_util.tree_map(lambda x, s=s: pad(x, s), d)
        for d, s in zip(datasets, sizes, strict=True)
    ]
    stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *padded)
    mask = np.zeros((len(datasets), length))
    for b, size in enumerate(sizes):
        mask[b, :size] = 1.0
    return stacked, mask


# -- chunks --------------------------------------------------------------------------------------
def _workers(workers, mesh, n_chunks: int) -> int:
    """Threads for the chunks: several only for a single CPU device and more than one chunk."""
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if mesh is not None or jax.default_backend() != "cpu" or n_chunks < 2:
        return 1
    if workers is None:
        workers = _available_cores()
    return min(int(workers), n_chunks)


#: Primitives lowered to jaxlib's CPU LAPACK kernels. In jaxlib 0.10 those kernels split a batch
#: over XLA's intra-op thread pool and block until it is done: fits running concurrently can each
#: hold a pool thread while waiting for the others (a deadlock), so fit programs that contain one
#: run one chunk at a time. jaxmle's own solvers avoid them for up to ``UNROLL_MAX`` parameters.
_BLOCKING_PRIMITIVES = frozenset(
    {
        "cholesky",
        "eig",
        "eigh",
        "geqp3",
        "geqrf",
        "hessenberg",
        "householder_product",
        "lu",
        "qr",
        "schur",
        "svd",
        "triangular_solve",
        "tridiagonal",
        "tridiagonal_solve",
    }
)
_PROGRAMS: dict = {}
_MAX_PROGRAMS = 64


def _chunk_program(solve, data, weights, init, groups, chunk: int):
    """``(program, concurrent)``: ``solve`` compiled for one chunk's shapes, and whether it is free
    of LAPACK-backed primitives (so that chunks may run in several threads). Cached per model,
    options and shapes, like ``jax.jit``'s own cache."""

    def abstract(leaf):
        shape = (chunk,) + tuple(np.shape(leaf)[1:])
        return jax.ShapeDtypeStruct(shape, jax.dtypes.canonicalize_dtype(np.result_type(leaf)))

    args = jax.tree_util.tree_map(abstract, (data, weights, groups))
    init_shapes = None if init is None else tuple(sorted((k, np.shape(v)) for k, v in init.items()))
    key = (
        tuple(sorted(solve.keywords.items())),
        jax.tree_util.tree_structure(args),
        tuple(jax.tree_util.tree_leaves(args)),
        init_shapes,
    )
    if key not in _PROGRAMS:
        traced = solve.func.trace(args[0], args[1], init, args[2], **solve.keywords)
        concurrent = not _contains(traced.jaxpr.jaxpr, _BLOCKING_PRIMITIVES)
        if len(_PROGRAMS) >= _MAX_PROGRAMS:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        _PROGRAMS[key] = (compile_lowered(traced.lower()), concurrent)
    return _PROGRAMS[key]


def _contains(jaxpr, primitives) -> bool:
    """Whether ``jaxpr`` or any jaxpr nested in its equations' parameters uses ``primitives``."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in primitives:
            return True
        for param in eqn.params.values():
            for value in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(value, "jaxpr", value)  # a ClosedJaxpr holds its Jaxpr
                if isinstance(inner, jax.extend.core.Jaxpr) and _contains(inner, primitives):
                    return True
    return False


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _run_chunks(fit_chunk, starts, workers: int, check_values, report) -> list:
    """Fit every chunk and return the results in order, each computed.

    The first chunk is dispatched first, then ``check_values`` (the eager input checks) runs on
    this thread while chunks compute; if it raises, no further chunk starts and its error
    propagates. One worker dispatches the remaining chunks from this thread with at most two in
    flight: memory stays bounded while the next chunk's inputs are prepared during the current
    chunk's compute. Several workers each run that loop over an interleaved share of the chunks.
    ``report(k)`` is called as the ``k``-th result is collected.
    """
    starts = list(starts)
    first, rest = fit_chunk(starts[0]), starts[1:]
    if workers == 1:
        check_values()
        ready = _pipelined(fit_chunk, rest, pending=first)
    else:
        ready = _threaded(fit_chunk, first, rest, workers, check_values)
    pieces = []
    for piece in ready:
        pieces.append(piece)
        report(len(pieces))
    return pieces


def _threaded(fit_chunk, first, rest, workers: int, check_values):
    """Yield ``first`` and the chunks ``rest`` in order, fitted by ``workers`` threads, each
    pipelining an interleaved share; ``check_values`` runs here meanwhile."""
    cancelled = threading.Event()
    futures = [Future() for _ in rest]

    def fit_live(start):
        if cancelled.is_set():
            raise _Cancelled
        return fit_chunk(start)

    def run_share(k):
        share = range(k, len(rest), workers)
        try:
            pieces = _pipelined(fit_live, [rest[i] for i in share])
            for i, piece in zip(share, pieces, strict=True):
                futures[i].set_result(piece)
        except BaseException as err:  # hand the failure to whoever waits for these chunks
            for i in share:
                if not futures[i].done():
                    futures[i].set_exception(err)

    with ThreadPoolExecutor(workers, thread_name_prefix="jaxmle-fit") as pool:
        for k in range(workers):
            pool.submit(run_share, k)
        try:
            check_values()
        except BaseException:
            cancelled.set()
            raise
        yield jax.block_until_ready(first)
        for future in futures:
            yield future.result()


class _Cancelled(Exception):
    """A chunk not started because the input checks failed."""


def _pipelined(fit_chunk, starts, pending=None):
    """Yield each chunk's computed result, dispatching the next one before waiting."""
    for start in starts:
        piece = fit_chunk(start)
        if pending is not None:
            yield jax.block_until_ready(pending)
        pending = piece
    if pending is not None:
        yield jax.block_until_ready(pending)


def _chunk_size(chunk_size, data, batch: int, n_devices: int) -> int:
    if chunk_size is None:
        per_dataset = _bytes_per_dataset(data)
        platform = jax.default_backend()
        budget = _CHUNK_BYTES.get(platform, _CHUNK_BYTES_ACCELERATOR) * n_devices
        chunk = 2 ** int(math.log2(max(budget // max(per_dataset, 1), 1)))
        chunk = min(max(chunk, _MIN_CHUNK), _MAX_CHUNK)
    else:
        chunk = max(1, int(chunk_size))
    chunk = _round_up(chunk, n_devices)
    if batch <= chunk:
        chunk = _round_up(bucket_size(batch), n_devices)
    return chunk


def _bytes_per_dataset(data) -> int:
    """Bytes of one dataset of a stacked batch (leaves ``(B, n, ...)``)."""
    return sum(
        math.prod(leaf.shape[1:]) * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(data)
    )


def _round_up(m: int, multiple: int) -> int:
    return -(-m // multiple) * multiple


def _take(tree, *, index, contiguous, place):
    """The datasets ``index`` of every leaf, placed on the device(s)."""
    if tree is None:
        return None

    def one(leaf):
        if contiguous:
            piece = leaf[int(index[0]) : int(index[-1]) + 1]
        else:
            piece = leaf[index] if isinstance(leaf, np.ndarray) else jnp.take(leaf, index, axis=0)
        return place(piece)

    return jax.tree_util.tree_map(one, tree)


def _mesh(devices):
    if devices is None:
        return None
    if isinstance(devices, str):
        if devices != "all":
            raise ValueError(
                f"devices must be None, 'all' or a sequence of devices, got {devices!r}"
            )
        devices = jax.local_devices()
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty")
    return Mesh(np.array(devices), ("batch",))


def _placement(mesh):
    if mesh is None:
        return jax.device_put
    sharding = NamedSharding(mesh, P("batch"))
    return lambda piece: jax.device_put(piece, sharding)


def _join(pieces, batch: int) -> FitResult:
    """One result from the chunks' results, without the padded fits.

    Joined on the host with numpy: jnp.concatenate would compile a new program for every number
    of chunks, and its compilation would cost more memory and time than the join itself.
    """
    if len(pieces) == 1 and len(pieces[0]) == batch:
        return pieces[0]

    def join(*leaves):
        return jnp.asarray(np.concatenate([np.asarray(leaf) for leaf in leaves])[:batch])

    return jax.tree_util.tree_map(join, *pieces)


# -- inputs --------------------------------------------------------------------------------------
def _stack_ragged(model, datasets, weights, groups):
    datasets = [jax.tree_util.tree_map(np.asarray, d) for d in datasets]
    weights = _per_dataset(weights, len(datasets), "weights")
    groups = _per_dataset(groups, len(datasets), "groups")
    for b, d in enumerate(datasets):
        w = None if weights is None else np.asarray(weights[b])
        validate_inputs(model, d, w, where=f"dataset {b}: ")
    length = bucket_size(max(int(jax.tree_util.tree_leaves(d)[0].shape[0]) for d in datasets))
    stacked, mask = pad_datasets(datasets, length)
    if weights is not None:
        mask = mask * pad_datasets([np.asarray(w, dtype=float) for w in weights], length)[0]
    if groups is not None:
        groups = pad_datasets([np.asarray(g) for g in groups], length)[0]
    return stacked, mask, groups


def _per_dataset(values, batch, what):
    if values is None:
        return None
    if len(values) != batch:
        raise ValueError(f"{what}: expected one entry per dataset ({batch}), got {len(values)}")
    return list(values)


def _as_array(leaf):
    """JAX arrays stay where they are; anything else becomes a numpy array on the host."""
    return leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)


def _check_stacked(model, data, weights, groups):
    data = jax.tree_util.tree_map(_as_array, data)
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves or any(leaf.ndim < 2 for leaf in leaves):
        raise ValueError(
            "stacked datasets need leaves of shape (B, n, ...): a batch axis then an observation "
            "axis; pass a list for datasets of different sizes"
        )
    batch, n = leaves[0].shape[:2]
    if any(leaf.shape[0] != batch for leaf in leaves):
        raise ValueError("stacked datasets disagree on the batch size (first axis)")
    if weights is not None:
        weights = _as_array(weights)
        if weights.shape != (batch, n):
            raise ValueError(f"weights must have shape {(batch, n)}, got {weights.shape}")

    # Structure (keys, shapes, dtypes) now, on the first dataset, so that a malformed batch fails
    # with a clear message before anything is traced; the values of every dataset are checked by
    # ``check_values`` while the chunks compute.
    dataset = functools.partial(_dataset, data, weights)
    validate_inputs(model, *dataset(0), where="dataset 0: ")

    block = max(1, _CHECK_BYTES // max(_bytes_per_dataset(data), 1))

    def check_values():
        # Blocks of datasets, the batch axis folded into the observation axis (host views: no
        # copy): vectorised checks whose temporaries stay a few MiB whatever the batch size. On
        # failure, the first offending dataset of the block is found and named.
        for start in range(0, batch, block):
            stop = min(start + block, batch)
            rows = slice(start, stop)
            part = jax.tree_util.tree_map(
                lambda x, rows=rows: np.asarray(x)[rows].reshape((-1,) + x.shape[2:]), data
            )
            w = None if weights is None else np.asarray(weights)[rows]
            try:
                validate_inputs(model, part, None if w is None else w.ravel())
                if w is not None and not np.all(np.any(w > 0, axis=1)):
                    raise ValueError("weights: some datasets have all weights zero")
            except ValueError:
                for b in range(start, stop):
                    validate_inputs(model, *dataset(b), where=f"dataset {b}: ")
                raise

    return data, weights, None if groups is None else _as_array(groups), check_values


def _dataset(data, weights, b: int):
    """Dataset ``b`` of a stacked batch and its weights, as host arrays."""
    one = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[b]), data)
    return one, None if weights is None else np.asarray(weights[b])
