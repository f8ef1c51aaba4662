"""`FitResult`: estimates, covariance, diagnostics and the statsmodels-like summary.

A ``FitResult`` is a registered pytree, so it passes through ``jit`` and ``vmap``; a batched result
(from ``jax.vmap(fit)`` or :func:`~jaxmle.fit_many`) has a leading batch axis on every array and
``res[i]`` picks one fit.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> x = jax.random.exponential(jax.random.key(0), (100,)) / 2.0
    >>> model = jm.Model(lambda p, x: jnp.log(p["rate"]) - p["rate"] * x, {"rate": jm.Positive()})
    >>> res = jm.fit(model, x)
    >>> bool(res.converged), res.param_names
    (True, ('rate',))
"""

from __future__ import annotations

import dataclasses
import math
from statistics import NormalDist

import jax
import jax.numpy as jnp
import numpy as np

from ._status import Status

__all__ = ["FitResult"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FitResult:
    """The result of one fit, or of a batch of fits (leading batch axis on every array).

    Attributes:
        params: dict of estimates on the natural (constrained) scale.
        se: dict of standard errors, shaped like ``params``.
        cov: ``(k, k)`` covariance of the flattened estimates, in ``param_names`` order.
        unconstrained: the estimate on the solver's unconstrained scale, ``(k_free,)``.
        cov_unconstrained: its covariance, ``(k_free, k_free)``.
        loglik: maximised log-likelihood (weighted; padding excluded); for a penalised or MAP
            fit, the log-likelihood at the penalised estimate.
        log_penalty: the log-penalty (log prior) at the estimate; 0 for maximum likelihood.
        nobs: number of observations (sum of frequency weights).
        status: :class:`~jaxmle.Status` code, as an int32 array.
        n_iter: solver iterations used.
        grad_norm: ``max |grad|`` of the log-likelihood at the estimate (unconstrained scale).
        n_best: number of starting points that reached the reported optimum (``fit(...,
            n_starts=k)``); for a single start, 1 when it converged and 0 otherwise.
        model: the fitted :class:`~jaxmle.Model` (static).
        cov_type: how ``cov`` was computed (static).
        names: display names for the flattened parameters (static).
        messages: for a batch from ``fit_many(..., errors="status")``, why each dataset was
            refused (``messages[i]`` is ``""`` for a fitted one); ``None`` otherwise (static).
    """

    params: dict
    se: dict
    cov: jax.Array
    unconstrained: jax.Array
    cov_unconstrained: jax.Array
    loglik: jax.Array
    log_penalty: jax.Array
    nobs: jax.Array
    status: jax.Array
    n_iter: jax.Array
    grad_norm: jax.Array
    n_best: jax.Array
    model: object = dataclasses.field(metadata=dict(static=True))
    cov_type: str = dataclasses.field(default="observed", metadata=dict(static=True))
    names: tuple | None = dataclasses.field(default=None, metadata=dict(static=True))
    messages: Messages | None = dataclasses.field(default=None, metadata=dict(static=True))

    # -- shape of a batch ------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """``()`` for a single fit, ``(B,)`` for a batch."""
        return tuple(jnp.shape(self.loglik))

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of a single (unbatched) FitResult")
        return self.batch_shape[0]

    def __getitem__(self, index) -> FitResult:
        if not self.batch_shape:
            raise TypeError("indexing a single (unbatched) FitResult; only batches can be indexed")
        picked = jax.tree_util.tree_map(lambda leaf: leaf[index], self)
        return dataclasses.replace(picked, messages=None) if self.messages else picked

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # -- derived statistics ----------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the flattened parameters (the order of ``cov``)."""
        return self.names if self.names is not None else self.model.param_names

    @property
    def df_model(self) -> int:
        """Number of free parameters (a Simplex of K entries counts K - 1)."""
        return self.model.n_free

    @property
    def is_map(self) -> bool:
        """True for a penalised (Firth, ridge) or MAP (``prior=``) fit."""
        return bool(getattr(self.model, "is_penalized", False))

    @property
    def penalized_loglik(self) -> jax.Array:
        """The maximised objective ``loglik + log_penalty`` (``loglik`` for plain ML)."""
        return self.loglik + self.log_penalty

    @property
    def converged(self) -> jax.Array:
        return self.status == Status.CONVERGED

    @property
    def status_name(self):
        """Status as text (an array of strings for a batch)."""
        names = np.vectorize(lambda code: Status(int(code)).label)
        out = names(np.asarray(self.status))
        return str(out) if out.ndim == 0 else out

    @property
    def aic(self) -> jax.Array:
        return -2.0 * self.loglik + 2.0 * self.df_model

    @property
    def bic(self) -> jax.Array:
        return -2.0 * self.loglik + self.df_model * jnp.log(self.nobs)

    @property
    def aicc(self) -> jax.Array:
        """AIC with the small-sample correction ``2k(k+1)/(n-k-1)`` (NaN when ``n <= k+1``)."""
        k = self.df_model
        denom = self.nobs - k - 1.0
        return self.aic + jnp.where(denom > 0, 2.0 * k * (k + 1) / denom, jnp.nan)

    @property
    def zvalues(self) -> dict:
        """Wald z statistics ``estimate / se`` (against zero)."""
        return jax.tree_util.tree_map(lambda p, s: p / s, self.params, self.se)

    @property
    def pvalues(self) -> dict:
        """Two-sided normal p-values of the Wald z statistics."""
        return jax.tree_util.tree_map(
            lambda z: 2.0 * jax.scipy.special.ndtr(-jnp.abs(z)), self.zvalues
        )

    def conf_int(self, level: float = 0.95, method: str = "wald"):
        """Confidence intervals as ``(lower, upper)`` dicts shaped like ``params``.

        Args:
            level: coverage, e.g. 0.95.
            method: ``"wald"`` gives ``estimate +- z * se`` on the natural scale (statsmodels'
                intervals). ``"transformed"`` builds the Wald interval on the unconstrained scale
                and maps it through each parameter's bijection, so it always respects the
                constraint (e.g. positive for ``Positive``) and is usually closer to the profile
                interval for scale parameters; parameters whose bijection is not entry-wise
                (Simplex, Ordered, PositiveDefinite) fall back to ``"wald"``.
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if method not in ("wald", "transformed"):
            raise ValueError(f"method must be 'wald' or 'transformed', got {method!r}")
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        lower = jax.tree_util.tree_map(lambda p, s: p - z * s, self.params, self.se)
        upper = jax.tree_util.tree_map(lambda p, s: p + z * s, self.params, self.se)
        if method == "transformed":
            self._transform_interval(z, lower, upper)
        return lower, upper

    def _transform_interval(self, z: float, lower: dict, upper: dict) -> None:
        """Replace entry-wise parameters' Wald bounds by the mapped unconstrained-scale ones."""
        se_u = jnp.sqrt(jnp.diagonal(self.cov_unconstrained, axis1=-2, axis2=-1))
        start = 0
        for key, spec in self.model.specs.items():
            stop = start + spec.unconstrained_size
            if spec.elementwise:
                u, s = self.unconstrained[..., start:stop], se_u[..., start:stop]
                shape = self.batch_shape + spec.shape
                lower[key] = jnp.reshape(_batched(spec.forward, u - z * s), shape)
                upper[key] = jnp.reshape(_batched(spec.forward, u + z * s), shape)
            start = stop

    # -- presentation ----------------------------------------------------------------------------
    def summary(self, level: float = 0.95, names=None) -> str:
        """A statsmodels-like coefficient table for one fit (index a batch first)."""
        if self.batch_shape:
            raise TypeError(
                f"summary() needs a single fit; this result holds {self.batch_shape} fits: "
                "use res[i].summary()"
            )
        return _format_summary(self, level, names)

    def to_dataframe(self):
        """One row per fit (or per batch element) with estimates, SEs and diagnostics.

        Needs pandas (optional dependency).
        """
        try:
            import pandas as pd
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("FitResult.to_dataframe() needs pandas: pip install pandas") from err
        flat = np.atleast_2d(np.asarray(flatten_batched(self.model, self.params)))
        flat_se = np.atleast_2d(np.asarray(flatten_batched(self.model, self.se)))
        columns = {}
        for j, name in enumerate(self.param_names):
            columns[name] = flat[:, j]
            columns[f"se({name})"] = flat_se[:, j]
        for key in ("loglik", "nobs", "n_iter", "grad_norm"):
            columns[key] = np.atleast_1d(np.asarray(getattr(self, key)))
        columns["aic"] = np.atleast_1d(np.asarray(self.aic))
        columns["converged"] = np.atleast_1d(np.asarray(self.converged))
        columns["status"] = np.atleast_1d(self.status_name)
        return pd.DataFrame(columns)


class Messages:
    """Why datasets of a batch were refused: ``messages[i]`` is the message of dataset ``i``, or
    ``""`` when it was fitted. Hashable (a static part of a :class:`FitResult`).

    Examples:
        >>> m = Messages({1: "dataset 1: data contains NaN"}, 3)
        >>> [m[i] for i in range(3)], len(m), m.refused
        (['', 'dataset 1: data contains NaN', ''], 3, (1,))
    """

    def __init__(self, refused: dict[int, str], size: int):
        self._refused = dict(sorted(refused.items()))
        self._size = int(size)

    @property
    def refused(self) -> tuple[int, ...]:
        """Indices of the refused datasets."""
        return tuple(self._refused)

    def __getitem__(self, index: int) -> str:
        index = range(self._size)[index]  # negative indices and bounds, as for a list
        return self._refused.get(index, "")

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(self._size))

    def __bool__(self) -> bool:
        return bool(self._refused)

    def __eq__(self, other) -> bool:
        return isinstance(other, Messages) and (other._refused, other._size) == (
            self._refused,
            self._size,
        )

    def __hash__(self) -> int:
        return hash((tuple(self._refused.items()), self._size))

    def __repr__(self) -> str:
        return f"Messages({len(self._refused)} of {self._size} refused)"


