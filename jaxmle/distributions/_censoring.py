"""Censored and truncated observations of any family (or regression) with a log CDF and log
survival function.

:class:`Censored` takes one of two data layouts:

* ``{"x", "event"}``: ``event = 1`` means ``x`` was observed exactly, ``event = 0`` that it was
  right-censored at ``x`` (only ``X > x`` is known) and ``event = 2`` that it was left-censored at
  ``x`` (only ``X <= x`` is known); these are the codes of R's ``Surv(type = "interval")``.
* ``{"lower", "upper"}``: ``X`` lies in ``[lower, upper]``; ``lower == upper`` is an exact
  observation, ``upper = inf`` right-censoring and ``lower = -inf`` (or any ``lower`` where the
  CDF is 0, such as 0 for a positive family) left-censoring. Infinite bounds are accepted by
  the eager checks and under ``jit`` alike; NaN never is, nor ``lower > upper``.

The log-likelihood of a row is ``log f(x)`` (exact), ``log S(x)`` (right), ``log F(x)`` (left)
or ``log(F(upper) - F(lower))`` (interval). The difference is computed in logs from whichever tail
is smaller, ``log F(u) + log1mexp(log F(l) - log F(u))`` in the lower tail and
``log S(l) + log1mexp(log S(u) - log S(l))`` in the upper one, so it keeps its digits far out in
either tail. For a discrete family the interval is ``lower < X <= upper`` and right-censoring at
``x`` means ``X > x``, as in scipy's ``sf``.

:class:`Truncated` conditions a family on ``low <= X <= high``:
``log f(x) - log(F(high) - F(low))``, the normaliser computed the same way. For a discrete family
the window is ``low < X <= high``, so ``Truncated(Poisson(), low=0)`` is the zero-truncated Poisson.

Both wrappers keep the wrapped family's parameters (names, constraints, defaults), and both
simulate data (for the parametric bootstrap and simulation studies) when the family has a
sampler: :meth:`Truncated.sample` draws exactly from the truncated distribution, and
:meth:`Censored.simulate` censors fresh draws at the template's own censoring points.

**Over a regression.** Both wrappers also take a regression whose response has a continuous
distribution with a CDF (``jm.Censored(jm.LinearRegression())`` is the Tobit model;
``GammaRegression`` and the Gaussian, Gamma and inverse Gaussian ``GLM`` qualify too; the
accelerated-failure-time regressions such as ``jm.WeibullRegression()`` are built this way). Such
a regression names, per row, the distribution of its response: ``model.response_family`` (a
family) and ``model.response_params(params, data)`` (that family's parameters, one value per row
of the design). The wrapper keeps the regression's parameters, names and lazy sizing (``beta`` is
sized from ``X`` by ``bind``), and its data are the regression's with the response given as

* ``{"X", "y", "event"}`` (``event`` coded as above; without ``"event"`` every row is exact), or
* ``{"X", "lower", "upper"}``,

plus the regression's optional keys (``"offset"``). :class:`Truncated` over a regression takes
the regression's own data ``{"X", "y", ...}``.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> data = {"x": jnp.array([2.0, 3.0, 1.0, 4.0]), "event": jnp.array([1.0, 0.0, 1.0, 0.0])}
    >>> res = jm.fit(jm.Censored(jm.Exponential()), data)   # events / total time at risk
    >>> round(float(res.params["rate"]), 6)
    0.2
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._model import Model, check_leading_axes
from ._family import Family, log1mexp

__all__ = ["Censored", "Truncated"]

EXACT, RIGHT, LEFT = 1, 0, 2

_SIZED = ("specs", "param_names", "n_params", "n_free")
#: Keys of a regression's data that carry the (censored) response rather than the design.
_RESPONSE_KEYS = ("y", "event", "lower", "upper")


def log_prob_between(log_f_lo, log_f_hi, log_s_lo, log_s_hi) -> jax.Array:
    """``log(F(hi) - F(lo))`` from the log CDF and log survival function at both ends.

    Uses the lower-tail form when ``F(hi) <= S(lo)`` and the upper-tail form otherwise; the
    arguments of ``log1mexp`` are kept strictly negative in the branch not taken so that gradients
    stay finite. Requires ``lo < hi``.
    """
    lower_tail = log_f_hi <= log_s_lo
    from_cdf = log_f_hi + log1mexp(jnp.where(lower_tail, jnp.minimum(log_f_lo - log_f_hi, 0), -1))
    from_sf = log_s_lo + log1mexp(jnp.where(lower_tail, -1, jnp.minimum(log_s_hi - log_s_lo, 0)))
    return jnp.where(lower_tail, from_cdf, from_sf)


def _on_rows(function, p, x, chosen):
    """``function(p, x)`` on the ``chosen`` rows. The other rows are evaluated at an ``x`` where
    the function is finite: the select that drops them multiplies their gradient by 0, and a
    row at the edge of the support (an exact observation at 0 has ``log F(0) = -inf``) would
    otherwise make that ``0 * inf`` a NaN gradient for the whole fit."""
    frozen = jax.lax.stop_gradient(p)
    finite = jnp.isfinite(jax.lax.stop_gradient(function(frozen, x)))
    anchor = x[jnp.argmax(finite)]
    return function(p, jnp.where(chosen, x, anchor))


def _implements(family: Family, method: str) -> bool:
    return getattr(type(family), method) is not getattr(Family, method)


def _is_regression(model) -> bool:
    return isinstance(model, Model) and not isinstance(model, Family)


def _wrapped_name(model, wrapper: str) -> str:
    if isinstance(model, _Wrapper) and model.regression:
        raise TypeError(
            f"{wrapper}: {model.name} is already censored or truncated; wrap the regression once"
        )
    if isinstance(model, Family):
        return model.name
    if _is_regression(model) and getattr(model, "response_family", None) is not None:
        return model.name
    if _is_regression(model):
        raise TypeError(
            f"{wrapper}: {model.name} has no continuous response distribution with a CDF "
            "(model.response_family); censoring and truncation work over LinearRegression, "
            "GammaRegression, GLM('gaussian' | 'gamma' | 'inverse_gaussian') and the AFT "
            "regressions"
        )
    raise TypeError(
        f"expected a distribution family such as jm.Weibull() or a regression such as "
        f"jm.LinearRegression(), got {type(model).__name__}"
    )


def _values_error(name: str, key: str, values, bad, description: str) -> ValueError:
    """A uniform error naming the model, the data key and the first offending values."""
    where = np.flatnonzero(bad)
    shown = np.asarray(values)[where[:5]].tolist()
    return ValueError(
        f"{name}: data[{key!r}] must satisfy {description}; found {len(where)} value(s) "
        f"outside: {shown}{' ...' if len(where) > 5 else ''} (first at index {int(where[0])})"
    )


class _Wrapper(Family):
    """What :class:`Censored` and :class:`Truncated` share: the wrapped family or regression.

    ``self.family`` is the wrapped model and ``self.dist`` the distribution of one observation:
    the family itself, or a regression's ``response_family``, whose parameters then vary by row
    (:meth:`_dist_params`). Over a regression the wrapper is sized with it: :meth:`bind` binds
    the regression and adopts its parameter specs and names.
    """

    def _wrap(self, model, name: str) -> None:
        self.family = model
        self.regression = _is_regression(model)
        self.dist = model.response_family if self.regression else model
        self.discrete = bool(getattr(self.dist, "discrete", False))
        self.support_description = self.dist.support_description
        if not self.regression:
            self.observation_shape = model.observation_shape
            Family.__init__(self, model.specs, name=name)
            return
        self.observation_shape = ()
        self.name = name
        self._sync()

    # -- sizing over a regression --------------------------------------------------------------
    def __getattr__(self, attr):
        if attr in _SIZED and self.__dict__.get("regression"):
            raise AttributeError(
                f"{self.__dict__.get('name', type(self).__name__)} is not sized yet: the number of "
                "columns of X is taken from the first data it sees (or pass n_features= to the "
                "regression)"
            )
        raise AttributeError(attr)

    def __repr__(self) -> str:
        if "specs" not in self.__dict__:
            return f"{self.name}(n_features=None)"
        return super().__repr__()

    def _sync(self) -> None:
        """Adopt the regression's parameters once it is sized (no-op until then)."""
        inner = self.family
        specs = vars(inner).get("specs")
        if specs is None or self.__dict__.get("specs") is specs:
            return
        Model.__init__(self, None, specs, name=self.name)
        self.param_names = inner.param_names

    def bind(self, data):
        """Over a regression: this model sized for ``data["X"]`` (named after its columns when
        it is a DataFrame), as the regression's own ``bind``; otherwise ``self``."""
        if not self.regression:
            return self
        bound = self._inner_call(self.family.bind, self._inner_data(data))
        if bound is self.family:
            self._sync()
            return self
        cache = self.__dict__.setdefault("_bound", {})
        if bound not in cache:
            twin = copy.copy(self)
            skip = (*_SIZED, "_bound", "_frozen_identity")
            twin.__dict__ = {k: v for k, v in self.__dict__.items() if k not in skip}
            twin.family = bound
            twin.dist = bound.response_family
            twin._sync()
            cache[bound] = twin
        return cache[bound]

    def _inner_call(self, fn, *args):
        """``fn(*args)`` with the wrapper's name in front of a ``ValueError`` it raises."""
        try:
            return fn(*args)
        except ValueError as err:
            message = str(err)
            if message.startswith(f"{self.name}:"):
                raise
            raise ValueError(f"{self.name}: {message}") from None

    # -- rows of the wrapped model ---------------------------------------------------------------
    def _design(self, data) -> dict:
        """A regression's data without its response keys."""
        return {k: v for k, v in data.items() if k not in _RESPONSE_KEYS}

    def _inner_data(self, data):
        """The regression's own data: for :class:`Censored`, ``{"X", "y", ...}`` with a
        stand-in response (for shapes); :class:`Truncated` takes the regression's data as they
        are."""
        return data

    def _dist_params(self, params, data):
        """Parameters of :attr:`dist`: ``params`` for a family, per-row ones for a regression."""
        if not self.regression:
            return params
        return self.family.response_params(params, self._design(data))

    def _inside(self, x):
        """``(n,)`` booleans: ``x`` inside the support of :attr:`dist` (numpy or JAX)."""
        if self.regression:
            return self.dist.in_support(x)
        return self.dist.valid_rows(x)

    def _sample(self, key, params, data, n):
        return self.dist.sample(key, self._dist_params(params, data), (n,))

    @property
    def can_simulate(self) -> bool:
        return self.dist.can_simulate

    def _regression_start(self, data, y, weights) -> dict:
        """The regression's start on the design of ``data`` with the response ``y``; rows whose
        ``y`` lies outside the support get weight 0 (and a stand-in inside it)."""
        inside = self.dist.in_support(y)
        w = jnp.where(inside, weights, 0.0)
        fill = jnp.sum(w * jnp.where(inside, y, 0.0)) / jnp.sum(w)
        inner_data = {**self._design(data), "y": jnp.where(inside, y, fill)}
        start = {key: jnp.asarray(spec.init) for key, spec in self.specs.items()}
        start.update(self.family.start(inner_data, w))
        return start


