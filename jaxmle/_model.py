"""`Model`: a per-observation log-likelihood plus named, constrained parameters.

A model is the pair ``(logpdf, params)``: ``logpdf(params, data) -> (n,)`` gives each observation's
log-likelihood contribution, and ``params`` maps names to :mod:`parameter specs
<jaxmle._constraints>`. The fitted objective is the weighted negative log-likelihood on the
unconstrained scale,

    f(u) = - sum_i w_i * logpdf(T(u), data)_i,

where ``T`` applies each parameter's bijection and ``w`` are frequency weights (0 for padding).
Every method that evaluates it takes the dataset as one explicit :class:`~jaxmle._problem.Problem`
argument ``(data, weights, groups)``.

Examples:
    >>> import jax.numpy as jnp
    >>> import jax.scipy.stats as jss
    >>> import jaxmle as jm
    >>> normal = jm.Model(
    ...     lambda p, x: jss.norm.logpdf(x, p["loc"], p["scale"]),
    ...     params={"loc": jm.Real(0.0), "scale": jm.Positive(1.0)},
    ... )
    >>> normal.param_names
    ('loc', 'scale')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ._arrays import namespace
from ._constraints import ParamSpec
from ._identity import ValueIdentity, freeze
from ._problem import Problem

__all__ = ["Model"]


def flat_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Names of a parameter's flattened entries: ``sigma``, ``beta[0]``, ``cov[0,1]``."""
    if shape == ():
        return [name]
    return [f"{name}[{','.join(map(str, idx))}]" for idx in np.ndindex(*shape)]


