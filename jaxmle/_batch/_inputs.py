"""The inputs of a batch: stacked or ragged datasets, their weights, groups and starting values.

* **Buckets.** Ragged datasets are padded to a bucketed length (:func:`bucket_size`, at most 25%
  padding), so batches of many different sizes share a few compiled programs.
* **Padding** never changes a result: padded rows repeat the dataset's first row (so the
  log-density stays finite and in the support) with weight 0.
* **Checks.** A ragged batch is checked dataset by dataset while it is stacked. A stacked batch
  has its structure checked on the first dataset at once, and its values checked in blocks of
  ``_CHECK_BYTES`` (bounded temporaries) while the first chunks compute.
* **Starts.** ``init`` values are either one start for every dataset (the parameter's shape) or
  one start per dataset (a leading batch axis).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import (
    check_dtype,
    check_init_names,
    leaf_label,
    validate_groups,
    validate_inputs,
    warn_if_downcast,
)

__all__ = ["bucket_size", "pad_datasets"]

#: Bytes of data validated at a time by ``fit_many``'s eager checks (bounds their temporaries).
_CHECK_BYTES = 8 * 2**20


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


def stack_ragged(model, datasets, weights, groups, refused: dict | None = None):
    """``(data, weights, groups)`` stacked from lists, each dataset checked on the way.

    With a ``refused`` dict, a dataset that fails its checks is recorded there (index ->
    message) and stands in the stack as a copy of the first good one, instead of raising.
    """
    datasets = list(datasets)
    weights = _per_dataset(weights, len(datasets), "weights")
    groups = _per_dataset(groups, len(datasets), "groups")
    for b, d in enumerate(datasets):
        try:
            datasets[b] = d = jax.tree_util.tree_map(_host_array, d)
            w = None if weights is None else np.asarray(weights[b])
            validate_inputs(model, d, w, where=f"dataset {b}: ")
            if groups is not None:
                n = int(jax.tree_util.tree_leaves(d)[0].shape[0])
                validate_groups(groups[b], n, where=f"dataset {b}: ")
        except (ValueError, TypeError) as err:
            if refused is None:
                raise
            refused[b] = str(err)
    if refused:
        good = next((b for b in range(len(datasets)) if b not in refused), None)
        if good is None:
            raise _every_dataset_refused(refused)
        for b in refused:
            datasets[b] = datasets[good]
            if weights is not None:
                weights[b] = weights[good]
            if groups is not None:
                groups[b] = groups[good]
    length = bucket_size(max(int(jax.tree_util.tree_leaves(d)[0].shape[0]) for d in datasets))
    stacked, mask = pad_datasets(datasets, length)
    if weights is not None:
        mask = mask * pad_datasets([np.asarray(w, dtype=float) for w in weights], length)[0]
    if groups is not None:
        groups = pad_datasets([np.asarray(g) for g in groups], length)[0]
    return stacked, mask, groups


def _every_dataset_refused(refused: dict) -> ValueError:
    """The error of ``errors="status"`` when no dataset is left to fit: the first one's reason."""
    return ValueError(f"errors='status': every dataset was refused; {refused[0]}")


def _per_dataset(values, batch, what):
    if values is None:
        return None
    if len(values) != batch:
        raise ValueError(f"{what}: expected one entry per dataset ({batch}), got {len(values)}")
    return list(values)


def _host_array(leaf):
    """A numpy array, its dtype checked (a clear ``TypeError`` for text or complex numbers)."""
    leaf = np.asarray(leaf)
    check_dtype(leaf.dtype, "data")
    warn_if_downcast(leaf.dtype)
    return leaf


def _as_array(leaf):
    """JAX arrays stay where they are; anything else becomes a numpy array on the host."""
    if isinstance(leaf, jax.Array):
        return leaf
    leaf = np.asarray(leaf)
    warn_if_downcast(leaf.dtype)
    return leaf


