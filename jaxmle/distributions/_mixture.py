"""`Mixture`: a finite mixture of ``k`` components of one built-in family.

With mixing weights ``w_1, ..., w_k`` (a :class:`~jaxmle.Simplex`) and component parameters
``theta_1, ..., theta_k`` the density of one observation is ``sum_j w_j f(x | theta_j)``, so its
log-likelihood contribution is computed as

    l_i = logsumexp_j (log w_j + log f(x_i | theta_j)),

which stays finite where every single term underflows. The parameters are the family's own, each
with a trailing ``(k,)`` axis and the same constraint per component (``loc`` ``(k,)`` Real,
``scale`` ``(k,)`` Positive for a normal mixture), plus ``weights`` ``(k,)``. Fitting maximises
the marginal likelihood ``sum_i w_i l_i`` with the default damped Newton solver, so standard
errors are the usual inverse observed information of that likelihood.

**Start: EM inside the traced program.** :meth:`Mixture.start` (the model's ``init_params``)
runs expectation-maximisation from a deterministic, data-driven partition:

1. Sort the observations (by ``x``; by ``y / trials`` for binomial data) and cut them into ``k``
   groups of equal weight (weighted ranks); these hard assignments are the first
   responsibilities.
2. M-step: component ``j`` gets the family's own weighted start
   (:meth:`~jaxmle.distributions._family.Family.start`) with frequency weights
   ``w_i r_ij``, and ``weights_j = sum_i w_i r_ij / sum_i w_i``. For Normal, LogNormal,
   Exponential, Laplace, InverseGaussian, Poisson, Binomial and Geometric that start is the
   exact weighted MLE (classical EM, the likelihood never decreases); for Gamma, Weibull and
   VonMises it is the MLE to near machine precision (a few Newton steps inside the start); for
   StudentT, Logistic, Gumbel, Cauchy, Beta and NegativeBinomial it is a moment or quantile
   estimate (a generalised EM that need not increase the likelihood at each step).
3. E-step: ``r_ij = w_j f(x_i | theta_j) / sum_l w_l f(x_i | theta_l)``.

The loop (a ``jax.lax.while_loop``) stops when the log-likelihood gains less than
``sqrt(eps) (1 + |l|)`` per iteration or after ``EM_MAX_STEPS`` iterations, and the start is the
best iterate seen (so the inexact M-steps cannot make it worse than an earlier one). A component
whose M-step is not finite (no data, a degenerate start) keeps its previous parameters. Newton
then polishes the estimate on the marginal likelihood. The start is computed with
``stop_gradient``: an optimum does not depend on its start, so derivatives of a fit (implicit
differentiation) never go through the EM loop. ``jm.fit(..., n_starts=m, key=key)`` adds starts
drawn around this one on the unconstrained scale, for likelihoods with several local maxima.
Laplace components fit poorly: their log density has no curvature in ``loc``, so the marginal
Hessian is singular (``SINGULAR_HESSIAN``); the Laplace family's own fit uses Fisher scoring.

**Labels.** The likelihood is the same for every permutation of the components. Results are
reported with the components ordered by the family's first parameter (``loc`` for Normal,
``rate`` for Poisson and Exponential, ``shape`` for Gamma, ``df`` for StudentT; another one with
``order_by=``), ascending: :meth:`from_unconstrained`
sorts them, so ``params``, ``se``, ``cov`` and ``conf_int()`` are ordered whatever labelling the
solver ended in (the EM start is sorted too). The constraints stay per component (no
``Ordered``), so components with equal first parameters are an ordinary interior point (an
``Ordered`` first parameter would make them an edge at ``log(gap) -> -inf``, and needs a
positive variant for rates). ``res.unconstrained`` and ``res.cov_unconstrained`` stay in the
solver's labelling: the sorted one from the EM start, but a multi-start fit may keep a start
that converged to a relabelled optimum; ``conf_int(method="transformed")`` and
:func:`~jaxmle.profile_ci`, which read them, match ``params`` when the first parameter's block of
``res.unconstrained`` is increasing.

**Collapse.** A component the data do not support is reported as ``Status.BOUNDARY`` (never
``CONVERGED``) by :meth:`diagnose` when

* it is empty: ``nobs * weights_j < MIN_COMPONENT_COUNT`` (1e-3). At a maximum ``weights_j``
  is the mean responsibility, so ``nobs * weights_j`` is the number of observations the
  component accounts for; its own parameters need about one observation's worth to be
  estimable, and a weight running to 0 ends many orders of magnitude below that;
* it has collapsed onto tied values (families that need spread: Normal, Gamma, ...): the
  responsibility-weighted standard deviation of its share of the data is below
  ``MIN_RELATIVE_SCALE`` (1e-8) times the data's. The likelihood is unbounded there
  (``scale -> 0``, loglik ``-> +inf``, e.g. integer data), and no spread of a real component
  is that small relative to the sample unless the data are equal to eight significant digits;
* it coincides with another component: their log densities differ by at most
  ``MERGED_LOG_DENSITY`` (1e-6) at every observation. The fit is then a ``k - 1`` component
  mixture, the edge of the ``k`` component model where the split of the weights is not
  identified (the observed information is singular); or
* the family's own diagnosis says so for a component, applied with the frequency weights
  ``w_i r_ij`` (at a maximum each component is exactly the family's weighted MLE for those
  weights): e.g. a Student-t ``df -> inf``, all of its observations equal.

Examples:
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> import jaxmle as jm
    >>> key1, key2 = jax.random.split(jax.random.key(0))
    >>> x = jnp.concatenate([jax.random.normal(key1, (150,)) - 2.0,
    ...                      0.5 * jax.random.normal(key2, (100,)) + 3.0])
    >>> res = jm.fit(jm.Mixture(jm.Normal(), k=2), x)
    >>> bool(res.converged), res.param_names[:3]
    (True, ('loc[0]', 'loc[1]', 'scale[0]'))
    >>> [round(float(v), 1) for v in res.params["loc"]]   # ordered by loc
    [-1.9, 3.1]
    >>> [round(float(v), 1) for v in res.params["weights"]]
    [0.6, 0.4]
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from .._constraints import ParamSpec, Simplex
from .._identity import freeze
from .._model import Model
from .._problem import Problem
from .._status import Status
from ._discrete import Bernoulli
from ._family import Family, weighted_mean, weighted_var

__all__ = ["Mixture"]

#: Cap on the EM iterations of the start (each one is cheap: k weighted starts of the family).
EM_MAX_STEPS = 500
#: A component explaining fewer observations than this (``nobs * weights_j``) is empty.
MIN_COMPONENT_COUNT = 1e-3
#: A component whose share of the data spreads less than this times the data's standard deviation
#: has collapsed onto tied values (families that need spread: Normal, Gamma, ...).
MIN_RELATIVE_SCALE = 1e-8
#: Two components whose log densities differ by at most this at every observation coincide.
MERGED_LOG_DENSITY = 1e-6


def _stacked(spec: ParamSpec, k: int) -> ParamSpec:
    """``spec`` with a trailing ``(k,)`` axis: the same constraint, one entry per component."""
    stacked = copy.copy(spec)  # keeps e.g. an Interval's ends; the identity cache is not copied
    ParamSpec.__init__(stacked, np.repeat(spec.init[..., None], k, axis=-1))
    return stacked


class Mixture(Family):
    r"""Finite mixture of ``k`` components of ``family``, fitted by maximum likelihood.

    ``p(x) = sum_j weights_j f(x | theta_j)``; see the module docstring for the start (EM from
    a weighted-rank partition), the ordering of the components (ascending in the family's first
    parameter) and when a fit reports ``Status.BOUNDARY``.

    Args:
        family: a built-in family whose parameters have entry-wise constraints (Real,
            Positive, Interval, UnitInterval): Normal, Poisson, Exponential, Gamma, Binomial,
            ... (not MultivariateNormal or Categorical, whose parameters mix coordinates, and not
            Bernoulli, whose mixtures are a Bernoulli again: not identifiable).
        k: number of components, ``k >= 2``.
        order_by: the family parameter whose (first) entry orders the components, ascending;
            default the family's first parameter (``loc``, ``rate``, ``shape``, ...).

    Attributes:
        family: the component family.
        k: the number of components.
        order_by: the parameter that orders them.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxmle as jm
        >>> model = jm.Mixture(jm.Poisson(), k=2)
        >>> model.param_names
        ('rate[0]', 'rate[1]', 'weights[0]', 'weights[1]')
        >>> truth = {"rate": jnp.array([2.0, 12.0]), "weights": jnp.array([0.7, 0.3])}
        >>> model.sample(jax.random.key(0), truth, (1000,)).shape
        (1000,)
        >>> r = model.responsibilities(truth, jnp.array([0.0, 7.0, 20.0]))  # P(component | y)
        >>> [round(float(v), 3) for v in r[:, 0]]
        [1.0, 0.155, 0.0]
    """

    needs_spread = False

    def __init__(self, family: Family, k: int = 2, *, order_by: str | None = None):
        if not isinstance(family, Family):
            raise TypeError(
                f"Mixture: expected a distribution family such as jm.Normal(), "
                f"got {type(family).__name__}"
            )
        if isinstance(k, bool) or int(k) != k or k < 2:
            raise ValueError(f"Mixture: k must be an integer >= 2, got {k!r}")
        k = int(k)
        if isinstance(family, Bernoulli):
            raise ValueError(
                "Mixture: a mixture of Bernoulli distributions is a Bernoulli distribution again; "
                "its components are not identifiable"
            )
        mixed = [name for name, spec in family.specs.items() if not spec.elementwise]
        if mixed:
            raise TypeError(
                f"Mixture: {family.name}'s parameter(s) {mixed} have constraints that mix "
                "coordinates; Mixture needs entry-wise constraints (Real, Positive, Interval)"
            )
        if "weights" in family.specs:
            raise ValueError(f"Mixture: {family.name} already has a parameter named 'weights'")
        order_by = next(iter(family.specs)) if order_by is None else order_by
        if order_by not in family.specs:
            raise ValueError(
                f"Mixture: order_by must name a parameter of {family.name} "
                f"({list(family.specs)}), got {order_by!r}"
            )
        self.order_by = order_by
        self.family = family
        self.k = k
        self.support_description = family.support_description
        self.observation_shape = family.observation_shape
        self.infinite_data_keys = family.infinite_data_keys
        self.discrete = bool(getattr(family, "discrete", False))
        specs = {name: _stacked(spec, k) for name, spec in family.specs.items()}
        specs["weights"] = Simplex(np.full(k, 1.0 / k))
        super().__init__(specs, name=f"Mixture({family.name}, k={k})")
        # Mixture(Normal(), 2) and Mixture(Normal(), k=2) are the same model (one compilation).
        self._built_from = freeze(((family, k), {"order_by": order_by}))

    # -- components ----------------------------------------------------------------------------
    def components(self, params: dict) -> dict:
        """The component parameters with the component axis first: ``{name: (k, ...)}``."""
        return {name: jnp.moveaxis(jnp.asarray(params[name]), -1, 0) for name in self.family.specs}

    def _component_terms(self, method, params: dict, data) -> jax.Array:
        """``method(theta_j, data)`` for every component, ``(k, n)``."""
        return jax.vmap(lambda p: method(p, data))(self.components(params))

    def _log_joint(self, params: dict, data, log_weights) -> jax.Array:
        """``log w_j + log f(x_i | theta_j)``, ``(k, n)``."""
        return log_weights[:, None] + self._component_terms(self.family.logpdf, params, data)

    def responsibilities(self, params: dict, data) -> jax.Array:
        """Posterior component probabilities ``r_ij = P(component j | x_i)``, ``(n, k)``."""
        log_joint = self._log_joint(params, data, jnp.log(params["weights"]))
        return jnp.exp(log_joint - logsumexp(log_joint, axis=0)).T

    def _sorted(self, params: dict) -> dict:
        """The components reordered by ``order_by``, ascending (stable for ties)."""
        first = jnp.reshape(params[self.order_by], (-1, self.k))[0]
        order = jnp.argsort(first)
        return {name: jnp.take(value, order, axis=-1) for name, value in params.items()}

    def relabel(self, u: jax.Array):
        """The solver's optimum with its components in order (``u'``), and ``A = du/du'``.

        Relabelling permutes the coordinates of the entry-wise parameters and maps the weights'
        additive log-ratios linearly (the reference component changes), so ``A`` is exact and
        constant near ``u``; a multi-start fit that ended in a relabelled copy of the optimum
        reports ``unconstrained`` and ``cov_unconstrained`` in the same order as ``params``.
        """
        params = Model.from_unconstrained(self, u)
        first = jnp.reshape(params[self.order_by], (-1, self.k))[0]
        order = jax.lax.stop_gradient(jnp.argsort(first))
        inverse = jnp.argsort(order)

        def permuted(v, perm):
            natural = Model.from_unconstrained(self, v)
            moved = {name: jnp.take(value, perm, axis=-1) for name, value in natural.items()}
            return Model.to_unconstrained(self, moved)

        return permuted(u, order), jax.jacfwd(lambda v: permuted(v, inverse))(permuted(u, order))

    def from_unconstrained(self, u: jax.Array) -> dict:
        """The constrained parameters, components ordered by ``order_by`` (ascending).

        The solver's own labelling may differ (the likelihood is symmetric in the components);
        the permutation is locally constant, so derivatives (the delta method, implicit
        differentiation) carry it along.
        """
        return self._sorted(super().from_unconstrained(u))

    # -- the distribution ------------------------------------------------------------------------
    def logpdf(self, params, data):
        log_joint = self._log_joint(params, data, jnp.log(params["weights"]))
        return logsumexp(log_joint, axis=0)

    def logcdf(self, params, x):
        log_w = jnp.log(params["weights"])[:, None]
        return logsumexp(log_w + self._component_terms(self.family.logcdf, params, x), axis=0)

    def logsf(self, params, x):
        log_w = jnp.log(params["weights"])[:, None]
        return logsumexp(log_w + self._component_terms(self.family.logsf, params, x), axis=0)

    def objective(self, u, problem: Problem):
        """The weighted negative log-likelihood, with ``log weights`` taken as a log-softmax of
        their coordinates (exact where a weight underflows), in the solver's labelling."""
        params = Model.from_unconstrained(self, u)
        free = u[self.n_free - (self.k - 1) :]  # the weights' additive log-ratios come last
        log_weights = jax.nn.log_softmax(jnp.concatenate([free, jnp.zeros((1,), u.dtype)]))
        terms = logsumexp(self._log_joint(params, problem.data, log_weights), axis=0)
        return -problem.total(terms)

    @property
    def can_simulate(self) -> bool:
        return self.family.can_simulate

    def sample(self, key, params, shape=()):
        """Draws of shape ``shape``: a component label from ``weights``, then a draw of it."""
        shape = tuple(shape)
        label_key, draw_key = jax.random.split(key)
        labels = jax.random.categorical(label_key, jnp.log(params["weights"]), shape=shape)
        keys = jax.random.split(draw_key, self.k)
        draws = jax.vmap(lambda kk, p: self.family.sample(kk, p, shape))(
            keys, self.components(params)
        )
        return _pick(draws, labels)

    def simulate(self, key, params, data):
        """One dataset in the layout of ``data`` (e.g. a binomial's trials kept per row)."""
        if not self.can_simulate:
            return Model.simulate(self, key, params, data)
        n = jax.tree_util.tree_leaves(data)[0].shape[0]
        label_key, draw_key = jax.random.split(key)
        labels = jax.random.categorical(label_key, jnp.log(params["weights"]), shape=(n,))
        keys = jax.random.split(draw_key, self.k)
        drawn = jax.vmap(lambda kk, p: self.family.simulate(kk, p, data))(
            keys, self.components(params)
        )
        return jax.tree_util.tree_map(lambda leaf: _pick(leaf, labels), drawn)

    # -- data --------------------------------------------------------------------------------
    def check_shapes(self, data) -> None:
        self.family.check_shapes(data)

    def in_support(self, x):
        return self.family.in_support(x)

    def valid_rows(self, data):
        return self.family.valid_rows(data)

    def validate_data(self, data) -> None:
        try:
            self.family.validate_data(data)
        except ValueError as err:
            raise ValueError(f"{self.name}: {err}") from None

    # -- start: EM ------------------------------------------------------------------------------
    def start(self, data, weights):
        """Deterministic EM start (module docstring), components sorted; no derivatives."""
        data = jax.tree_util.tree_map(jax.lax.stop_gradient, data)
        weights = jax.lax.stop_gradient(weights)
        included = weights > 0
        overall = self.family.init_params(Problem(data, weights))
        params = {
            name: jnp.broadcast_to(jnp.asarray(overall[name])[..., None], spec.shape)
            for name, spec in self.specs.items()
            if name != "weights"
        }
        params["weights"] = jnp.full((self.k,), 1.0 / self.k, weights.dtype)
        params = self._m_step(data, weights, _rank_partition(data, weights, self.k), params)
        tol = jnp.sqrt(jnp.finfo(weights.dtype).eps)

        def e_step(params):
            log_joint = self._log_joint(params, data, jnp.log(params["weights"]))
            terms = logsumexp(log_joint, axis=0)
            resp = jnp.where(included, jnp.exp(log_joint - terms), 0.0)
            return jnp.sum(jnp.where(included, weights * terms, 0.0)), resp

        def body(state):
            i, params, previous, best, best_ll, _ = state
            loglik, resp = e_step(params)
            better = loglik > best_ll
            best = jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b), params, best)
            best_ll = jnp.where(better, loglik, best_ll)
            done = ~(loglik - previous > tol * (1.0 + jnp.abs(loglik)))  # NaN stops too
            return i + 1, self._m_step(data, weights, resp, params), loglik, best, best_ll, done

        def pending(state):
            return (state[0] < EM_MAX_STEPS) & ~state[-1]

        minus_inf = jnp.asarray(-jnp.inf, weights.dtype)
        state = (jnp.asarray(0), params, minus_inf, params, minus_inf, jnp.asarray(False))
        best = jax.lax.while_loop(pending, body, state)[3]
        return self._sorted(best)

    def _m_step(self, data, weights, resp, previous: dict) -> dict:
        """Each component's weighted family start with weights ``w_i r_ij``; a component whose
        start is not finite (no data, a degenerate sample) keeps ``previous``."""
        component_weights = weights[None, :] * resp
        mass = jnp.sum(component_weights, axis=1)
        fitted = jax.vmap(lambda w: self.family.init_params(Problem(data, w)))(component_weights)
        free = jax.vmap(self.family.to_unconstrained)(fitted)
        ok = jnp.all(jnp.isfinite(free), axis=1) & (mass > 0)
        params = {
            name: jnp.where(ok, jnp.moveaxis(jnp.asarray(fitted[name]), 0, -1), previous[name])
            for name in self.family.specs
        }
        eps = jnp.finfo(weights.dtype).eps
        share = jnp.maximum(jnp.where(ok, mass, 0.0) / jnp.sum(mass), eps)
        params["weights"] = share / jnp.sum(share)
        return params

    # -- diagnosis -----------------------------------------------------------------------------
    def diagnose(self, params: dict, problem: Problem, status):
        """``BOUNDARY`` when a component is empty, collapsed onto tied values, or coincides with
        another one (module docstring)."""
        data, weights, included = problem.data, problem.effective_weights, problem.included
        boundary = jnp.any(problem.nobs * params["weights"] < MIN_COMPONENT_COUNT)
        log_density = self._component_terms(self.family.logpdf, params, data)  # (k, n)
        log_joint = jnp.log(params["weights"])[:, None] + log_density
        resp = jnp.where(included, jnp.exp(log_joint - logsumexp(log_joint, axis=0)), 0.0)
        key = jnp.where(included, _sort_key(data), 0.0)
        overall = _weighted_sd(key, weights)
        components = self.components(params)
        for j in range(self.k):
            share = weights * resp[j]
            if self.family.needs_spread:
                boundary |= _weighted_sd(key, share) < MIN_RELATIVE_SCALE * overall
            component = {name: value[j] for name, value in components.items()}
            family_status = self.family.diagnose(component, Problem(data, share), status)
            boundary |= family_status == Status.BOUNDARY
            for other in range(j):
                gap = jnp.where(included, jnp.abs(log_density[j] - log_density[other]), 0.0)
                boundary |= jnp.max(gap) <= MERGED_LOG_DENSITY  # NaN: not merged
        return jnp.where(boundary, Status.BOUNDARY, status).astype(status.dtype)