class Model(ValueIdentity):
    """A likelihood model: per-observation log-density and parameter specifications.

    Args:
        logpdf: ``logpdf(params, data) -> (n,)`` with ``params`` a dict of constrained values
            keyed like ``params`` below and ``data`` any pytree whose leaves share the leading
            observation axis. Must be written with ``jax.numpy`` so it can be differentiated.
        params: ordered mapping from parameter name to a spec (:class:`~jaxmle.Real`,
            :class:`~jaxmle.Positive`, ...), each carrying the default starting value.
        name: label used in summaries (defaults to ``"Model"``).
        validate: optional ``validate(data)`` called on eager (non-traced) inputs; it should
            raise ``ValueError`` for data outside the model's support.
        init: optional ``init(data, weights) -> dict`` giving data-driven starting values
            (constrained scale, any subset of the parameters). Must be traceable.

    Subclasses (the built-in families and regressions) pass ``logpdf=None`` and override
    :meth:`logpdf`, :meth:`init_params`, :meth:`validate_data` and, where they know it,
    :meth:`objective_derivatives`.

    Models built alike compare equal (``jm.Logit() == jm.Logit()``), so a fresh instance per call
    reuses the compiled fit; a user's own subclass compares by identity.
    """

    def __new__(cls, *args, **kwargs):
        model = super().__new__(cls)
        # What the model was built from: with its sizing (specs, names) below, its identity.
        model._built_from = freeze((args, dict(sorted(kwargs.items()))))
        return model

    def _state_refs(self) -> tuple:
        state = vars(self)
        return (state.get("specs"), state.get("param_names"), state.get("name"))

    def _identity(self):
        state = vars(self)
        return (
            state["_built_from"],
            state.get("name"),
            state.get("param_names"),
            freeze(state.get("specs")),
        )

    #: Top-level data keys whose values may be +-inf (e.g. censoring bounds); NaN is never valid.
    infinite_data_keys: tuple[str, ...] = ()

    def __init__(
        self,
        logpdf: Callable | None,
        params: Mapping[str, ParamSpec],
        *,
        name: str | None = None,
        validate: Callable | None = None,
        init: Callable | None = None,
    ):
        if logpdf is None and type(self).logpdf is Model.logpdf:
            raise TypeError("Model needs logpdf(params, data) -> (n,) log-likelihood contributions")
        if logpdf is not None and not callable(logpdf):
            raise TypeError(f"logpdf must be callable (params, data) -> (n,), got {logpdf!r}")
        if not params:
            raise ValueError("Model needs at least one parameter")
        for key, spec in params.items():
            if not isinstance(spec, ParamSpec):
                raise TypeError(
                    f"parameter {key!r}: expected a spec such as jm.Real(0.0) or jm.Positive(1.0),"
                    f" got {type(spec).__name__}"
                )
        self._logpdf = logpdf
        self.specs: dict[str, ParamSpec] = dict(params)
        self.name = name or type(self).__name__
        self._validate = validate
        self._init = init
        self.param_names: tuple[str, ...] = tuple(
            n for key, spec in self.specs.items() for n in flat_names(key, spec.shape)
        )
        self.n_params = sum(spec.size for spec in self.specs.values())
        self.n_free = sum(spec.unconstrained_size for spec in self.specs.values())

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(self.specs)})"

    def bind(self, data) -> Model:
        """The model to fit to ``data`` (called on the raw data before it becomes arrays).

        Models whose parameter shapes depend on the data (a regression's ``beta`` has one entry per
        column of ``X``) return a sized copy, taking e.g. column names from a pandas DataFrame.
        The default returns ``self``.
        """
        return self

    # -- the likelihood -------------------------------------------------------------------------
    def logpdf(self, params: dict, data) -> jax.Array:
        """Per-observation log-likelihood contributions, shape ``(n,)``."""
        return self._logpdf(params, data)

    def check_shapes(self, data) -> None:
        """Raise ``ValueError`` when the structure or the shapes of ``data`` break the model's
        contract. Shapes are static, so this runs at trace time: under ``jit`` and ``vmap`` too.

        The base rule: every leaf has the same leading (observation) axis. Families add the shape
        of one observation, regressions the layout ``{"X": (n, p), "y": (n,), ...}``; the output
        of :meth:`logpdf` is checked against ``(n,)`` by :func:`check_logpdf_shape`.
        """
        check_leading_axes(self.name, data)

    #: Whether :meth:`simulate` can draw a dataset (the parametric bootstrap's default).
    can_simulate: bool = False

    def simulate(self, key: jax.Array, params: dict, data):
        """One dataset drawn from the model at natural-scale ``params``, in the layout and with
        the design of ``data`` (its size, and e.g. a binomial's trials). Models that can (see
        :attr:`can_simulate`) override this."""
        raise NotImplementedError(
            f"{self.name} cannot simulate data; pass simulate=lambda key, params: <one dataset>"
        )

    def valid_rows(self, data):
        """``(n,)`` booleans: which rows lie inside the model's support. One rule for both paths:
        with numpy ``data`` (eager checks) it returns numpy, with JAX arrays (inside ``jit``) JAX
        arrays, and a fit whose included rows are not all valid gets ``Status.INVALID_DATA``.

        The base rule: no NaN, and no infinity outside :attr:`infinite_data_keys`. Subclasses
        add their support (``rows & super().valid_rows(data)``).
        """
        rows = None
        for path, leaf in jax.tree_util.tree_flatten_with_path(data)[0]:
            xp = namespace(leaf)
            top_key = getattr(path[0], "key", None) if path else None
            may_be_infinite = top_key in self.infinite_data_keys
            ok = ~xp.isnan(leaf) if may_be_infinite else xp.isfinite(leaf)
            ok = _rows_all(xp.reshape(ok, (ok.shape[0], -1)), xp)
            rows = ok if rows is None else rows & ok
        return rows

    def validate_data(self, data) -> None:
        """Raise ``ValueError`` if concrete ``data`` lies outside the support (eager calls only)."""
        if self._validate is not None:
            self._validate(data)

    def init_params(self, problem: Problem) -> dict:
        """Starting values on the constrained scale (traceable). Defaults to the specs' inits,
        updated by the ``init(data, weights)`` given at construction."""
        start = {key: jnp.asarray(spec.init) for key, spec in self.specs.items()}
        if self._init is not None:
            start.update(self._init(problem.data, problem.effective_weights))
        return start

    # -- between the params dict and flat vectors ------------------------------------------------
    def to_unconstrained(self, params: Mapping) -> jax.Array:
        """Flat unconstrained vector ``u`` (length ``n_free``) from a dict of constrained values."""
        parts = [
            spec.inverse(jnp.reshape(jnp.asarray(params[key]), spec.shape))
            for key, spec in self.specs.items()
        ]
        return jnp.concatenate([jnp.atleast_1d(p) for p in parts])

    def from_unconstrained(self, u: jax.Array) -> dict:
        """Dict of constrained values from the flat unconstrained vector ``u``."""
        out, start = {}, 0
        for key, spec in self.specs.items():
            stop = start + spec.unconstrained_size
            out[key] = spec.forward(u[start:stop])
            start = stop
        return out

    def flatten(self, params: Mapping) -> jax.Array:
        """Flat constrained vector (length ``n_params``, order ``param_names``)."""
        return jnp.concatenate([jnp.reshape(params[key], (-1,)) for key in self.specs])

    def unflatten(self, flat: jax.Array) -> dict:
        """Inverse of :meth:`flatten`: split a flat constrained vector into the params dict."""
        out, start = {}, 0
        for key, spec in self.specs.items():
            out[key] = jnp.reshape(flat[start : start + spec.size], spec.shape)
            start += spec.size
        return out

    # -- the objective the solvers minimise ------------------------------------------------------
    def objective(self, u: jax.Array, problem: Problem) -> jax.Array:
        """Weighted negative log-likelihood ``f(u) = -sum_i w_i logpdf(T(u), data)_i``.

        Rows with zero weight (padding) contribute exactly zero, even where their log-density is
        ``-inf``.
        """
        return -problem.total(self.logpdf(self.from_unconstrained(u), problem.data))

    def objective_derivatives(self, u: jax.Array, problem: Problem):
        """``(f, grad f, hess f)`` at ``u`` by forward-over-reverse autodiff.

        Models with known structure override this with analytic derivatives.
        """

        def grad_with_aux(v):
            value, grad = jax.value_and_grad(self.objective)(v, problem)
            return grad, (value, grad)

        hess, (value, grad) = jax.jacfwd(grad_with_aux, has_aux=True)(u)
        return value, grad, hess

    def expected_information(self, u: jax.Array, problem: Problem):
        """Fisher (expected) information of ``f`` on the unconstrained scale, ``(k, k)``.

        ``None`` means the model does not supply it; families and GLMs override this.
        """
        return None

    def relabel(self, u: jax.Array):
        """``(u', A)``: the canonical copy ``u'`` of an optimum that the likelihood cannot tell from
        others (a mixture's components in order) and ``A = du/du'``, or ``(u, None)`` for a model
        without such symmetry (the default)."""
        return u, None

    def log_penalty(self, u: jax.Array, problem: Problem) -> jax.Array:
        """Log-penalty (log prior) added to the log-likelihood at ``u``; 0 for plain maximum
        likelihood (see :mod:`jaxmle._penalized`)."""
        return jnp.zeros((), u.dtype)

    def covariance_hessian(self, u: jax.Array, problem: Problem, hessian: jax.Array) -> jax.Array:
        """The matrix inverted for ``cov_type="observed"``: the solver's Hessian ``hessian``,
        except where a penalty's curvature is not information (Firth)."""
        return hessian

    def diagnose(self, params: dict, problem: Problem, status: jax.Array) -> jax.Array:
        """Refine a fit's status code after solving (e.g. separation); default: unchanged."""
        return status

    def diagnose_screened(self, params: dict, problem: Problem, status: jax.Array):
        """``(status, suspect)``: :meth:`diagnose` without its expensive part, and whether that
        part could still change this fit's status. Batches (:func:`~jaxmle.fit_many`) compile
        and run the full :meth:`diagnose` only for the suspect fits. Default: all of
        :meth:`diagnose`, nothing left for later."""
        return self.diagnose(params, problem, status), jnp.asarray(False)