class Censored(_Wrapper):
    r"""Right-, left- and interval-censored observations of ``family``.

    See the module docstring for the data layouts (a family's and a regression's). The start is
    the family's (or regression's) own start on a representative value per row (the observed or
    censoring value; an interval's midpoint), which is biased under censoring but a fine starting
    point for Newton.

    Args:
        family: the distribution of the uncensored variable; needs ``logcdf``/``logsf`` for the
            censoring kinds present in the data. Or a regression with a ``response_family``
            (such as :class:`~jaxmle.LinearRegression`: the Tobit model).
        name: label in summaries and error messages; default ``"Censored(<family>)"``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> data = {"x": jnp.array([0.5, 1.2, 2.0, 0.7, 3.1]),
        ...         "event": jnp.array([1.0, 1.0, 0.0, 1.0, 0.0])}
        >>> res = jm.fit(jm.Censored(jm.Weibull()), data)
        >>> bool(res.converged), res.param_names
        (True, ('shape', 'scale'))

        Tobit: a linear regression whose response is left-censored at 0 (event 2).

        >>> X = jnp.stack([jnp.ones(6), jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])], axis=1)
        >>> y = jnp.array([0.0, 0.0, 0.4, 1.1, 0.0, 2.3])
        >>> tobit = {"X": X, "y": y, "event": jnp.where(y > 0, 1.0, 2.0)}
        >>> res = jm.fit(jm.Censored(jm.LinearRegression()), tobit)
        >>> bool(res.converged), res.param_names
        (True, ('beta[0]', 'beta[1]', 'sigma'))
    """

    infinite_data_keys = ("lower", "upper")

    def __init__(self, family, *, name: str | None = None):
        inner = _wrapped_name(family, "Censored")
        self._wrap(family, name or f"Censored({inner})")

    def simulate(self, key, params, data):
        r"""Draws of the family, censored by the design of the template ``data``.

        Every row draws ``X`` from the family at ``params`` and keeps its own censoring point(s)
        as a fixed censoring mechanism (type I censoring), so the simulated data keep the
        template's layout and censoring pattern:

        * ``{"x", "event"}``: a right-censored row (event 0) at ``c = x`` becomes ``(c, 0)`` if
          ``X > c`` and the exact ``(X, 1)`` otherwise; a left-censored row (event 2) becomes
          ``(c, 2)`` if ``X <= c`` and ``(X, 1)`` otherwise; an exact row gives ``(X, 1)``. So a
          right-censored row stays censored with probability ``S(c)``, a left-censored one with
          ``F(c)``.
        * ``{"lower", "upper"}``: an exact row (``lower == upper``) gives ``[X, X]``; any other
          row keeps its window ``[lower, upper]`` if ``lower <= X <= upper`` (``lower < X <=
          upper`` for a discrete family; infinite ends included, so ``[c, inf]`` is
          right-censoring at ``c``) and becomes the exact ``[X, X]`` otherwise. It stays
          censored with probability ``F(upper) - F(lower)``.

        Whether a row is censored depends on ``X`` only through the event ``X in W`` for a window
        ``W`` fixed in advance, so the censoring is at random (ignorable): the log-likelihood this
        model fits, ``log f(x)`` for exact rows and ``log P(X in W)`` for censored ones, is the
        exact likelihood of the simulated data. An exact row of the template (whose censoring
        point is not recorded) is simulated uncensored.

        Over a regression each row draws from its own distribution (its row of the design) and
        the design keys (``"X"``, ``"offset"``) are copied through; the response is ``"y"``.

        Examples:
            >>> import jax, jax.numpy as jnp, jaxmle as jm
            >>> template = {"x": jnp.full(4, 1.0), "event": jnp.array([0.0, 0.0, 1.0, 2.0])}
            >>> data = jm.Censored(jm.Exponential()).simulate(
            ...     jax.random.key(0), {"rate": jnp.asarray(1.0)}, template)
            >>> sorted(data), data["x"].shape
            (['event', 'x'], (4,))
        """
        n = jax.tree_util.tree_leaves(data)[0].shape[0]
        x = self._sample(key, params, data, n)
        layout = self._layout(data)
        key_x = self._x_key
        base = dict(data) if self.regression else {}
        if layout == "exact":
            return {**base, key_x: x}
        if layout == "event":
            c, event = data[key_x], data["event"]
            censored = ((event == RIGHT) & (x > c)) | ((event == LEFT) & (x <= c))
            out = jnp.where(censored, c, x)
            event = jnp.where(censored, event, EXACT).astype(event.dtype)
            return {**base, key_x: out, "event": event}
        lower, upper = data["lower"], data["upper"]
        above = x > lower if self.discrete else x >= lower
        censored = (lower < upper) & above & (x <= upper)
        return {
            **base,
            "lower": jnp.where(censored, lower, x),
            "upper": jnp.where(censored, upper, x),
        }

    def check_shapes(self, data) -> None:
        self._layout(data)
        if not self.regression:
            super().check_shapes(data)
            return
        n = check_leading_axes(self.name, data)
        for key in _RESPONSE_KEYS:
            if key in data and jnp.shape(data[key]) != (n,):
                raise ValueError(
                    f"{self.name}: data[{key!r}] must have shape ({n},) to match the {n} rows "
                    f"of X, got {jnp.shape(data[key])}"
                )
        self._inner_call(self.family.check_shapes, self._inner_data(data))
        self._sync()

    def valid_rows(self, data):
        layout = self._layout(data)
        rows = Model.valid_rows(self, data) if self.regression else True
        if layout == "exact":
            return rows & self._inside(data["y"])
        if layout == "event":
            x, event = data[self._x_key], data["event"]
            known = (event == EXACT) | (event == RIGHT)
            if _implements(self.dist, "logcdf"):
                known = known | (event == LEFT)
            return rows & known & self._inside(x)
        lower, upper = data["lower"], data["upper"]
        xp = namespace(lower, upper)
        ordered = (lower <= upper) & ~(xp.isneginf(lower) & xp.isposinf(upper))
        exact = lower == upper
        # The family's support at the value that is checked eagerly: an exact value, or a
        # finite upper end (a lower end may sit on the support's edge, e.g. 0 for x > 0).
        checked = exact | xp.isfinite(upper)
        inside = self._inside(xp.where(exact, lower, upper))
        return rows & ordered & xp.where(checked, inside, True) & self._lower_ok(lower, upper)

    def _lower_ok(self, lower, upper):
        """A finite lower end of a censored row lies in the support or on its floor, where the
        family says where that is (``support_floor``, e.g. 0 for survival times)."""
        floor = getattr(self.dist, "support_floor", None)
        if floor is None:
            return True
        xp = namespace(lower, upper)
        return ~xp.isfinite(lower) | (lower == upper) | (lower == floor) | self._inside(lower)

    # -- layouts -----------------------------------------------------------------------------
    def _inner_data(self, data) -> dict:
        self._layout(data)  # the layout error first, rather than the regression's
        y = next(data[k] for k in ("y", "lower") if k in data)
        return {**self._design(data), "y": y}

    @property
    def _x_key(self) -> str:
        return "y" if self.regression else "x"

    def _layout(self, data) -> str:
        if self.regression:
            if isinstance(data, Mapping) and "X" in data:
                keys = set(data) - {"X", *self.family.data_keys}
                if keys == {"y"}:
                    return "exact"
                if keys == {"y", "event"}:
                    return "event"
                if keys == {"lower", "upper"}:
                    return "interval"
            optional = "".join(f", {k!r}" for k in self.family.data_keys)
            raise ValueError(
                f"{self.name}: data must be a dict {{'X', 'y', 'event'{optional}}} (event 1 "
                "observed, 0 right-censored, 2 left-censored; without 'event' every row is "
                f"observed) or {{'X', 'lower', 'upper'{optional}}} (lower == upper for exact "
                "values, upper = inf for right-, lower = -inf for left-censoring); got "
                + (f"keys {sorted(data)}" if isinstance(data, Mapping) else type(data).__name__)
            )
        if isinstance(data, dict) and set(data) == {"x", "event"}:
            return "event"
        if isinstance(data, dict) and set(data) == {"lower", "upper"}:
            return "interval"
        raise ValueError(
            "Censored: data must be a dict {'x', 'event'} (event 1 observed, 0 right-censored, "
            "2 left-censored) or {'lower', 'upper'} (lower == upper for exact values, upper = inf "
            "for right-, lower = -inf for left-censoring); got "
            + (f"keys {sorted(data)}" if isinstance(data, dict) else type(data).__name__)
        )

    def logpdf(self, params, data):
        layout = self._layout(data)
        p = self._dist_params(params, data)
        if layout == "exact":
            return self.dist.logpdf(p, data["y"])
        if layout == "event":
            return self._event_loglik(p, data[self._x_key], data["event"])
        return self._interval_loglik(p, data["lower"], data["upper"])

    def _event_loglik(self, p, x, event):
        # Under jit every row's kind is unknown, so all kinds are evaluated at x (inside the
        # support) and the row's code selects one. A family without logcdf cannot take event 2.
        dist = self.dist
        exact = _on_rows(dist.logpdf, p, x, event == EXACT)
        right = _on_rows(dist.logsf, p, x, event == RIGHT)
        left = (
            _on_rows(dist.logcdf, p, x, event == LEFT) if _implements(dist, "logcdf") else jnp.nan
        )
        return jnp.where(event == EXACT, exact, jnp.where(event == LEFT, left, right))

    def _interval_loglik(self, p, lower, upper):
        dist = self.dist
        exact = lower == upper
        right_open = jnp.isposinf(upper)
        # A finite point of each row (where the densities are safe to evaluate).
        ref = jnp.where(jnp.isfinite(upper), upper, lower)
        ref = jnp.where(jnp.isfinite(ref), ref, 0.0)
        lo = jnp.where(jnp.isfinite(lower), lower, ref)
        frozen = jax.lax.stop_gradient(p)
        at_floor = jnp.isneginf(lower) | ~(
            jax.lax.stop_gradient(dist.logcdf(frozen, lo)) > -jnp.inf
        )
        at_floor = at_floor & ~exact
        left = at_floor & ~right_open
        right = right_open & ~at_floor
        between = ~exact & ~at_floor & ~right_open
        lo = jnp.where(at_floor, ref, lo)

        log_exact = dist.logpdf(p, jnp.where(exact, lower, ref))
        log_f_hi, log_s_hi = dist.logcdf(p, ref), dist.logsf(p, ref)
        log_f_lo, log_s_lo = dist.logcdf(p, lo), dist.logsf(p, lo)
        safe_lo = jnp.where(between, log_f_lo, log_f_hi - 1.0)
        safe_s_hi = jnp.where(between, log_s_hi, log_s_lo - 1.0)
        log_between = log_prob_between(safe_lo, log_f_hi, log_s_lo, safe_s_hi)
        out = jnp.where(exact, log_exact, 0.0)  # rows with no information contribute 0
        out = jnp.where(left, log_f_hi, out)
        out = jnp.where(right, log_s_lo, out)
        return jnp.where(between, log_between, out)

    # -- start and validation ------------------------------------------------------------------
    def _representative(self, data):
        """One value per row to start from: the observed or censoring value, or the interval's
        midpoint (its finite end when it has one)."""
        if self._layout(data) != "interval":
            return data[self._x_key]
        lower, upper = data["lower"], data["upper"]
        mid = jnp.where(
            jnp.isfinite(lower) & jnp.isfinite(upper),
            0.5 * (lower + upper),
            jnp.where(jnp.isfinite(upper), upper, lower),
        )
        return jnp.where(jnp.isfinite(mid), mid, 0.0)

    def init_params(self, problem):
        if not self.regression:
            return super().init_params(problem)
        self._sync()
        data = problem.data
        return self._regression_start(data, self._representative(data), problem.effective_weights)

    def start(self, data, weights):
        return self.family.start(self._representative(data), weights)

    def validate_data(self, data):
        layout = self._layout(data)
        if layout == "exact":
            self._check_values("y", data["y"], np.ones(np.shape(data["y"]), bool))
            return
        if layout == "event":
            event = np.asarray(data["event"])
            bad = ~np.isin(event, (EXACT, RIGHT, LEFT))
            if np.any(bad):
                key = "data['event']" if self.regression else "event"
                raise ValueError(
                    f"{self.name}: {key} must be 1 (observed), 0 (right-censored) or 2 "
                    f"(left-censored); found {int(bad.sum())} other value(s): "
                    f"{event[bad][:5].tolist()} (first at index {int(np.argmax(bad))})"
                )
            if np.any(event == LEFT) and not _implements(self.dist, "logcdf"):
                raise ValueError(f"{self.name}: left-censoring (event 2) needs the family's logcdf")
            x = data[self._x_key]
            self._check_values(self._x_key, x, np.ones(np.shape(x), bool))
            return
        lower, upper = np.asarray(data["lower"]), np.asarray(data["upper"])
        bad = ~(lower <= upper)
        if np.any(bad):
            first = int(np.argmax(bad))
            raise ValueError(
                f"{self.name}: need lower <= upper in every row; found {int(bad.sum())} row(s) "
                f"violating it, first at index {first} (lower={lower[first]}, upper={upper[first]})"
            )
        no_info = np.isneginf(lower) & np.isposinf(upper)
        if np.any(no_info):
            raise ValueError(
                f"{self.name}: {int(no_info.sum())} row(s) have lower = -inf and upper = inf and "
                f"carry no information (first at index {int(np.argmax(no_info))}); drop them"
            )
        exact = lower == upper
        if not self.regression:
            self._check_family(np.where(exact, lower, upper)[exact | np.isfinite(upper)])
        else:
            self._check_values("upper", upper, np.isfinite(upper) & ~exact)
            self._check_values("lower", lower, exact)
        bad = ~np.asarray(self._lower_ok(lower, upper), bool)
        if np.any(bad):
            floor = self.dist.support_floor
            raise _values_error(
                self.name,
                "lower",
                lower,
                bad,
                f"{self.support_description}, or be {floor} or -inf (left-censoring)",
            )

    def _check_values(self, key, values, checked):
        """Eager support check of the response values in the rows ``checked``."""
        values = np.asarray(values)
        if not self.regression:
            self._check_family(values[checked])
            return
        bad = checked & ~np.asarray(self._inside(values), bool)
        if np.any(bad):
            raise _values_error(self.name, key, values, bad, self.support_description)

    def _check_family(self, x):
        try:
            self.family.validate_data(x)
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None


