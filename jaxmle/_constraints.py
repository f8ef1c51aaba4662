"""Parameter specifications: an initial value plus a bijection to unconstrained space.

Every parameter of a :class:`~jaxmle.Model` is declared with one of these specs. The solver works on
the unconstrained vector ``u`` (a point of R^k); users see the constrained value ``theta = T(u)``.
Because maximum likelihood is invariant under reparametrisation, the estimate does not depend on the
bijection, only the path the solver takes does. Standard errors on the natural scale come from the
delta method, ``Cov(theta) = J Cov(u) J^T`` with ``J = dT/du``.

Examples:
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> spec = jm.Positive(2.0)
    >>> float(spec.to_unconstrained(jnp.asarray(2.0))[0])  # log 2
    0.6931471805599453
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._identity import ValueIdentity, freeze

__all__ = [
    "ParamSpec",
    "Real",
    "Positive",
    "UnitInterval",
    "Interval",
    "Simplex",
    "Ordered",
    "PositiveDefinite",
]


class ParamSpec(ValueIdentity):
    """Base class: an initial constrained value and the bijection ``T: R^k -> domain``.

    Subclasses implement :meth:`forward` (unconstrained flat vector -> constrained array of
    ``shape``) and :meth:`inverse`. ``elementwise`` is True when ``T`` acts on each entry
    separately, which lets intervals be transformed entry by entry. ``bounded`` is True when the
    domain has an edge the unconstrained scale sends to infinity (``Positive``'s 0 and infinity,
    an ``Interval``'s ends): an estimate there has an unconstrained coordinate the data cannot pin
    down. Specs of one class with equal settings compare equal.
    """

    elementwise = True
    bounded = False

    def __init__(self, init=0.0):
        self.init = np.asarray(init, dtype=float)
        self.shape = self.init.shape
        self.size = int(np.prod(self.shape, dtype=int))
        self.unconstrained_size = self._unconstrained_size()
        self.check(self.init, "init")

    def _unconstrained_size(self) -> int:
        return self.size

    def _identity(self):
        return freeze(self._attributes())

    def forward(self, u):
        """Map a flat unconstrained vector of length ``unconstrained_size`` to the domain."""
        raise NotImplementedError

    def inverse(self, value):
        """Map a constrained value of ``shape`` to a flat unconstrained vector."""
        raise NotImplementedError

    def contains(self, value) -> np.ndarray:
        """Boolean: does ``value`` (numpy) lie in the open domain?"""
        return np.isfinite(value)

    def check(self, value, what: str) -> None:
        """Raise ``ValueError`` when a concrete ``value`` lies outside the domain."""
        value = np.asarray(value, dtype=float)
        if value.shape != self.shape:
            raise ValueError(f"{what}: expected shape {self.shape} for {self!r}, got {value.shape}")
        if not np.all(self.contains(value)):
            raise ValueError(f"{what}: value {value.tolist()} lies outside the domain of {self!r}")

    def to_unconstrained(self, value):
        return self.inverse(jnp.asarray(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(init={self.init.tolist()})"


class Real(ParamSpec):
    """The whole real line (identity transform)."""

    def forward(self, u):
        return u.reshape(self.shape)

    def inverse(self, value):
        return jnp.reshape(value, (-1,))


class Positive(ParamSpec):
    """``(0, inf)`` through ``theta = exp(u)``."""

    bounded = True

    def __init__(self, init=1.0):
        super().__init__(init)

    def forward(self, u):
        return jnp.exp(u).reshape(self.shape)

    def inverse(self, value):
        return jnp.log(jnp.reshape(value, (-1,)))

    def contains(self, value):
        return np.isfinite(value) & (value > 0)


class Interval(ParamSpec):
    """``(low, high)`` through ``theta = low + (high - low) * sigmoid(u)``."""

    bounded = True

    def __init__(self, low: float, high: float, init=None):
        if not low < high:
            raise ValueError(f"Interval needs low < high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)
        super().__init__((self.low + self.high) / 2 if init is None else init)

    def forward(self, u):
        return (self.low + (self.high - self.low) * jax.nn.sigmoid(u)).reshape(self.shape)

    def inverse(self, value):
        z = (jnp.reshape(value, (-1,)) - self.low) / (self.high - self.low)
        return jnp.log(z) - jnp.log1p(-z)

    def contains(self, value):
        return np.isfinite(value) & (value > self.low) & (value < self.high)

    def __repr__(self) -> str:
        return f"Interval({self.low}, {self.high}, init={self.init.tolist()})"


class UnitInterval(Interval):
    """``(0, 1)`` through the logistic function."""

    def __init__(self, init=0.5):
        super().__init__(0.0, 1.0, init)

    def __repr__(self) -> str:
        return f"UnitInterval(init={self.init.tolist()})"


class Simplex(ParamSpec):
    """Probability vectors (entries > 0, summing to one) through additive log-ratios.

    ``theta = softmax([u, 0])``: the last entry is the reference, so K entries use K - 1 free
    coordinates. The constrained covariance is K x K and singular (its rows sum to zero).
    """

    elementwise = False

    def __init__(self, init):
        super().__init__(init)
        if self.init.ndim != 1 or self.size < 2:
            raise ValueError(f"Simplex needs a vector of length >= 2, got shape {self.shape}")

    def _unconstrained_size(self) -> int:
        return self.size - 1

    def forward(self, u):
        return jax.nn.softmax(jnp.concatenate([u, jnp.zeros((1,), u.dtype)]))

    def inverse(self, value):
        logv = jnp.log(value)
        return logv[:-1] - logv[-1]

    def contains(self, value):
        return np.isfinite(value) & (value > 0) & bool(abs(np.sum(value) - 1.0) < 1e-6)


class Ordered(ParamSpec):
    """Strictly increasing vectors: ``theta_0 = u_0``, ``theta_i = theta_{i-1} + exp(u_i)``."""

    elementwise = False

    def __init__(self, init):
        super().__init__(init)
        if self.init.ndim != 1:
            raise ValueError(f"Ordered needs a vector, got shape {self.shape}")

    def forward(self, u):
        return jnp.cumsum(jnp.concatenate([u[:1], jnp.exp(u[1:])]))

    def inverse(self, value):
        return jnp.concatenate([value[:1], jnp.log(jnp.diff(value))])

    def contains(self, value):
        return np.isfinite(value) & bool(np.all(np.diff(value) > 0))


class PositiveDefinite(ParamSpec):
    """Symmetric positive-definite ``d x d`` matrices through their Cholesky factor.

    ``u`` holds the lower triangle of ``L`` row by row, with the diagonal on the log scale, so
    ``theta = L L^T`` and ``k = d (d + 1) / 2``.
    """

    elementwise = False

    def __init__(self, init):
        init = np.asarray(init, dtype=float)
        if init.ndim == 0:
            raise ValueError("PositiveDefinite needs a (d, d) initial matrix, e.g. numpy.eye(d)")
        super().__init__(init)
        self.dim = self.shape[0]
        self._rows, self._cols = np.tril_indices(self.dim)

    def _unconstrained_size(self) -> int:
        d = self.shape[0]
        if self.shape != (d, d):
            raise ValueError(f"PositiveDefinite needs a square matrix, got shape {self.shape}")
        return d * (d + 1) // 2

    def forward(self, u):
        diag = self._rows == self._cols
        entries = jnp.where(diag, jnp.exp(u), u)
        chol = jnp.zeros(self.shape, u.dtype).at[self._rows, self._cols].set(entries)
        return chol @ chol.T

    def inverse(self, value):
        chol = jnp.linalg.cholesky(value)
        entries = chol[self._rows, self._cols]
        return jnp.where(self._rows == self._cols, jnp.log(entries), entries)

    def contains(self, value):
        if value.ndim != 2 or value.shape[0] != value.shape[1]:
            return np.array(False)
        symmetric = np.allclose(value, value.T, rtol=1e-8, atol=1e-12)
        finite = bool(np.all(np.isfinite(value)))
        return np.array(symmetric and finite and bool(np.all(np.linalg.eigvalsh(value) > 0)))
