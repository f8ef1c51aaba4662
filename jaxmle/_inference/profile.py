"""Profile-likelihood confidence intervals.

For a scalar parameter ``theta_j`` the profile log-likelihood is
``lp(theta_j) = max_{other parameters} loglik``, and the level-``1 - alpha`` interval is the set

    { theta_j : 2 * (loglik_hat - lp(theta_j)) <= chi2_1(level) },

whose ends are the two roots of ``2 * (loglik_hat - lp) = chi2_1(level) = z^2``. Unlike the Wald
interval it is invariant under reparametrisation, respects the parameter's domain and follows a
skewed likelihood.

How it is computed (exactly, not by a local approximation): for an entry-wise constraint
(``Real``, ``Positive``, ``Interval``, ``UnitInterval``) the natural coordinate ``theta_j`` is a
strictly increasing function of one unconstrained coordinate ``u_j``, so fixing ``u_j`` fixes
``theta_j`` and the profile in ``u_j`` *is* the profile in ``theta_j``; its roots map to the
natural scale through the bijection. Each profile point re-optimises the nuisance coordinates with
the core's damped Newton on the problem with ``u_j`` held fixed (warm-started from the previous
point). The root of the signed root ``h(u_j) = sqrt(2 (loglik_hat - lp)) - z`` (nearly linear in
``u_j``) is bracketed by stepping outward from the estimate (the first step is the Wald bound on the
unconstrained scale, then doubling) and polished by Newton steps that use the envelope theorem
(``d lp / d u_j`` is the partial derivative of the log-likelihood at the re-optimised point), with
bisection whenever a Newton step leaves the bracket. Everything is one bounded ``while_loop``, so
it runs under ``jit`` and ``vmap``; all bounds of all requested parameters are one vmapped batch.

Parameters with constraints that mix coordinates (Simplex, Ordered, PositiveDefinite) are not
profiled.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .._compile import program
from .._problem import Problem
from .._solvers import Newton, Objective, iterate
from .._status import Status
from .._validation import is_traced, validate_inputs

__all__ = ["ProfileInterval", "ProfileStatus", "profile_ci"]

MAX_EXPAND = 40
MAX_REFINE = 100
INNER_MAX_STEPS = 200


class ProfileStatus(enum.IntEnum):
    """How each end of a profile interval was found.

    Attributes:
        OK: the profile crossed the cutoff; the bound is that root (to tight tolerance).
        OPEN: the profile stays inside the cutoff all the way to the edge of the parameter's
            domain; the bound is the edge (``0``, ``inf``, ``-inf``, an Interval end) and the
            interval is open on that side.
        JUMP: the profile jumps from inside the cutoff to a non-finite log-likelihood (a support
            boundary, or overflow far out); the bound is where the jump happens.
        MAX_STEPS: the root search ran out of steps; the bound is the midpoint of the last bracket.
        FAILED: the fit itself, or the nuisance re-fit at the bound, did not converge.
    """

    OK = 0
    OPEN = 1
    JUMP = 2
    MAX_STEPS = 3
    FAILED = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ProfileInterval:
    """Profile-likelihood intervals; unpacks as ``lower, upper = profile_ci(...)``.

    Attributes:
        lower: dict of lower bounds, shaped like the profiled parameters (batch axis first).
        upper: dict of upper bounds.
        lower_status: dict of :class:`ProfileStatus` codes (int32) for each lower bound.
        upper_status: dict of codes for each upper bound.
        level: the confidence level (static).
    """

    lower: dict
    upper: dict
    lower_status: dict
    upper_status: dict
    level: float = dataclasses.field(metadata=dict(static=True))

    def __iter__(self):
        yield self.lower
        yield self.upper

    @property
    def status(self) -> tuple[dict, dict]:
        """``(lower_status, upper_status)``."""
        return self.lower_status, self.upper_status

    @property
    def closed(self) -> dict:
        """True where both ends were found as proper roots (status OK)."""
        return {
            key: (self.lower_status[key] == ProfileStatus.OK)
            & (self.upper_status[key] == ProfileStatus.OK)
            for key in self.lower
        }


def profile_ci(model, data, res, level: float = 0.95, params=None, weights=None):
    """Profile-likelihood confidence intervals for the parameters of a fit.

    Args:
        model: the fitted model; the profile uses ``res.model``, the copy :func:`~jaxmle.fit`
            bound to the data, which must have the same parameters.
        data: the data the model was fitted to; with a batched ``res`` (from
            :func:`~jaxmle.fit_many` or ``jax.vmap(fit)``) a stacked pytree with leading axis
            ``B``.
        res: the :class:`~jaxmle.FitResult` (single or batched).
        level: confidence level, e.g. 0.95.
        params: name or list of names to profile; default every parameter with an entry-wise
            constraint. Vector parameters are profiled entry by entry.
        weights: the frequency weights used in the fit (``(n,)``, or ``(B, n)`` for a batch).

    Returns:
        A :class:`ProfileInterval`: ``.lower``/``.upper`` dicts keyed by parameter name, shaped
        like the parameters (after the batch axis), ``.lower_status``/``.upper_status`` with
        :class:`ProfileStatus` codes; ``lower, upper = profile_ci(...)`` unpacks the bounds.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import jaxmle as jm
        >>> expo = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x,
        ...                 {"rate": jm.Positive()})
        >>> x = jnp.array([0.2, 1.1, 0.4, 2.5, 0.9])
        >>> res = jm.fit(expo, x)
        >>> lower, upper = jm.profile_ci(expo, x, res)
        >>> round(float(lower["rate"]), 4), round(float(upper["rate"]), 4)
        (0.3516, 2.1071)
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    model = model.bind(data)  # a regression takes its width (and names) from the data
    if res.model.param_names != model.param_names:
        raise ValueError(
            f"res was fitted with parameters {res.model.param_names}, not those of model "
            f"({model.param_names})"
        )
    model = res.model  # the model as fitted (bound to the data's shape, where that matters)
    keys = _profiled_keys(model, params)
    coords = tuple(j for key in keys for j in _coordinates(model, key))
    data = jax.tree_util.tree_map(jnp.asarray, data)
    weights = None if weights is None else jnp.asarray(weights)
    batched = bool(res.batch_shape)
    if not batched and not is_traced((data, weights)):
        validate_inputs(model, data, weights)
    if batched:
        lead = {int(jnp.shape(leaf)[0]) for leaf in jax.tree_util.tree_leaves(data)}
        if lead != {res.batch_shape[0]}:
            raise ValueError(
                f"data: a batched res of {res.batch_shape[0]} fits needs data with that leading "
                f"axis, got leading axes {sorted(lead)}"
            )
    t_lower, t_upper, s_lower, s_upper = _profile(
        data, weights, res, jnp.asarray(level), model=model, coords=coords, batched=batched
    )
    lower, upper, lower_status, upper_status, start = {}, {}, {}, {}, 0
    for key in keys:
        spec = model.specs[key]
        stop = start + spec.size
        lo, hi = (
            _to_natural(spec, t_lower[..., start:stop]),
            _to_natural(spec, t_upper[..., start:stop]),
        )
        shape = res.batch_shape + spec.shape
        lower[key] = jnp.reshape(lo, shape)
        upper[key] = jnp.reshape(hi, shape)
        lower_status[key] = jnp.reshape(s_lower[..., start:stop], shape)
        upper_status[key] = jnp.reshape(s_upper[..., start:stop], shape)
        start = stop
    return ProfileInterval(lower, upper, lower_status, upper_status, level=float(level))


