"""`fit_many`: many datasets in one call: stacked or ragged, chunked, jit-compiled once.

Ragged datasets are padded to a common length: padded rows repeat the dataset's first row (so the
log-density stays finite and in the support) and get weight 0, so they change no estimate,
log-likelihood or ``nobs``.
"""

from __future__ import annotations

import functools
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._fit import DEFAULT_MAX_STEPS, _validate_init, fit_prepared, validate_inputs
from ._model import Model
from ._results import FitResult

__all__ = ["fit_many", "pad_datasets"]


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
    progress: bool = False,
) -> FitResult:
    """Fit ``model`` to every dataset of a batch; one :class:`~jaxmle.FitResult` with axis ``B``.

    Args:
        model: the model fitted to every dataset.
        datasets: either a stacked pytree whose leaves have shape ``(B, n, ...)``, or a list of
            ``B`` datasets (pytrees with leading axis ``n_b``) of possibly different sizes.
        weights: ``(B, n)`` frequency weights for stacked input, or a list of ``(n_b,)`` arrays.
        solver, init, max_steps, tol, cov_type: as in :func:`~jaxmle.fit`, shared by all fits.
        groups: cluster labels, ``(B, n)`` or a list of ``(n_b,)`` arrays.
        chunk_size: fit at most this many datasets at a time to bound memory; every chunk has the
            same shape (the last one is padded), so compilation happens once.
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
    if isinstance(datasets, (list, tuple)):
        data, weights, groups = _stack_ragged(model, datasets, weights, groups)
    else:
        data, weights, groups = _check_stacked(model, datasets, weights, groups)
    if init is not None:
        _validate_init(model, init)
        init = {key: jnp.asarray(value) for key, value in init.items()}

    batch = int(jax.tree_util.tree_leaves(data)[0].shape[0])
    chunk = batch if chunk_size is None else max(1, min(int(chunk_size), batch))
    solve = functools.partial(
        _fit_batch,
        model=model,
        solver=solver,
        max_steps=int(max_steps),
        tol=tol,
        cov_type=cov_type,
    )
    pieces, started = [], time.perf_counter()
    for start in range(0, batch, chunk):
        stop = min(start + chunk, batch)
        index = np.arange(start, start + chunk).clip(max=batch - 1)
        take = lambda tree: jax.tree_util.tree_map(lambda leaf: leaf[index], tree)  # noqa: E731
        result = solve(take(data), take(weights), init, None if groups is None else take(groups))
        pieces.append(jax.tree_util.tree_map(lambda leaf: leaf[: stop - start], result))
        if progress:
            elapsed = time.perf_counter() - started
            print(f"jaxmle.fit_many: {stop}/{batch} fits done in {elapsed:.1f}s", file=sys.stderr)
    if len(pieces) == 1:
        return pieces[0]
    return jax.tree_util.tree_map(lambda *leaves: jnp.concatenate(leaves), *pieces)


@functools.partial(jax.jit, static_argnames=("model", "solver", "max_steps", "tol", "cov_type"))
def _fit_batch(data, weights, init, groups, *, model, solver, max_steps, tol, cov_type):
    def one(d, w, g):
        return fit_prepared(model, d, w, solver, init, max_steps, tol, cov_type, g)

    return jax.vmap(one, in_axes=(0, 0, None if groups is None else 0))(data, weights, groups)


def pad_datasets(datasets, length: int | None = None):
    """Stack datasets of different sizes into ``(B, length, ...)`` leaves plus a 0/1 mask.

    Padded rows repeat each dataset's first row, so they stay inside the model's support.

    Returns:
        ``(stacked, mask)`` with ``mask`` of shape ``(B, length)``.
    """
    sizes = [int(jax.tree_util.tree_leaves(d)[0].shape[0]) for d in datasets]
    length = max(sizes) if length is None else int(length)
    if length < max(sizes):
        raise ValueError(f"length={length} is shorter than the largest dataset ({max(sizes)})")

    def pad(leaf, size):
        leaf = np.asarray(leaf)
        filler = np.repeat(leaf[:1], length - size, axis=0)
        return np.concatenate([leaf, filler], axis=0)

    padded = [jax.tree_util.tree_map(lambda x, s=s: pad(x, s), d) for d, s in zip(datasets, sizes)]
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.asarray(np.stack(xs)), *padded)
    mask = np.zeros((len(datasets), length))
    for b, size in enumerate(sizes):
        mask[b, :size] = 1.0
    return stacked, mask


def _stack_ragged(model, datasets, weights, groups):
    if not datasets:
        raise ValueError("datasets is an empty list")
    datasets = [jax.tree_util.tree_map(np.asarray, d) for d in datasets]
    weights = _per_dataset(weights, len(datasets), "weights")
    groups = _per_dataset(groups, len(datasets), "groups")
    for b, d in enumerate(datasets):
        w = None if weights is None else jnp.asarray(weights[b])
        validate_inputs(model, jax.tree_util.tree_map(jnp.asarray, d), w, where=f"dataset {b}: ")
    stacked, mask = pad_datasets(datasets)
    if weights is not None:
        mask = mask * pad_datasets([np.asarray(w, dtype=float) for w in weights])[0]
    if groups is not None:
        groups = pad_datasets([np.asarray(g) for g in groups])[0]
    return stacked, jnp.asarray(mask), groups


def _per_dataset(values, batch, what):
    if values is None:
        return None
    if len(values) != batch:
        raise ValueError(f"{what}: expected one entry per dataset ({batch}), got {len(values)}")
    return list(values)


def _check_stacked(model, data, weights, groups):
    data = jax.tree_util.tree_map(jnp.asarray, data)
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves or any(leaf.ndim < 2 for leaf in leaves):
        raise ValueError(
            "stacked datasets need leaves of shape (B, n, ...): a batch axis then an observation "
            "axis; pass a list for datasets of different sizes"
        )
    batch = leaves[0].shape[0]
    if any(leaf.shape[0] != batch for leaf in leaves):
        raise ValueError("stacked datasets disagree on the batch size (first axis)")
    # Validate all datasets in one pass by folding the batch axis into the observation axis.
    flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), data)
    flat_weights = None
    if weights is not None:
        weights = jnp.asarray(weights)
        n = leaves[0].shape[1]
        if weights.shape != (batch, n):
            raise ValueError(f"weights must have shape {(batch, n)}, got {weights.shape}")
        flat_weights = weights.reshape(-1)
    validate_inputs(model, flat, flat_weights)
    if weights is None:
        weights = jnp.ones(leaves[0].shape[:2])
    elif not bool(jnp.all(jnp.any(weights > 0, axis=1))):
        raise ValueError("weights: some datasets have all weights zero: nothing to fit there")
    return data, weights, None if groups is None else jnp.asarray(groups)