def check_stacked(model, data, weights, groups):
    """``(data, weights, groups, check_values)`` for a stacked batch; ``check_values()`` checks
    every dataset's values and raises naming the first bad one."""
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
    first = dataset(0)[0]
    try:
        model.check_shapes(first)
    except ValueError as err:
        raise ValueError(f"dataset 0: {err}") from None
    for path, leaf in jax.tree_util.tree_flatten_with_path(first)[0]:
        check_dtype(leaf.dtype, leaf_label(path), f"dataset 0: {model.name}: ")
    if groups is not None:
        groups = _as_array(groups)
        if groups.shape != (batch, n):
            raise ValueError(f"groups must have shape {(batch, n)}, got {groups.shape}")

    block = max(1, _CHECK_BYTES // max(bytes_per_dataset(data), 1))

    def check_values(refused: dict | None = None):
        # Blocks of datasets, the batch axis folded into the observation axis (host views: no
        # copy): vectorised checks whose temporaries stay a few MiB whatever the batch size. On
        # failure, the first offending dataset of the block is found and named (with a
        # ``refused`` dict: every offending dataset is recorded there instead).
        for b in map(int, _nan_labelled(groups)):
            message = f"dataset {b}: groups contain NaN labels"
            if refused is None:
                raise ValueError(message)
            refused[b] = message
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
                    try:
                        validate_inputs(model, *dataset(b), where=f"dataset {b}: ")
                    except ValueError as err:
                        if refused is None:
                            raise
                        refused[b] = str(err)
                if refused is None:
                    raise
        if refused is not None and len(refused) == batch:
            raise _every_dataset_refused(refused)

    return data, weights, groups, check_values


def _nan_labelled(groups) -> np.ndarray:
    """The datasets of a stacked batch whose cluster labels contain NaN."""
    if groups is None:
        return np.zeros(0, int)
    labels = np.asarray(groups)
    if not np.issubdtype(labels.dtype, np.floating):
        return np.zeros(0, int)
    return np.flatnonzero(np.any(np.isnan(labels), axis=1))


def _dataset(data, weights, b: int):
    """Dataset ``b`` of a stacked batch and its weights, as host arrays."""
    one = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf[b]), data)
    return one, None if weights is None else np.asarray(weights[b])


def bytes_per_dataset(data) -> int:
    """Bytes of one dataset of a stacked batch (leaves ``(B, n, ...)``)."""
    return sum(
        math.prod(leaf.shape[1:]) * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(data)
    )


def split_init(model, init, batch: int):
    """``(shared, per_dataset)`` dicts of starting values from ``fit_many``'s ``init``.

    A value shaped like its parameter is one start for every dataset; a value with a leading
    axis of length ``batch`` gives each dataset its own start. Values are checked against the
    parameter's domain (a bad per-dataset start is named by its dataset).
    """
    if init is None:
        return {}, {}
    check_init_names(model, init)
    shared, per_dataset = {}, {}
    for key, value in init.items():
        spec, value = model.specs[key], np.asarray(value, dtype=float)  # 0 and 0.0 alike
        if value.shape == spec.shape:
            spec.check(value, f"init[{key!r}]")
            shared[key] = jnp.asarray(value)
        elif value.shape == (batch,) + spec.shape:
            _check_per_dataset(spec, value, f"init[{key!r}]")
            per_dataset[key] = value
        else:
            raise ValueError(
                f"init[{key!r}]: expected shape {spec.shape} (one start for every dataset) or "
                f"{(batch,) + spec.shape} (one start per dataset), got {value.shape}"
            )
    return shared, per_dataset


def _check_per_dataset(spec, values: np.ndarray, what: str) -> None:
    """Every start inside the domain; entry-wise domains are checked in one vectorised pass."""
    if spec.elementwise and np.all(spec.contains(values.astype(float))):
        return
    for b in range(values.shape[0]):
        spec.check(values[b], f"{what}[{b}] (dataset {b})")
