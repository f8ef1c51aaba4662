"""The compiled program of a study chunk: draw the replicates' datasets, fit, build intervals.

One program per (model, padded length, options): a chunk of replicates at sample size ``n`` is
drawn at the padded length ``study_bucket(n)`` and rows beyond ``n`` get weight zero, so every
size of an octave shares the program (``n`` is an argument, not a shape). With the model's own
simulator the draw happens inside the program; a user's ``generate(key, truth, n)`` is called
with the static ``n`` (its shapes may depend on it), which compiles one program per size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._compile import program
from .._fit import fit
from .._inference.profile import profile_ci
from .._results import flatten_batched

__all__ = ["run_chunk", "host", "template", "pad_rows"]


def template(length: int):
    """The layout the default simulator receives: ``length`` rows (families need only the size)."""
    return jnp.zeros((length,))


def pad_rows(data, length: int):
    """Pad every leaf of a dataset up to ``length`` rows by repeating its last row, so that the
    padding (weight zero) stays inside the model's support (zeros would not, e.g. for a Gamma)."""

    def pad(leaf):
        leaf = jnp.asarray(leaf)
        widths = [(0, length - leaf.shape[0])] + [(0, 0)] * (leaf.ndim - 1)
        return jnp.pad(leaf, widths, mode="edge")

    return jax.tree_util.tree_map(pad, data)


@program(
    static_argnames=("model", "generate", "length", "static_n", "level", "methods", "max_steps"),
)
def run_chunk(keys, n, truth, *, model, generate, length, static_n, level, methods, max_steps):
    """Per-replicate ``estimate``, ``se`` (``(C, k)``), ``status``, ``n_iter`` (``(C,)``) and
    ``lower``/``upper`` bounds (``(C, len(methods), k)``) for the data keys ``keys`` (``(C,)``)."""
    weights = (jnp.arange(length) < n).astype(jnp.result_type(float))

    def one(key):
        if generate is None:
            data = model.simulate(key, truth, template(length))
        else:
            data = pad_rows(generate(key, truth, static_n), length)
        return analyse(model, data, weights, level, methods, max_steps)

    return jax.vmap(one)(keys)


def analyse(model, data, weights, level: float, methods: tuple[str, ...], max_steps: int):
    """Fit one dataset and compute its intervals (traceable)."""
    res = fit(model, data, weights=weights, max_steps=max_steps)
    bounded = res.model
    lower, upper = [], []
    for method in methods:
        if method == "profile":
            lo, hi = _profile_bounds(bounded, data, res, level, weights)
        else:
            lo, hi = res.conf_int(level, method)
        lower.append(flatten_batched(bounded, lo))
        upper.append(flatten_batched(bounded, hi))
    return {
        "estimate": flatten_batched(bounded, res.params),
        "se": flatten_batched(bounded, res.se),
        "status": res.status,
        "n_iter": res.n_iter,
        "lower": jnp.stack(lower),
        "upper": jnp.stack(upper),
    }


def _profile_bounds(model, data, res, level, weights):
    """Profile bounds of the entry-wise parameters; NaN for the others (Simplex and friends)."""
    interval = profile_ci(model, data, res, level, weights=weights)
    nan = {k: jnp.full(spec.shape, jnp.nan) for k, spec in model.specs.items()}
    return {**nan, **interval.lower}, {**nan, **interval.upper}


def host(outputs) -> dict[str, np.ndarray]:
    """A chunk's outputs as numpy arrays (one transfer)."""
    return {name: np.asarray(value) for name, value in jax.device_get(outputs).items()}