def _profiled_keys(model, params) -> list[str]:
    if params is None:
        return [key for key, spec in model.specs.items() if spec.elementwise]
    keys = [params] if isinstance(params, str) else list(params)
    for key in keys:
        if key not in model.specs:
            raise ValueError(
                f"params: unknown parameter {key!r}; the model has {list(model.specs)}"
            )
        if not model.specs[key].elementwise:
            raise ValueError(
                f"params: {key!r} has constraint {model.specs[key]!r}, which mixes coordinates; "
                "profile intervals need an entry-wise constraint (Real, Positive, Interval)"
            )
    return keys


def _coordinates(model, key) -> range:
    """Unconstrained coordinates of an entry-wise parameter (they match its flat entries)."""
    start = 0
    for name, spec in model.specs.items():
        if name == key:
            return range(start, start + spec.unconstrained_size)
        start += spec.unconstrained_size
    raise KeyError(key)


def _to_natural(spec, t):
    """Map unconstrained bounds (any shape ``(..., size)``) through an entry-wise bijection."""
    lead = t.shape[:-1]
    flat = jnp.reshape(t, (-1, spec.size))
    out = jax.vmap(lambda v: jnp.reshape(spec.forward(v), (-1,)))(flat)
    return jnp.reshape(out, lead + (spec.size,))


