"""Scheduling the chunks of a batch: sizes, devices, threads, and joining the results.

* **Chunking** bounds memory and keeps each chunk's data in cache: only two chunks are in flight at
  a time per worker, so peak memory is the input plus a few chunks, whatever the batch size. A
  batch smaller than one chunk is padded to a bucketed count; padded datasets repeat the batch's
  last dataset and are dropped from the result.
* **Threads** (CPU): XLA keeps a chunk's solver loop on about one core, so chunks are fitted by one
  host thread per core, each pipelining the next chunks it claims. The inputs' values
  are checked on the calling thread while the first chunks compute; a failure stops the remaining
  chunks and names the dataset.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._results import FitResult, Messages
from .._status import Status
from ._distributed import global_mesh, global_placement
from ._inputs import bucket_size, bytes_per_dataset

#: Bytes of data per chunk aimed at by the automatic chunk size, per platform. On a CPU a chunk
#: should stay in the last-level cache across solver iterations; accelerators want large chunks.
_CHUNK_BYTES = {"cpu": 2 * 2**20}
_CHUNK_BYTES_ACCELERATOR = 512 * 2**20
_MIN_CHUNK, _MAX_CHUNK = 32, 2**16


def worker_count(workers, mesh, n_chunks: int) -> int:
    """Threads for the chunks: several only for a single CPU device and more than one chunk."""
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    if mesh is not None or jax.default_backend() != "cpu" or n_chunks < 2:
        return 1
    if workers is None:
        workers = _available_cores()
    return min(int(workers), n_chunks)


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_chunks(compute_chunk, starts, workers: int, check_values, report) -> list:
    """Fit every chunk and return the results in order, each computed.

    The first chunk is dispatched first, then ``check_values`` (the eager input checks) runs on
    this thread while chunks compute; if it raises, no further chunk starts and its error
    propagates. One worker dispatches the remaining chunks from this thread with at most two in
    flight: memory stays bounded while the next chunk's inputs are prepared during the current
    chunk's compute. Several workers each run that loop, each claiming the next chunk not yet taken.
    ``report(k)`` is called as the ``k``-th result is collected.

    An interruption (Ctrl-C) stops the chunks not yet started and returns control at once
    (worker threads finish their current chunk in the background); the ``KeyboardInterrupt``
    carries ``completed``, the results of the chunks finished before it, in order.
    """
    starts = list(starts)
    first, rest = compute_chunk(starts[0]), starts[1:]
    if workers == 1:
        check_values()
        ready = _pipelined(compute_chunk, rest, pending=first)
    else:
        ready = _threaded(compute_chunk, first, rest, workers, check_values)
    pieces = []
    try:
        for piece in ready:
            pieces.append(piece)
            report(len(pieces))
    except KeyboardInterrupt as err:
        err.completed = pieces
        raise
    return pieces


def _threaded(compute_chunk, first, rest, workers: int, check_values):
    """Yield ``first`` and the chunks ``rest`` in order, fitted by ``workers`` threads, each
    pipelining the next chunks it claims (in order, so no thread idles while chunks are left);
    ``check_values`` runs here meanwhile."""
    cancelled = threading.Event()
    futures = [Future() for _ in rest]
    unclaimed, lock = iter(range(len(rest))), threading.Lock()

    def fit_live(start):
        if cancelled.is_set():
            raise _Cancelled
        return compute_chunk(start)

    def run_share():
        claimed = []

        def claim():
            while True:
                with lock:
                    i = next(unclaimed, None)
                if i is None:
                    return
                claimed.append(i)
                yield rest[i]

        try:
            for k, piece in enumerate(_pipelined(fit_live, claim())):
                futures[claimed[k]].set_result(piece)
        except BaseException as err:  # hand the failure to whoever waits for these chunks
            with lock:
                claimed.extend(unclaimed)  # and no thread starts another one
            for i in claimed:
                if not futures[i].done():
                    futures[i].set_exception(err)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="jaxmle-fit")
    for _ in range(workers):
        pool.submit(run_share)
    # The first chunk is awaited on a helper thread too: the calling thread only ever waits on
    # futures, which a signal interrupts at once (a wait inside XLA would not be interrupted).
    head = Future()
    threading.Thread(
        target=lambda: _settle(head, jax.block_until_ready, first), daemon=True
    ).start()
    try:
        check_values()
        yield head.result()
        for future in futures:
            yield future.result()
    except BaseException:
        # Input error, Ctrl-C or an abandoned generator: no further chunk starts, and control
        # returns now rather than after the chunks in flight (they end in the background).
        cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _settle(future: Future, fn, *args) -> None:
    """Complete ``future`` with ``fn(*args)`` or its exception."""
    try:
        future.set_result(fn(*args))
    except BaseException as err:
        future.set_exception(err)


class _Cancelled(Exception):
    """A chunk not started because the input checks failed."""


def _pipelined(compute_chunk, starts, pending=None):
    """Yield each chunk's computed result, dispatching the next one before waiting."""
    for start in starts:
        piece = compute_chunk(start)
        if pending is not None:
            yield jax.block_until_ready(pending)
        pending = piece
    if pending is not None:
        yield jax.block_until_ready(pending)