def _weighted_sd(x: jax.Array, weights: jax.Array) -> jax.Array:
    """Weighted standard deviation (divisor ``sum w``); NaN when the weights sum to 0."""
    return jnp.sqrt(weighted_var(x, weights, weighted_mean(x, weights)))


def _pick(stacked: jax.Array, labels: jax.Array) -> jax.Array:
    """``stacked[labels[i], i, ...]``: per row, the draw of its component (axis 0)."""
    index = jnp.reshape(labels, (1,) + labels.shape + (1,) * (stacked.ndim - 1 - labels.ndim))
    return jnp.take_along_axis(stacked, index, axis=0)[0]


def _sort_key(data) -> jax.Array:
    """One number per observation to order them by: ``x`` (its first coordinate for vector
    data), ``y / trials`` for binomial data, else the first leaf."""
    if isinstance(data, dict):
        if "x" in data:
            leaf = data["x"]
        elif "y" in data and "trials" in data:
            trials = data["trials"]
            leaf = data["y"] / jnp.where(trials > 0, trials, 1.0)
        elif "y" in data:
            leaf = data["y"]
        else:
            leaf = jax.tree_util.tree_leaves(data)[0]
    else:
        leaf = data
    leaf = jnp.asarray(leaf)
    return jnp.reshape(leaf, (leaf.shape[0], -1))[:, 0].astype(jnp.result_type(leaf, float))


def _rank_partition(data, weights: jax.Array, k: int) -> jax.Array:
    """Hard responsibilities ``(k, n)``: the observations sorted by :func:`_sort_key` and cut into
    ``k`` groups of equal total weight (an observation goes to the group holding the midpoint of
    its weight)."""
    order = jnp.argsort(_sort_key(data))
    sorted_weights = weights[order]
    cumulative = jnp.cumsum(sorted_weights)
    middle = (cumulative - 0.5 * sorted_weights) / cumulative[-1]
    groups = jnp.clip(jnp.floor(middle * k), 0, k - 1).astype(jnp.int32)
    groups = jnp.zeros_like(groups).at[order].set(groups)
    return jax.nn.one_hot(groups, k, dtype=weights.dtype).T
