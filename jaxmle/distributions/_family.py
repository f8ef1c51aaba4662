"""`Family`: the shared base of the built-in distribution families, plus helpers for them.

A family is a :class:`~jaxmle.Model` whose data is the raw array of observations ``x`` (shape
``(n,)`` for scalar families, ``(n, d)`` for vector ones, or a small dict such as Binomial's
``{"y", "trials"}``). On top of the model contract it knows its distribution: per-observation log
density, log CDF and log survival function (where they exist), a sampler, a data-driven weighted
start (the model's ``init_params``) and an eager support check (the model's ``validate_data``).

Where a family knows its per-observation Fisher information ``I(theta)`` on the natural scale it
implements :meth:`Family.fisher_information`, and :meth:`Family.expected_information` turns it into
the information of the weighted objective on the unconstrained scale,

    I_u = (sum_i w_i) * J^T I(theta) J,    J = d flatten(T(u)) / du.

Examples:
    >>> import jax.numpy as jnp, jax.scipy.stats as jss
    >>> import jaxmle as jm
    >>> from jaxmle.distributions._family import Family, weighted_mean, weighted_var
    >>> class MyNormal(Family):
    ...     support_description = "x real"
    ...     def __init__(self):
    ...         super().__init__({"loc": jm.Real(0.0), "scale": jm.Positive(1.0)})
    ...     def logpdf(self, params, x):
    ...         return jss.norm.logpdf(x, params["loc"], params["scale"])
    ...     def start(self, x, weights):
    ...         m = weighted_mean(x, weights)
    ...         return {"loc": m, "scale": jnp.sqrt(weighted_var(x, weights, m))}
    >>> res = jm.fit(MyNormal(), jnp.array([0.5, 1.5, 2.0, 3.0]))
    >>> round(float(res.params["loc"]), 6)
    1.75
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._constraints import ParamSpec
from .._model import Model
from .._problem import Problem
from .._status import Status

__all__ = [
    "Family",
    "log1mexp",
    "support_error",
    "weighted_mean",
    "weighted_quantile",
    "weighted_var",
]


class Family(Model):
    """Base class of the built-in families.

    Subclasses call ``super().__init__(params={...}, name=...)`` and implement
    :meth:`logpdf`; the others are optional. :meth:`~jaxmle.Model.init_params` fills the specs'
    defaults with :meth:`start`; :meth:`in_support` is the support rule (behind
    :meth:`~jaxmle.Model.valid_rows`) and :meth:`validate_data` explains eagerly what it refuses.

    Args:
        params: ordered mapping from parameter name to spec (natural constraints).
        name: label in summaries and error messages; defaults to the class name.

    Attributes:
        support_description: the support in words, used in error messages (e.g. ``"x > 0"``).
    """

    support_description: str = "x real"
    #: Shape of one observation (each data row): ``()`` for scalar families.
    observation_shape: tuple[int, ...] = ()
    #: True where the MLE needs data that vary: with every observation equal, a scale runs to 0
    #: or a shape to infinity, and the fit is reported as ``Status.BOUNDARY``.
    needs_spread: bool = False

    def __init__(self, params: Mapping[str, ParamSpec], *, name: str | None = None):
        super().__init__(None, params=params, name=name or type(self).__name__)

    # -- the distribution ----------------------------------------------------------------------
    def logpdf(self, params: dict, x) -> jax.Array:
        """Per-observation log density (or log mass) of ``x``, shape ``(n,)``."""
        raise NotImplementedError

    def logcdf(self, params: dict, x) -> jax.Array:
        """Per-observation ``log F(x)``, shape ``(n,)``."""
        raise NotImplementedError(f"{self.name} has no logcdf")

    def logsf(self, params: dict, x) -> jax.Array:
        """Per-observation log survival function ``log(1 - F(x))``, shape ``(n,)``."""
        raise NotImplementedError(f"{self.name} has no logsf")

    def sample(self, key: jax.Array, params: dict, shape: tuple[int, ...] = ()) -> jax.Array:
        """Draws of shape ``shape`` (followed by the event shape) at ``params``."""
        raise NotImplementedError(f"{self.name} has no sampler")

    @property
    def can_simulate(self) -> bool:
        return type(self).sample is not Family.sample

    def simulate(self, key: jax.Array, params: dict, data):
        """``sample(key, params, (n,))``: ``n`` draws, the size of ``data``."""
        if not self.can_simulate:
            return super().simulate(key, params, data)
        return self.sample(key, params, (jax.tree_util.tree_leaves(data)[0].shape[0],))

    def start(self, x, weights: jax.Array) -> dict:
        """Data-driven starting values (natural scale, any subset of parameters); traceable.

        ``weights`` are frequency weights, possibly zero for padded rows, which must then not
        influence the start.
        """
        return {}

    def in_support(self, x) -> np.ndarray:
        """Boolean mask (numpy) of the entries of concrete ``x`` inside the support."""
        return namespace(x).isfinite(x)

    def valid_rows(self, data):
        inside = self.in_support(data)
        xp = namespace(inside)
        inside = xp.reshape(inside, (inside.shape[0], -1)).all(axis=1)
        return inside & super().valid_rows(data)

    def validate_data(self, x) -> None:
        """Raise ``ValueError`` naming the family and the offending values when concrete ``x``
        leaves the support (NaN and infinities included)."""
        x = np.asarray(x)
        bad = ~np.asarray(self.in_support(x), dtype=bool)
        if np.any(bad):
            raise support_error(self.name, x, bad, self.support_description)

    def fisher_information(self, params: dict) -> jax.Array | None:
        """Per-observation Fisher information on the natural scale, ``(k, k)`` over the
        flattened parameters (order ``param_names``); ``None`` when not known in closed form."""
        return None

    # -- Model hooks ---------------------------------------------------------------------------
    def init_params(self, problem: Problem) -> dict:
        start = {key: jnp.asarray(spec.init) for key, spec in self.specs.items()}
        start.update(self.start(problem.data, problem.effective_weights))
        return start

    def check_shapes(self, data) -> None:
        if type(self).check_shapes is Family.check_shapes and not hasattr(data, "shape"):
            raise ValueError(
                f"{self.name}: data must be an array of observations, got {type(data).__name__}"
            )
        super().check_shapes(data)
        for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
            shape = tuple(jnp.shape(leaf))
            if shape[1:] != self.observation_shape:
                expected = ", ".join(("n",) + tuple(map(str, self.observation_shape)))
                expected += "," if not self.observation_shape else ""
                hint = " (a one-column table? pass x[:, 0])" if shape[1:] == (1,) else ""
                raise ValueError(
                    f"{self.name}: data{jax.tree_util.keystr(path)} must have shape ({expected}) "
                    f"(one observation per row), got {shape}{hint}"
                )

    def diagnose(self, params: dict, problem: Problem, status: jax.Array) -> jax.Array:
        """``BOUNDARY`` for families that need spread when every included observation is equal."""
        if not self.needs_spread:
            return status
        x = problem.data
        included = problem.included.reshape(problem.included.shape + (1,) * (x.ndim - 1))
        high = jnp.max(jnp.where(included, x, -jnp.inf), axis=0)
        low = jnp.min(jnp.where(included, x, jnp.inf), axis=0)
        return jnp.where(jnp.all(high == low), Status.BOUNDARY, status).astype(status.dtype)

    def expected_information(self, u: jax.Array, problem: Problem):
        """``(sum_i w_i) J^T I(theta) J`` on the unconstrained scale, or ``None``."""
        info = self.fisher_information(self.from_unconstrained(u))
        if info is None:
            return None
        jac = jax.jacfwd(lambda v: self.flatten(self.from_unconstrained(v)))(u)
        return problem.nobs * (jac.T @ info @ jac)


# -- helpers ------------------------------------------------------------------------------------
def support_error(family: str, x, bad_mask, description: str) -> ValueError:
    """A uniform ``ValueError`` for data outside a family's support.

    Args:
        family: the family's name.
        x: the concrete data (numpy-convertible).
        bad_mask: boolean array, True where ``x`` is outside the support.
        description: the support in words, e.g. ``"x > 0"``.

    Returns:
        The error (to ``raise``), naming the family, the count, the first few offending values
        and the index of the first.

    Examples:
        >>> import numpy as np
        >>> print(support_error("Gamma", np.array([1.0, -2.0, 0.0]), np.array([0, 1, 1], bool),
        ...                     "x > 0"))
        Gamma: data must satisfy x > 0; found 2 value(s) outside the support: [-2.0, 0.0] (first at index 1)
    """  # noqa: E501
    x = np.asarray(x)
    bad_mask = np.asarray(bad_mask, dtype=bool)
    where = np.argwhere(bad_mask)
    values = x[bad_mask][:5].tolist()
    more = ", ..." if len(where) > 5 else ""
    first = tuple(int(i) for i in where[0])
    index = first[0] if len(first) == 1 else first
    return ValueError(
        f"{family}: data must satisfy {description}; found {len(where)} value(s) outside the "
        f"support: {str(values)[:-1]}{more}] (first at index {index})"
    )


def weighted_mean(x: jax.Array, weights: jax.Array, axis: int = 0) -> jax.Array:
    """``sum_i w_i x_i / sum_i w_i`` along ``axis`` (frequency weights, zeros allowed)."""
    w = jnp.expand_dims(weights, tuple(range(1, jnp.ndim(x)))) if jnp.ndim(x) > 1 else weights
    return jnp.sum(w * x, axis=axis) / jnp.sum(weights)


def weighted_var(x: jax.Array, weights: jax.Array, mean: jax.Array | None = None) -> jax.Array:
    """Maximum-likelihood (divisor ``sum w``) weighted variance of a 1-D ``x``."""
    mean = weighted_mean(x, weights) if mean is None else mean
    return weighted_mean((x - mean) ** 2, weights)


def weighted_quantile(x: jax.Array, weights: jax.Array, q) -> jax.Array:
    """Weighted ``q``-quantile of a 1-D ``x`` with frequency weights (traceable).

    With ``W = sum w`` and ``C(v) = sum_j w_j [x_j <= v]``, the quantile is the midpoint of
    ``lower = min {x_i : C(x_i) >= q W}`` and ``upper = min {x_i : C(x_i) > q W}`` (``lower`` when
    no ``x_i`` has ``C(x_i) > q W``); for unit weights and ``q = 1/2`` this is the ordinary median.
    Zero-weight rows are never selected unless their value ties with a selected one.

    Both are found by bisection over the float64 (or float32) values in their total order: each
    value's bits, as an unsigned integer with the sign bit flipped for positive values and every
    bit flipped for negative ones, sort as the values do, so 64 (32) halvings of the integer
    range isolate ``lower`` and ``upper`` exactly, each with one masked sum over the sample. Under
    ``vmap`` that is several times faster than sorting on XLA's CPU backend (1,024 samples of 200:
    3.8 ms against 23 ms) and gives the same values bit for bit.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([3.0, 1.0, 2.0, 10.0])
        >>> float(weighted_quantile(x, jnp.ones(4), 0.5))
        2.5
        >>> float(weighted_quantile(x, jnp.array([1.0, 1.0, 1.0, 0.0]), 0.5))
        2.0
    """
    x = x + 0.0  # -0.0 -> 0.0: equal values, one key
    unsigned = {4: jnp.uint32, 8: jnp.uint64}[x.dtype.itemsize]
    bits = x.dtype.itemsize * 8
    sign = unsigned(1 << (bits - 1))
    raw = jax.lax.bitcast_convert_type(x, unsigned)
    key = jnp.where(raw >= sign, ~raw, raw | sign)
    total = jnp.sum(weights)
    target = q * total

    def halve(_, bracket):  # the wanted keys lie in (low, high]
        low, high = bracket
        span = high - low
        mid = low + (span >> 1) + (span & 1)  # in (low, high]: the bracket never leaves the keys
        below = jnp.sum(jnp.where(key[None, :] <= mid[:, None], weights[None, :], 0.0), axis=1)
        reached = jnp.stack([below[0] >= target, below[1] > target])
        return jnp.where(reached, low, mid), jnp.where(reached, mid, high)

    start = (jnp.full((2,), jnp.min(key) - unsigned(1)), jnp.full((2,), jnp.max(key)))
    found = jax.lax.fori_loop(0, bits, halve, start)[1]
    found = jnp.where(found >= sign, found ^ sign, ~found)
    lower, upper = jax.lax.bitcast_convert_type(found, x.dtype)
    upper = jnp.where(total > target, upper, lower)
    return 0.5 * (lower + upper)


def log1mexp(a: jax.Array) -> jax.Array:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate on both sides of ``-log 2`` (Maechler 2012).

    Each branch sees only its own range (safe dummies elsewhere), so gradients stay finite.
    """
    near = a > -jnp.log(2.0)
    return jnp.where(
        near,
        jnp.log(-jnp.expm1(jnp.where(near, a, -1.0))),
        jnp.log1p(-jnp.exp(jnp.where(near, -1.0, a))),
    )
