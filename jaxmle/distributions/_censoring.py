"""Censored and truncated observations of any family with a log CDF and log survival function.

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

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> data = {"x": jnp.array([2.0, 3.0, 1.0, 4.0]), "event": jnp.array([1.0, 0.0, 1.0, 0.0])}
    >>> res = jm.fit(jm.Censored(jm.Exponential()), data)   # events / total time at risk
    >>> round(float(res.params["rate"]), 6)
    0.2
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from ._family import Family, log1mexp

__all__ = ["Censored", "Truncated"]

EXACT, RIGHT, LEFT = 1, 0, 2


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


def _implements(family: Family, method: str) -> bool:
    return getattr(type(family), method) is not getattr(Family, method)


def _family_name(family) -> str:
    if not isinstance(family, Family):
        raise TypeError(
            f"expected a distribution family such as jm.Weibull(), got {type(family).__name__}"
        )
    return family.name


class Censored(Family):
    r"""Right-, left- and interval-censored observations of ``family``.

    See the module docstring for the two data layouts. The start is the family's own start on a
    representative value per row (the observed or censoring value; an interval's midpoint), which
    is biased under censoring but a fine starting point for Newton.

    Args:
        family: the distribution of the uncensored variable; needs ``logcdf``/``logsf`` for the
            censoring kinds present in the data.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> data = {"x": jnp.array([0.5, 1.2, 2.0, 0.7, 3.1]),
        ...         "event": jnp.array([1.0, 1.0, 0.0, 1.0, 0.0])}
        >>> res = jm.fit(jm.Censored(jm.Weibull()), data)
        >>> bool(res.converged), res.param_names
        (True, ('shape', 'scale'))
    """

    infinite_data_keys = ("lower", "upper")

    def __init__(self, family: Family):
        name = _family_name(family)
        self.family = family
        self.support_description = family.support_description
        self.observation_shape = family.observation_shape
        super().__init__(family.specs, name=f"Censored({name})")

    @property
    def can_simulate(self) -> bool:
        return self.family.can_simulate

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

        Examples:
            >>> import jax, jax.numpy as jnp, jaxmle as jm
            >>> template = {"x": jnp.full(4, 1.0), "event": jnp.array([0.0, 0.0, 1.0, 2.0])}
            >>> data = jm.Censored(jm.Exponential()).simulate(
            ...     jax.random.key(0), {"rate": jnp.asarray(1.0)}, template)
            >>> sorted(data), data["x"].shape
            (['event', 'x'], (4,))
        """
        n = jax.tree_util.tree_leaves(data)[0].shape[0]
        x = self.family.sample(key, params, (n,))
        if self._layout(data) == "event":
            c, event = data["x"], data["event"]
            censored = ((event == RIGHT) & (x > c)) | ((event == LEFT) & (x <= c))
            out = jnp.where(censored, c, x)
            return {"x": out, "event": jnp.where(censored, event, EXACT).astype(event.dtype)}
        lower, upper = data["lower"], data["upper"]
        above = x > lower if getattr(self.family, "discrete", False) else x >= lower
        censored = (lower < upper) & above & (x <= upper)
        return {"lower": jnp.where(censored, lower, x), "upper": jnp.where(censored, upper, x)}

    def check_shapes(self, data) -> None:
        self._layout(data)
        super().check_shapes(data)

    def valid_rows(self, data):
        family = self.family
        if self._layout(data) == "event":
            x, event = data["x"], data["event"]
            known = (event == EXACT) | (event == RIGHT)
            if _implements(family, "logcdf"):
                known = known | (event == LEFT)
            return known & family.valid_rows(x)
        lower, upper = data["lower"], data["upper"]
        xp = namespace(lower, upper)
        ordered = (lower <= upper) & ~(xp.isneginf(lower) & xp.isposinf(upper))
        exact = lower == upper
        # The family's support at the value that is checked eagerly: an exact value, or a
        # finite upper end (a lower end may sit on the support's edge, e.g. 0 for x > 0).
        checked = exact | xp.isfinite(upper)
        inside = family.in_support(xp.where(exact, lower, upper))
        return ordered & xp.where(checked, inside, True)

    # -- layouts -----------------------------------------------------------------------------
    @staticmethod
    def _layout(data) -> str:
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
        if self._layout(data) == "event":
            return self._event_loglik(params, data["x"], data["event"])
        return self._interval_loglik(params, data["lower"], data["upper"])

    def _event_loglik(self, params, x, event):
        # Under jit every row's kind is unknown, so all kinds are evaluated at x (inside the
        # support) and the row's code selects one. A family without logcdf cannot take event 2.
        exact = self.family.logpdf(params, x)
        right = self.family.logsf(params, x)
        left = self.family.logcdf(params, x) if _implements(self.family, "logcdf") else jnp.nan
        return jnp.where(event == EXACT, exact, jnp.where(event == LEFT, left, right))

    def _interval_loglik(self, params, lower, upper):
        family = self.family
        exact = lower == upper
        right_open = jnp.isposinf(upper)
        # A finite point of each row (where the densities are safe to evaluate).
        ref = jnp.where(jnp.isfinite(upper), upper, lower)
        ref = jnp.where(jnp.isfinite(ref), ref, 0.0)
        lo = jnp.where(jnp.isfinite(lower), lower, ref)
        frozen = jax.lax.stop_gradient(params)
        at_floor = jnp.isneginf(lower) | ~(
            jax.lax.stop_gradient(family.logcdf(frozen, lo)) > -jnp.inf
        )
        at_floor = at_floor & ~exact
        left = at_floor & ~right_open
        right = right_open & ~at_floor
        between = ~exact & ~at_floor & ~right_open
        lo = jnp.where(at_floor, ref, lo)

        log_exact = family.logpdf(params, jnp.where(exact, lower, ref))
        log_f_hi, log_s_hi = family.logcdf(params, ref), family.logsf(params, ref)
        log_f_lo, log_s_lo = family.logcdf(params, lo), family.logsf(params, lo)
        safe_lo = jnp.where(between, log_f_lo, log_f_hi - 1.0)
        safe_s_hi = jnp.where(between, log_s_hi, log_s_lo - 1.0)
        log_between = log_prob_between(safe_lo, log_f_hi, log_s_lo, safe_s_hi)
        out = jnp.where(exact, log_exact, 0.0)  # rows with no information contribute 0
        out = jnp.where(left, log_f_hi, out)
        out = jnp.where(right, log_s_lo, out)
        return jnp.where(between, log_between, out)

    # -- start and validation ------------------------------------------------------------------
    def start(self, data, weights):
        if self._layout(data) == "event":
            return self.family.start(data["x"], weights)
        lower, upper = data["lower"], data["upper"]
        mid = jnp.where(
            jnp.isfinite(lower) & jnp.isfinite(upper),
            0.5 * (lower + upper),
            jnp.where(jnp.isfinite(upper), upper, lower),
        )
        return self.family.start(jnp.where(jnp.isfinite(mid), mid, 0.0), weights)

    def validate_data(self, data):
        if self._layout(data) == "event":
            event = np.asarray(data["event"])
            bad = ~np.isin(event, (EXACT, RIGHT, LEFT))
            if np.any(bad):
                raise ValueError(
                    f"{self.name}: event must be 1 (observed), 0 (right-censored) or 2 "
                    f"(left-censored); found {int(bad.sum())} other value(s): "
                    f"{event[bad][:5].tolist()} (first at index {int(np.argmax(bad))})"
                )
            if np.any(event == LEFT) and not _implements(self.family, "logcdf"):
                raise ValueError(f"{self.name}: left-censoring (event 2) needs the family's logcdf")
            self._check_family(data["x"])
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
        self._check_family(np.where(exact, lower, upper)[exact | np.isfinite(upper)])

    def _check_family(self, x):
        try:
            self.family.validate_data(x)
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None


class Truncated(Family):
    r"""``family`` conditioned on ``low <= X <= high`` (``low < X <= high`` if discrete).

    ``log p(x) = log f(x) - log(F(high) - F(low))``, the normaliser computed stably from the
    smaller tail (see :func:`log_prob_between`). ``low=None`` / ``high=None`` leave that side
    open. The start is the family's own start on the data, biased by the truncation but a fine
    starting point for Newton.

    Args:
        family: the distribution before truncation; needs ``logcdf``/``logsf``.
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

    def __init__(self, family: Family, low: float | None = None, high: float | None = None):
        name = _family_name(family)
        if low is not None and high is not None and not low < high:
            raise ValueError(f"Truncated: need low < high, got low={low}, high={high}")
        self.family = family
        self.low = None if low is None else float(low)
        self.high = None if high is None else float(high)
        self.discrete = bool(getattr(family, "discrete", False))
        window = " and ".join(
            part
            for part in (
                None if low is None else f"x {'>' if self.discrete else '>='} {self.low}",
                None if high is None else f"x <= {self.high}",
            )
            if part
        )
        self.window = window or "no truncation"
        self.support_description = f"{family.support_description} and {self.window}"
        self.observation_shape = family.observation_shape
        super().__init__(family.specs, name=f"Truncated({name}, low={self.low}, high={self.high})")

    def log_mass(self, params) -> jax.Array:
        """``log(F(high) - F(low))``, the log probability of the truncation window."""
        family = self.family
        if self.low is None and self.high is None:
            return jnp.zeros(())
        if self.high is None:
            return family.logsf(params, jnp.asarray([self.low]))[0]
        if self.low is None:
            return family.logcdf(params, jnp.asarray([self.high]))[0]
        ends = jnp.asarray([self.low, self.high])
        log_f, log_s = family.logcdf(params, ends), family.logsf(params, ends)
        return log_prob_between(log_f[0], log_f[1], log_s[0], log_s[1])

    @property
    def can_simulate(self) -> bool:
        return self.family.can_simulate

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
        return _rejection_sample(self, key, params, tuple(shape), max_rounds)

    def logpdf(self, params, x):
        return self.family.logpdf(params, x) - self.log_mass(params)

    def start(self, x, weights):
        return self.family.start(x, weights)

    def in_support(self, x):
        inside = self.family.in_support(x)
        if self.low is not None:
            inside &= (x > self.low) if self.discrete else (x >= self.low)
        if self.high is not None:
            inside &= x <= self.high
        return inside


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _rejection_sample(model: Truncated, key, params, shape, max_rounds):
    """:meth:`Truncated.sample`, jitted (the model, ``shape`` and ``max_rounds`` static) so that
    eager calls reuse the compiled loop."""
    m = math.prod(shape)
    family = model.family
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
