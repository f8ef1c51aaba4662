"""`RegressionModel`: the shared base of the regressions (data ``{"X", "y", ...}``, lazy sizing).

The width ``p`` of the design matrix, and with it the shape of ``beta``, is only known from data.
A regression therefore sizes its parameter specs on first contact with data (the eager
validation of :func:`~jaxmle.fit`, or ``init_params`` under ``jit``, where shapes are static),
unless ``n_features`` or ``names`` fixed it at construction. Once sized, an instance only accepts
designs of that width (a clear ``ValueError`` otherwise): fitted results keep a reference to their
model, so its specs must not change under them. :meth:`RegressionModel.bind` returns a sized
instance for a dataset without touching the original, taking column names from a pandas
DataFrame ``X``.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> model = jm.PoissonRegression(names=["const", "x"])
    >>> model.param_names
    ('const', 'x')
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._model import Model
from .._problem import Problem

_SIZED = ("specs", "param_names", "n_params", "n_free")


class RegressionModel(Model):
    """Base class: validates ``{"X", "y", optional "offset", "trials"}`` and sizes ``beta``.

    Subclasses implement :meth:`param_specs` (the specs for ``p`` columns),
    :meth:`logpdf` and :meth:`validate_response`; ``data_keys`` lists the optional keys they
    accept besides ``"X"`` and ``"y"``.

    Args:
        n_features: number of columns ``p`` of ``X``; ``None`` to take it from the first data.
        names: optional column names of ``X`` (fixes ``p``); shown in ``summary()``.
        name: label in summaries and error messages.
    """

    data_keys: tuple[str, ...] = ("offset",)
    #: Optional data keys holding a second design matrix ``(n, q)`` rather than a column.
    matrix_keys: tuple[str, ...] = ()

    def __init__(self, *, n_features: int | None = None, names=None, name: str | None = None):
        self.name = name or type(self).__name__
        self.feature_names = None if names is None else tuple(str(n) for n in names)
        if self.feature_names is not None:
            if n_features is not None and int(n_features) != len(self.feature_names):
                raise ValueError(
                    f"{self.name}: n_features={n_features} disagrees with {len(self.feature_names)}"
                    " names"
                )
            n_features = len(self.feature_names)
        self.n_features = None
        self.fixed_width = n_features is not None  # the user fixed p: other widths are errors
        if n_features is not None:
            self.size_for(int(n_features))

    def __getattr__(self, attr):
        if attr in _SIZED:
            raise AttributeError(
                f"{self.__dict__.get('name', type(self).__name__)} is not sized yet: the number of "
                "columns of X is taken from the first data it sees (or pass n_features=)"
            )
        raise AttributeError(attr)

    def __repr__(self) -> str:
        return f"{self.name}(n_features={self.n_features})"

    # -- sizing ------------------------------------------------------------------------------------
    def param_specs(self, p: int) -> dict:
        """The parameter specs for a design with ``p`` columns."""
        raise NotImplementedError

    def coefficient_names(self) -> list[str]:
        """Display names of the flattened ``beta`` (column names when known)."""
        return list(self.feature_names)

    def size_for(self, p: int) -> None:
        """Fix the design width to ``p`` (no-op when already sized to ``p``)."""
        if self.n_features is not None:
            if p != self.n_features:
                raise ValueError(
                    f"{self.name}: this instance was sized for X with {self.n_features} columns, "
                    f"got {p}; use a new model (or model.bind(data)) for another design"
                )
            return
        if p < 1:
            raise ValueError(f"{self.name}: X needs at least one column")
        Model.__init__(self, None, self.param_specs(p), name=self.name)
        self.n_features = p
        if self.feature_names is not None:
            k = len(self.feature_names)
            self.param_names = (
                tuple(self.coefficient_names()) + self.param_names[k * self.beta_width :]
            )

    @property
    def beta_width(self) -> int:
        """Number of coefficient columns per feature (1; ``K - 1`` for the multinomial logit)."""
        return 1

    def bind(self, data) -> RegressionModel:
        """A model sized for ``data["X"]``, named after its columns when ``X`` is a DataFrame.

        Returns ``self`` (sized on first contact) when it fits that width and no new names are
        found, or when the user fixed the width (``n_features``/``names``: another width is then
        an error). Otherwise a sized copy, cached per (width, names) so repeated binds reuse
        compiled fits.
        """
        self.check_keys(data)
        X = data["X"]
        columns = getattr(X, "columns", None)
        p = int(np.shape(X)[-1])
        if self.fixed_width or (columns is None and self.n_features in (None, p)):
            self.size_for(p)  # first contact sizes this instance, as the user would expect
            return self
        names = self.feature_names if columns is None else tuple(str(c) for c in columns)
        cache = self.__dict__.setdefault("_bound", {})
        if (p, names) not in cache:
            bound = copy.copy(self)
            skip = (*_SIZED, "_bound")
            bound.__dict__ = {k: v for k, v in self.__dict__.items() if k not in skip}
            bound.n_features, bound.feature_names = None, names
            bound.size_for(p)
            cache[(p, names)] = bound
        return cache[(p, names)]

    # -- Model hooks -------------------------------------------------------------------------------
    def logpdf(self, params: dict, data):
        """Per-observation log-likelihood contributions, shape ``(n,)``."""
        raise NotImplementedError

    def init_params(self, problem: Problem) -> dict:
        self.size_for(int(jnp.shape(problem.data["X"])[-1]))
        return self.start(problem.data, problem.effective_weights)

    def start(self, data, weights) -> dict:
        """Data-driven starting values (natural scale); traceable."""
        return {key: jnp.asarray(spec.init) for key, spec in self.specs.items()}

    def check_keys(self, data) -> None:
        """``data`` is a dict with ``"X"``, ``"y"`` and only the optional keys of the model."""
        if not isinstance(data, Mapping) or "X" not in data or "y" not in data:
            raise ValueError(
                f"{self.name}: data must be a dict with 'X' (n, p) and 'y' (n,); got "
                f"{type(data).__name__}"
                + (f" with keys {sorted(data)}" if isinstance(data, Mapping) else "")
            )
        unknown = set(data) - {"X", "y", *self.data_keys}
        if unknown:
            allowed = ", ".join(repr(k) for k in ("X", "y", *self.data_keys))
            raise ValueError(
                f"{self.name}: unknown data key(s) {sorted(unknown)}; allowed: {allowed}"
            )

    def check_shapes(self, data) -> None:
        self.check_rows(data)
        self.size_for(jnp.shape(data["X"])[1])

    def check_rows(self, data) -> int:
        """Check the keys and that ``X`` is ``(n, p)`` and ``y`` and the other (non-matrix)
        data keys ``(n,)``; returns ``n``."""
        self.check_keys(data)
        X, y = data["X"], data["y"]
        if jnp.ndim(X) != 2:
            raise ValueError(f"{self.name}: data['X'] must be 2-D (n, p), got shape {jnp.shape(X)}")
        if jnp.ndim(y) != 1:
            raise ValueError(f"{self.name}: data['y'] must be 1-D (n,), got shape {jnp.shape(y)}")
        n = jnp.shape(X)[0]
        for key in ("y", *self.data_keys):
            if key in data and key not in self.matrix_keys and jnp.shape(data[key]) != (n,):
                raise ValueError(
                    f"{self.name}: data[{key!r}] must have shape ({n},) to match the "
                    f"{n} rows of X, got {jnp.shape(data[key])}"
                )
        return n

    def validate_data(self, data) -> None:
        self.check_shapes(data)
        self.validate_response(data)

    def valid_rows(self, data):
        return self.valid_response(data) & super().valid_rows(data)

    def valid_response(self, data):
        """``(n,)`` booleans: responses inside the model's support (numpy or JAX, as the data)."""
        return namespace(data["y"]).isfinite(data["y"])

    def validate_response(self, data) -> None:
        """Raise ``ValueError`` for responses outside the model's support (eager)."""


def design(data):
    """``(X, offset)`` with a zero offset when none is given."""
    X = data["X"]
    offset = data.get("offset")
    return X, (jnp.zeros(X.shape[0], X.dtype) if offset is None else offset)


def response_error(model: str, y, bad, support: str, key: str = "y") -> ValueError:
    """A uniform error naming the model, the data key (``"y"``, or e.g. ``"trials"`` when ``y``
    holds that key's values), the support and the first offending values."""
    where = np.flatnonzero(bad)
    values = np.asarray(y)[where[:5]].tolist()
    return ValueError(
        f"{model}: data[{key!r}] must satisfy {support}; found {len(where)} value(s) outside: "
        f"{values}"
        f"{' ...' if len(where) > 5 else ''} (first at index {int(where[0])})"
    )