@program(static_argnames=("model", "coords", "batched"))
def _profile(data, weights, res, level, *, model, coords, batched):
    """Unconstrained bounds and statuses, each ``(..., len(coords))``."""

    def one(d, w, r):
        return _profile_one(model, d, w, r, level, coords)

    if batched:
        return jax.vmap(one, in_axes=(0, None if weights is None else 0, 0))(data, weights, res)
    return one(data, weights, res)


def _profile_one(model, data, weights, res, level, coords):
    u_hat = res.unconstrained
    dtype = u_hat.dtype
    problem = Problem.build(data, weights)
    z = jax.scipy.special.ndtri(0.5 + level / 2.0).astype(dtype)
    index = jnp.asarray(coords, jnp.int32)
    se_u = jnp.sqrt(jnp.diagonal(res.cov_unconstrained))[index]
    step = jnp.where(jnp.isfinite(se_u) & (se_u > 0), z * se_u, 0.1 * (1.0 + jnp.abs(u_hat[index])))
    fit_ok = res.status == Status.CONVERGED
    f_hat = model.objective(u_hat, problem)  # the minimised objective (penalised, if it was)

    def bound(j, direction, step_j):
        t, status = _root(model, problem, u_hat, f_hat, j, direction, step_j, z)
        return t, jnp.where(fit_ok, status, ProfileStatus.FAILED).astype(jnp.int32)

    # All ends of all requested coordinates are one vmapped batch: lower ends first, then upper.
    m = len(coords)
    direction = jnp.concatenate([-jnp.ones((m,), dtype), jnp.ones((m,), dtype)])
    t, status = jax.vmap(bound)(jnp.tile(index, 2), direction, jnp.tile(step, 2))
    # Entry-wise bijections are increasing, so lower bounds in u give lower bounds in theta.
    return t[:m], t[m:], status[:m], status[m:]


class _Pinned(NamedTuple):
    """A profile point's problem: the fit's dataset with coordinates ``fixed`` held at ``t``."""

    problem: Problem
    fixed: jax.Array
    t: jax.Array

    def pin(self, v: jax.Array) -> jax.Array:
        return jnp.where(self.fixed, self.t, v)


def _pinned_objective(model) -> Objective:
    """The model's objective over the free coordinates of a :class:`_Pinned` problem (the
    pinned ones get a zero gradient and a unit Hessian block, so Newton leaves them alone)."""

    def value(v, pinned):
        return model.objective(pinned.pin(v), pinned.problem)

    def derivatives(v, pinned):
        f, g, hess = model.objective_derivatives(pinned.pin(v), pinned.problem)
        fixed = pinned.fixed
        cross = fixed[:, None] | fixed[None, :]
        hess = jnp.where(cross, 0.0, hess) + jnp.diag(fixed.astype(hess.dtype))
        return f, jnp.where(fixed, 0.0, g), hess

    return Objective(value, derivatives)