def _batched(fn, u):
    """Apply a function of one flat vector over any leading batch axes."""
    lead = u.shape[:-1]
    flat = jnp.reshape(u, (-1, u.shape[-1]))
    out = jax.vmap(fn)(flat)
    return jnp.reshape(out, lead + out.shape[1:])


def flatten_batched(model, tree):
    """Flatten a params-shaped dict with any leading batch axes to ``(..., n_params)``."""
    parts = []
    for key, spec in model.specs.items():
        leaf = jnp.asarray(tree[key])
        lead = leaf.shape[: leaf.ndim - len(spec.shape)]
        parts.append(jnp.reshape(leaf, lead + (spec.size,)))
    return jnp.concatenate(parts, axis=-1)


def _format_summary(res: FitResult, level: float, names) -> str:
    names = list(names) if names is not None else list(res.param_names)
    if len(names) != len(res.param_names):
        raise ValueError(f"names: expected {len(res.param_names)} names, got {len(names)}")
    est = np.asarray(res.model.flatten(res.params))
    se = np.asarray(res.model.flatten(res.se))
    z = est / se
    p = np.asarray(2.0 * jax.scipy.special.ndtr(-jnp.abs(jnp.asarray(z))))
    lower, upper = res.conf_int(level)
    lo, hi = np.asarray(res.model.flatten(lower)), np.asarray(res.model.flatten(upper))
    tail = (1.0 - level) / 2.0
    width = 78
    status = Status(int(res.status))
    rows = [
        ("Model:", res.model.name[:23], "Log-likelihood:", f"{float(res.loglik):.6g}"),
        ("No. observations:", _fmt_count(float(res.nobs)), "AIC:", f"{float(res.aic):.6g}"),
        ("Df model:", str(res.df_model), "BIC:", f"{float(res.bic):.6g}"),
        ("Status:", status.label, "Iterations:", str(int(res.n_iter))),
        ("Covariance:", res.cov_type, "Max |grad|:", f"{float(res.grad_norm):.3g}"),
    ]
    if res.is_map:
        rows.append(
            ("Penalised:", "yes (MAP)", "Penalised LL:", f"{float(res.penalized_loglik):.6g}")
        )
    lines = [f"{'jaxmle maximum-likelihood fit':^{width}}", "=" * width]
    lines += [f"{a:<18}{b:<24}{c:<16}{d:>20}" for a, b, c, d in rows]
    lines.append("=" * width)
    name_width = max(12, *(len(n) + 1 for n in names))
    header = (
        f"{'':<{name_width}}{'coef':>11}{'std err':>11}{'z':>9}{'P>|z|':>9}"
        f"{f'[{tail:.3g}':>12}{f'{1 - tail:.3g}]':>12}"
    )
    lines += [header, "-" * max(width, len(header))]
    for j, name in enumerate(names):
        lines.append(
            f"{name:<{name_width}}{_num(est[j]):>11}{_num(se[j]):>11}{z[j]:>9.3f}{p[j]:>9.3f}"
            f"{_num(lo[j]):>12}{_num(hi[j]):>12}"
        )
    lines.append("=" * max(width, len(header)))
    if status != Status.CONVERGED:
        lines.append(f"Warning: the fit did not converge ({status.label}); do not trust these.")
    return "\n".join(lines)


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.4f}" if 1e-3 <= abs(x) < 1e5 or x == 0 else f"{x:.3e}"


def _fmt_count(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:.6g}"