def _rows_all(ok, xp):
    """``ok.all(axis=1)``; with numpy, one contiguous pass when every entry is True (the common
    case: a reduction along a short second axis is several times slower)."""
    if xp is np and ok.all():
        return np.ones(ok.shape[0], bool)
    return ok.all(axis=1)


def check_leading_axes(name: str, data) -> int:
    """The number of observations ``n``: every leaf of ``data`` must have the leading axis ``n``
    (raises ``ValueError`` naming the leaves otherwise)."""
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    if not leaves:
        raise ValueError(f"{name}: data is empty: it must hold at least one array")
    lengths = {}
    for path, leaf in leaves:
        label = "data" + jax.tree_util.keystr(path)
        if jnp.ndim(leaf) == 0:
            raise ValueError(
                f"{name}: {label} is a scalar; every leaf needs a leading observation axis"
            )
        lengths[label] = jnp.shape(leaf)[0]
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{name}: data leaves disagree on the number of observations (leading axis): "
            + ", ".join(f"{k} has {v}" for k, v in lengths.items())
        )
    return next(iter(lengths.values()))


def check_logpdf_shape(model: Model, params: dict, data) -> None:
    """``model.logpdf(params, data)`` must have shape ``(n,)``: one log-likelihood contribution per
    observation (checked abstractly, at trace time)."""
    n = check_leading_axes(model.name, data)
    try:
        shape = jax.eval_shape(model.logpdf, params, data).shape
    except (TypeError, ValueError, KeyError, IndexError) as err:
        structure = jax.tree_util.tree_structure(data)
        kind = TypeError if isinstance(err, TypeError) else ValueError  # not a bare KeyError
        raise kind(
            f"{model.name}: logpdf(params, data) failed on data with structure {structure} and "
            f"params {sorted(params)}: {type(err).__name__}: {err}"
        ) from err
    if shape == (n,):
        return
    hint = ""
    if shape == ():
        hint = " (a sum over the observations? return the per-observation terms instead)"
    elif shape[:1] == (n,) and len(shape) > 1:
        hint = " (data with a trailing axis, such as an (n, 1) column? pass a 1-D array)"
    raise ValueError(
        f"{model.name}: logpdf(params, data) must return one log-likelihood contribution per "
        f"observation, shape ({n},); it returned shape {shape}{hint}"
    )