def choose_chunk_size(chunk_size, data, batch: int, n_devices: int) -> int:
    """Datasets per chunk: ``chunk_size``, or a power of two holding the platform's byte budget;
    a multiple of the device count; a bucket size when the whole batch fits in one chunk."""
    if chunk_size is None:
        per_dataset = bytes_per_dataset(data)
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


def _round_up(m: int, multiple: int) -> int:
    return -(-m // multiple) * multiple


def take(tree, *, index, contiguous, place):
    """The datasets ``index`` of every leaf, placed on the device(s)."""

    def one(leaf):
        if contiguous:
            piece = leaf[int(index[0]) : int(index[-1]) + 1]
        else:
            piece = leaf[index] if isinstance(leaf, np.ndarray) else jnp.take(leaf, index, axis=0)
        return place(piece)

    return jax.tree_util.tree_map(one, tree)


def device_mesh(devices):
    """A 1-D mesh with axis ``"batch"`` over ``devices`` (``"all"``: the local ones; ``"global"``:
    those of every process, see :mod:`._distributed`), or None."""
    if devices is None:
        return None
    if isinstance(devices, str):
        if devices == "global":
            return global_mesh()
        if devices != "all":
            raise ValueError(
                f"devices must be None, 'all', 'global' or a sequence of devices, got {devices!r}"
            )
        devices = jax.local_devices()
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty")
    return Mesh(np.array(devices), ("batch",))


def placement(mesh):
    """How a chunk's arrays go to the device(s): split along the batch axis over a mesh."""
    if mesh is None:
        return jax.device_put
    if mesh.is_multi_process:  # devices="global": this process's part of the chunk
        return global_placement(mesh)
    sharding = NamedSharding(mesh, P("batch"))
    return lambda piece: jax.device_put(piece, sharding)


def join_results(pieces, batch: int) -> FitResult:
    """One result from the chunks' results, without the padded fits.

    Joined on the host with numpy: jnp.concatenate would compile a new program for every number
    of chunks, and its compilation would cost more memory and time than the join itself.
    """
    if len(pieces) == 1 and len(pieces[0]) == batch:
        return pieces[0]

    def join(*leaves):
        return jnp.asarray(np.concatenate([np.asarray(leaf) for leaf in leaves])[:batch])

    return jax.tree_util.tree_map(join, *pieces)


def mark_refused(res: FitResult, refused: dict) -> FitResult:
    """The batch result with the refused datasets marked: ``Status.INVALID_DATA``, NaN
    estimates, zero iterations, and ``res.messages`` saying why."""
    index = np.asarray(sorted(refused), dtype=np.int64)

    def mark(leaf):
        leaf = np.array(leaf)  # a writable host copy
        if index.size:
            if np.issubdtype(leaf.dtype, np.floating):
                leaf[index] = np.nan
            else:
                leaf[index] = 0
        return jnp.asarray(leaf)

    marked = jax.tree_util.tree_map(mark, res)
    status = np.array(res.status)
    status[index] = Status.INVALID_DATA
    return dataclasses.replace(
        marked, status=jnp.asarray(status), messages=Messages(refused, len(status))
    )
