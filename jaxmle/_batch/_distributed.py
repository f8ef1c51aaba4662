"""``fit_many(..., devices="global")``: one batch per process, fitted on every device of every
process (JAX's multi-process runtime, started by ``jax.distributed.initialize()``).

Every process calls ``fit_many`` with its own datasets and gets back the results of those
datasets, in order. The processes first agree on a plan (one small all-gather of a few integers):

* **Shapes.** Every chunk is one program over a global 1-D mesh (axis ``"batch"``) of all devices,
  ordered by process, so every process must run the same number of chunks of the same shapes.
  Ragged batches (lists) are re-padded to the longest process's bucketed length (padding never
  changes a result); stacked batches must have equal trailing shapes, or weights to pad with.
* **Counts.** Processes may hold different numbers of datasets: each process's chunk has
  ``chunk`` rows (a multiple of its local device count) and every process runs as many chunks as
  the largest batch needs, padding its own with copies of one of its datasets (dropped after).
* **Keys.** Dataset ``i`` of process ``p`` is dataset ``offset_p + i`` of the concatenation of
  every process's batch in process order, and draws its multiple starts with
  ``fold_in(key, offset_p + i)``: results equal a single process fitting the concatenation.

Each device runs its own solver loop on its share (``shard_map`` with no collective), so there is
no cross-process communication during the fits; only each process's own rows come back to it.
"""

from __future__ import annotations

import zlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["agree", "global_mesh", "global_placement", "is_global", "local_part", "replicate"]


def global_mesh() -> Mesh:
    """A 1-D mesh over every device of every process, grouped by process."""
    if jax.process_count() == 1 and not jax.distributed.is_initialized():
        raise ValueError(
            "devices='global' needs JAX's multi-process runtime: call "
            "jax.distributed.initialize() in every process first (under SLURM it takes no "
            "arguments); for the devices of this process use devices='all'"
        )
    counts = {}
    for device in jax.devices():
        counts[device.process_index] = counts.get(device.process_index, 0) + 1
    if len(set(counts.values())) != 1:
        raise ValueError(
            f"devices='global' needs the same number of devices in every process, got {counts}"
        )
    devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    return Mesh(np.array(devices), ("batch",))


def is_global(mesh) -> bool:
    return mesh is not None and mesh.is_multi_process


def agree(data, weights, groups, batch: int, signature):
    """``(data, weights, groups, offset, batch_max)`` agreed by every process.

    ``signature`` is anything hashable by ``repr`` that every process must share (the model,
    the options); the data's structure, trailing shapes and dtypes are added to it. Raises the
    same ``ValueError`` on every process when they disagree.
    """
    leaves = jax.tree_util.tree_leaves(data)
    length = int(leaves[0].shape[1])
    layout = (
        jax.tree_util.tree_structure(data),
        tuple((leaf.shape[2:], str(np.dtype(leaf.dtype))) for leaf in leaves),
        weights is None,
        groups is None,
        signature,
    )
    stamp = zlib.crc32(repr(layout).encode())
    mine = np.array([batch, length, stamp], dtype=np.int64)
    from jax.experimental import multihost_utils

    table = np.asarray(multihost_utils.process_allgather(mine)).reshape(-1, 3)
    if len(set(table[:, 2].tolist())) != 1:
        raise ValueError(
            "devices='global': the processes passed batches of different structures, dtypes or "
            "options; every process must call fit_many with the same model and options and "
            "datasets of the same layout"
        )
    lengths = table[:, 1]
    longest = int(lengths.max())
    if longest != length:
        if weights is None:
            raise ValueError(
                "devices='global': stacked datasets have different numbers of observations on "
                f"different processes ({sorted(set(lengths.tolist()))}); pass lists of datasets "
                "(ragged) or weights, so that they can be padded to a common length"
            )
        data = jax.tree_util.tree_map(lambda leaf: _pad(leaf, longest, "first"), data)
        weights = _pad(weights, longest, "zero")
        if groups is not None:
            groups = _pad(groups, longest, "first")
    offset = int(table[: jax.process_index(), 0].sum())
    return data, weights, groups, offset, int(table[:, 0].max())


def _pad(leaf, length: int, fill: str):
    """``leaf`` ``(B, n, ...)`` padded along axis 1 to ``length``: repeating each dataset's first
    row (inside the support) or with zeros (weights of padded rows)."""
    leaf = np.asarray(leaf)
    extra = length - leaf.shape[1]
    if fill == "zero":
        filler = np.zeros((leaf.shape[0], extra) + leaf.shape[2:], leaf.dtype)
    else:
        filler = np.repeat(leaf[:, :1], extra, axis=1)
    return np.concatenate([leaf, filler], axis=1)


def global_placement(mesh: Mesh):
    """Each process's chunk, split over its own devices, as one global array sharded over
    ``mesh`` (the chunks of the processes stacked in process order)."""
    local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    sharding = NamedSharding(mesh, P("batch"))
    n_processes = mesh.size // len(local)

    def place(piece):
        piece = np.asarray(piece)
        rows = piece.shape[0] // len(local)
        shards = [
            jax.device_put(piece[k * rows : (k + 1) * rows], device)
            for k, device in enumerate(local)
        ]
        shape = (piece.shape[0] * n_processes,) + piece.shape[1:]
        return jax.make_array_from_single_device_arrays(shape, sharding, shards)

    return place


def replicate(mesh: Mesh, tree):
    """Values every process holds alike (shared starting values, the random key), as global
    arrays replicated over ``mesh``."""
    sharding = NamedSharding(mesh, P())

    def one(leaf):
        if leaf is None:
            return None
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            impl = jax.random.key_impl(leaf)
            return jax.random.wrap_key_data(one(jax.random.key_data(leaf)), impl=impl)
        value = np.asarray(leaf)
        return jax.make_array_from_process_local_data(sharding, value, value.shape)

    return jax.tree_util.tree_map(one, tree)


def local_part(tree):
    """This process's rows of a batch-sharded global result, as host arrays in order."""

    def one(leaf):
        shards = sorted(leaf.addressable_shards, key=lambda s: s.index[0].start or 0)
        return jnp.asarray(np.concatenate([np.asarray(s.data) for s in shards]))

    return jax.tree_util.tree_map(one, tree)