def _root(model, problem, u_hat, f_hat, j, direction, step, z):
    """One end of the interval on the unconstrained scale: ``(t, ProfileStatus)``."""
    dtype = u_hat.dtype
    k = u_hat.shape[0]
    fixed = jnp.arange(k) == j
    newton = Newton()
    objective = _pinned_objective(model)
    eps = jnp.finfo(dtype).eps
    htol = 64.0 * eps * (1.0 + jnp.abs(f_hat))
    stol = 1e4 * eps
    xtol = 1e3 * eps
    u_j = u_hat[j]

    def evaluate(t, warm):
        """Signed-root deviation ``h``, its derivative, the re-optimised point and fit flag."""

        pinned = _Pinned(problem, fixed, t)
        solution = iterate(newton, objective, warm, pinned, INNER_MAX_STEPS)
        u = pinned.pin(solution.u)
        f, g = jax.value_and_grad(model.objective)(u, problem)
        dev = 2.0 * (f - f_hat)
        root = jnp.sqrt(jnp.maximum(dev, 0.0))
        finite = jnp.isfinite(f) & jnp.all(jnp.isfinite(g))
        h = jnp.where(finite, root - z, jnp.inf)
        # d h / d t = (d dev / d t) / (2 sqrt(dev)), d dev / d t = 2 * df/du_j (envelope theorem).
        dh = jnp.sum(jnp.where(fixed, g, 0.0)) / jnp.maximum(root, jnp.finfo(dtype).tiny)
        return h, dh, u, finite, solution.status == Status.CONVERGED

    zero = jnp.zeros((), dtype)
    init = dict(
        lo=u_j,
        hi=u_j + direction * jnp.inf,
        bracketed=jnp.array(False),
        hi_finite=jnp.array(True),
        t=u_j,
        h=-z,
        dh=zero,
        warm=u_hat,
        inner_ok=jnp.array(True),
        expansions=jnp.asarray(0, jnp.int32),
        n=jnp.asarray(0, jnp.int32),
        done=jnp.array(False),
        root=zero,
        status=jnp.asarray(ProfileStatus.MAX_STEPS, jnp.int32),
    )

    def body(s):
        expand_t = u_j + direction * step * 2.0 ** s["expansions"].astype(dtype)
        newton_t = s["t"] - s["h"] / s["dh"]
        inside_bracket = (
            jnp.isfinite(newton_t)
            & (newton_t > jnp.minimum(s["lo"], s["hi"]))
            & (newton_t < jnp.maximum(s["lo"], s["hi"]))
        )
        refine_t = jnp.where(inside_bracket, newton_t, 0.5 * (s["lo"] + s["hi"]))
        t = jnp.where(s["bracketed"], refine_t, expand_t)
        h, dh, u, finite, inner_ok = evaluate(t, s["warm"])
        inside = h < 0
        lo = jnp.where(inside, t, s["lo"])
        hi = jnp.where(inside, s["hi"], t)
        bracketed = s["bracketed"] | ~inside
        hi_finite = jnp.where(inside, s["hi_finite"], finite)
        expansions = s["expansions"] + jnp.where(s["bracketed"], 0, 1)
        # A Newton step this small leaves an error of order its square: accept its end point.
        newton_step = s["bracketed"] & inside_bracket
        tiny = newton_step & (jnp.abs(t - s["t"]) <= stol * (1.0 + jnp.abs(t)))
        found = finite & ((jnp.abs(h) <= htol) | tiny)
        narrow = bracketed & (jnp.abs(hi - lo) <= xtol * (1.0 + jnp.abs(t)))
        open_ = ~bracketed & (expansions >= MAX_EXPAND)
        n = s["n"] + 1
        out_of_steps = n >= MAX_EXPAND + MAX_REFINE
        done = found | narrow | open_ | out_of_steps
        edge = jnp.where(narrow & ~hi_finite, lo, 0.5 * (lo + hi))
        root = jnp.where(found, t, jnp.where(open_, direction * jnp.inf, edge))
        status = jnp.where(
            found | (narrow & hi_finite),
            jnp.where(inner_ok, ProfileStatus.OK, ProfileStatus.FAILED),
            jnp.where(
                open_,
                ProfileStatus.OPEN,
                jnp.where(narrow, ProfileStatus.JUMP, ProfileStatus.MAX_STEPS),
            ),
        )
        keep = finite & inner_ok
        return dict(
            lo=lo,
            hi=hi,
            bracketed=bracketed,
            hi_finite=hi_finite,
            t=t,
            h=h,
            dh=dh,
            warm=jnp.where(keep, u, s["warm"]),
            inner_ok=inner_ok,
            expansions=expansions,
            n=n,
            done=done,
            root=root,
            status=status.astype(jnp.int32),
        )

    final = jax.lax.while_loop(lambda s: ~s["done"], body, init)
    return final["root"], final["status"]