class Truncated(_Wrapper):
    r"""``family`` conditioned on ``low <= X <= high`` (``low < X <= high`` if discrete).

    ``log p(x) = log f(x) - log(F(high) - F(low))``, the normaliser computed stably from the
    smaller tail (see :func:`log_prob_between`). ``low=None`` / ``high=None`` leave that side
    open. The start is the family's own start on the data, biased by the truncation but a fine
    starting point for Newton.

    Over a regression (one with a ``response_family``, such as
    :class:`~jaxmle.LinearRegression`) the data are the regression's own ``{"X", "y", ...}``,
    each row's response truncated to the window with its own normaliser (the truncated
    regression).

    Args:
        family: the distribution before truncation; needs ``logcdf``/``logsf``. Or a
            regression with a ``response_family``.
        low: lower truncation point, or ``None``.
        high: upper truncation point, or ``None``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> x = jnp.array([0.1, 0.4, 0.9, 1.3, 0.2, 0.6, 1.8, 0.05])
        >>> res = jm.fit(jm.Truncated(jm.Normal(), low=0.0), x)
        >>> bool(res.converged)
        True
    """

    def __init__(self, family, low: float | None = None, high: float | None = None):
        name = _wrapped_name(family, "Truncated")
        if low is not None and high is not None and not low < high:
            raise ValueError(f"Truncated: need low < high, got low={low}, high={high}")
        self.low = None if low is None else float(low)
        self.high = None if high is None else float(high)
        dist = family.response_family if _is_regression(family) else family
        discrete = bool(getattr(dist, "discrete", False))
        window = " and ".join(
            part
            for part in (
                None if low is None else f"x {'>' if discrete else '>='} {self.low}",
                None if high is None else f"x <= {self.high}",
            )
            if part
        )
        self.window = window or "no truncation"
        self._wrap(family, f"Truncated({name}, low={self.low}, high={self.high})")
        self.support_description = f"{dist.support_description} and {self.window}"

    def _window_mass(self, p, shape) -> jax.Array:
        """``log(F(high) - F(low))`` at the parameters ``p``, broadcast to ``shape``."""
        dist = self.dist
        if self.low is None and self.high is None:
            return jnp.zeros(shape)
        if self.high is None:
            return dist.logsf(p, jnp.full(shape, self.low))
        if self.low is None:
            return dist.logcdf(p, jnp.full(shape, self.high))
        lo, hi = jnp.full(shape, self.low), jnp.full(shape, self.high)
        return log_prob_between(
            dist.logcdf(p, lo), dist.logcdf(p, hi), dist.logsf(p, lo), dist.logsf(p, hi)
        )

    def log_mass(self, params) -> jax.Array:
        """``log(F(high) - F(low))``, the log probability of the truncation window (of a
        family; over a regression each row has its own, see :meth:`logpdf`)."""
        return self._window_mass(params, (1,))[0]

    def sample(self, key, params, shape=(), max_rounds: int = 1000):
        """Exact draws from the truncated distribution, by rejection from the family's sampler.

        Each round draws ``m = prod(shape)`` values from the family and keeps those inside the
        window; the kept values fill the slots still empty, in order. The draws of a round are
        i.i.d. and independent of which of them are kept, so the kept ones are i.i.d. from the
        truncated distribution, and filling slots in order keeps them so: the result is exact.
        A round keeps ``m P`` values on average, ``P = F(high) - F(low)``, so the rounds number
        about ``1 / P`` (a few more when ``m P`` is small). After ``max_rounds`` rounds, or at
        once when ``P`` is 0 or NaN, the slots still empty are NaN (a fit of them reports
        invalid data): a window holding less than about ``1 / max_rounds`` of the mass is not
        sampled.

        Draws are floating (NaN marks empty slots), also for a discrete family.

        Examples:
            >>> import jax, jax.numpy as jnp, jaxmle as jm
            >>> zero_truncated = jm.Truncated(jm.Poisson(), low=0)   # X > 0
            >>> x = zero_truncated.sample(jax.random.key(0), {"rate": jnp.asarray(0.5)}, (1000,))
            >>> x.shape, float(x.min())
            ((1000,), 1.0)
        """
        if self.regression:
            raise NotImplementedError(
                f"{self.name}: over a regression, use simulate(key, params, data)"
            )
        return _rejection_sample(self, key, params, tuple(shape), max_rounds)

    def simulate(self, key, params, data, max_rounds: int = 1000):
        """A dataset like ``data`` drawn from the model (:meth:`sample` for a family).

        Over a regression each row draws its response from its own truncated distribution, by
        rejection row by row (a row keeps redrawing until a draw falls in the window); rows not
        filled after ``max_rounds`` rounds are NaN. The design keys are copied through.
        """
        if not self.regression:
            return super().simulate(key, params, data)
        p = self._dist_params(params, data)
        n = data["X"].shape[0]
        dtype = jnp.result_type(data["X"].dtype, float)

        def round_(state):
            i, y, done = state
            draws = self.dist.sample(jax.random.fold_in(key, i), p, (n,)).astype(dtype)
            keep = ~done & self.in_support(draws)
            return i + 1, jnp.where(keep, draws, y), done | keep

        def pending(state):
            i, _, done = state
            return ~jnp.all(done) & (i < max_rounds)

        state = (jnp.uint32(0), jnp.full((n,), jnp.nan, dtype), jnp.zeros(n, bool))
        return {**data, "y": jax.lax.while_loop(pending, round_, state)[1]}

    def logpdf(self, params, x):
        if not self.regression:
            return self.family.logpdf(params, x) - self.log_mass(params)
        p = self._dist_params(params, x)
        y = x["y"]
        return self.dist.logpdf(p, y) - self._window_mass(p, jnp.shape(y))

    def start(self, x, weights):
        return self.family.start(x, weights)

    def init_params(self, problem):
        if not self.regression:
            return super().init_params(problem)
        self._sync()
        return self._regression_start(problem.data, problem.data["y"], problem.effective_weights)

    def in_support(self, x):
        inside = self.dist.in_support(x)
        if self.low is not None:
            inside &= (x > self.low) if self.discrete else (x >= self.low)
        if self.high is not None:
            inside &= x <= self.high
        return inside

    # -- over a regression: the regression's data, the response in the window ------------------
    def check_shapes(self, data) -> None:
        if not self.regression:
            if not hasattr(data, "shape"):
                raise ValueError(
                    f"{self.name}: data must be an array of observations, got {type(data).__name__}"
                )
            super().check_shapes(data)
            return
        self._inner_call(self.family.check_shapes, data)
        self._sync()

    def valid_rows(self, data):
        if not self.regression:
            return super().valid_rows(data)
        return Model.valid_rows(self, data) & self.in_support(data["y"])

    def validate_data(self, data) -> None:
        if not self.regression:
            super().validate_data(data)
            return
        y = np.asarray(data["y"])
        bad = ~np.asarray(self.in_support(y), bool)
        if np.any(bad):
            raise _values_error(self.name, "y", y, bad, self.support_description)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _rejection_sample(model: Truncated, key, params, shape, max_rounds):
    """:meth:`Truncated.sample`, jitted (the model, ``shape`` and ``max_rounds`` static) so that
    eager calls reuse the compiled loop."""
    m = math.prod(shape)
    family = model.dist
    family_dtype = jax.eval_shape(lambda k, p: family.sample(k, p, (m,)), key, params).dtype
    dtype = jnp.result_type(family_dtype, float)
    possible = model.log_mass(params) > -jnp.inf

    def round_(state):
        i, x, filled = state
        draws = family.sample(jax.random.fold_in(key, i), params, (m,))
        inside = model.in_support(draws)
        kept = jnp.cumsum(inside, dtype=jnp.int32)
        slot = jnp.where(inside, filled + kept - 1, m)  # m: dropped
        return i + 1, x.at[slot].set(draws.astype(dtype), mode="drop"), filled + kept[-1]

    def pending(state):
        i, _, filled = state
        return possible & (filled < m) & (i < max_rounds)

    state = (jnp.uint32(0), jnp.full((m,), jnp.nan, dtype), jnp.asarray(0, jnp.int32))
    return jax.lax.while_loop(pending, round_, state)[1].reshape(shape)
