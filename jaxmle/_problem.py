"""`Problem`: the data of one fit, passed explicitly to everything that evaluates the objective.

A fit maximises the weighted log-likelihood ``sum_i w_i l_i(theta)`` of one dataset. The solver,
the covariances, the diagnostics and the implicit derivatives all receive that dataset as one
explicit argument, ``problem = Problem(data, weights, groups)``, never as a closure: that is what
lets :func:`jax.custom_jvp` see the data as an input of the fit (implicit differentiation), and
what lets one ``while_loop`` driver serve every solver.

This module owns the weight and padding rules:

* ``weights`` are frequency weights, ``(n,)``, in the floating dtype of the fit; ``None`` means
  ones. A weight ``k`` counts a row ``k`` times; a weight 0 drops it (that is how padding works).
* A row of weight 0 contributes exactly 0 to every sum, even where its log-density is ``-inf``
  or NaN: :meth:`Problem.weigh` selects instead of multiplying.

Examples:
    >>> import jax.numpy as jnp
    >>> problem = Problem.build(jnp.array([1.0, 2.0, 3.0]), weights=jnp.array([1.0, 2.0, 0.0]))
    >>> problem.n, float(problem.nobs)
    (3, 3.0)
    >>> problem.weigh(jnp.array([-1.0, -2.0, -jnp.inf])).tolist()
    [-1.0, -4.0, 0.0]
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["Problem", "float_dtype", "n_observations"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Problem:
    """One dataset: ``data`` (pytree, leading axis ``n``), ``weights`` ``(n,)``, ``groups``.

    Attributes:
        data: any pytree whose leaves share the leading observation axis ``n``.
        weights: ``(n,)`` frequency weights in the fit's floating dtype (0 drops a row).
        groups: ``(n,)`` cluster labels for ``cov_type="cluster"``, or ``None``.
    """

    data: object
    weights: jax.Array
    groups: jax.Array | None = None

    @classmethod
    def build(cls, data, weights=None, groups=None) -> Problem:
        """A problem with the default weights (ones) filled in, in the data's floating dtype.
        Empty data and weights of another length raise a ``ValueError`` (at trace time under
        ``jit``: shapes are static)."""
        data = jax.tree_util.tree_map(jnp.asarray, data)
        dtype = float_dtype(data)
        # Booleans (y = x > 0) are numbers to a likelihood.
        data = jax.tree_util.tree_map(
            lambda leaf: leaf.astype(dtype) if leaf.dtype == bool else leaf, data
        )
        n = n_observations(data)
        if n == 0:
            raise ValueError("data has no observations: its leading (observation) axis is empty")
        if weights is not None and jnp.shape(weights) != (n,):
            raise ValueError(
                f"weights must have shape ({n},) to match data, got {jnp.shape(weights)}"
            )
        weights = jnp.ones((n,), dtype) if weights is None else jnp.asarray(weights).astype(dtype)
        return cls(data, weights, None if groups is None else jnp.asarray(groups))

    @property
    def n(self) -> int:
        """Number of rows (static), padding included."""
        return n_observations(self.data)

    @property
    def dtype(self):
        """The floating dtype of the fit."""
        return self.weights.dtype

    @property
    def included(self) -> jax.Array:
        """``(n,)`` mask of the rows that count (positive weight)."""
        return self.weights > 0

    @property
    def effective_weights(self) -> jax.Array:
        """The weights with every excluded row at exactly 0."""
        return jnp.where(self.included, self.weights, 0.0)

    @property
    def nobs(self) -> jax.Array:
        """Number of observations, ``sum_i w_i``."""
        return jnp.sum(self.effective_weights)

    def weigh(self, terms: jax.Array) -> jax.Array:
        """``w_i * terms_i`` on included rows and exactly 0 on the others (padding)."""
        return jnp.where(self.included, self.weights * terms, 0.0)

    def total(self, terms: jax.Array) -> jax.Array:
        """``sum_i w_i terms_i`` over the included rows."""
        return jnp.sum(self.weigh(terms))

    def with_weights(self, weights: jax.Array) -> Problem:
        """The same data and groups with other weights (bootstrap reweighting)."""
        return dataclasses.replace(self, weights=weights.astype(self.dtype))

    def with_data(self, data) -> Problem:
        """Other data (same shapes) with these weights and groups."""
        return dataclasses.replace(self, data=data)


def n_observations(data) -> int:
    """Length of the leading (observation) axis shared by every leaf of ``data``."""
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data is empty: it must hold at least one array")
    return int(jnp.shape(leaves[0])[0]) if jnp.ndim(leaves[0]) else 0


def float_dtype(data):
    """The floating dtype to compute in: that of the data's float leaves, else JAX's default."""
    floats = [
        leaf.dtype
        for leaf in jax.tree_util.tree_leaves(data)
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    return jnp.result_type(*floats) if floats else jnp.result_type(float)
