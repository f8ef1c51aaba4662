"""`MultinomialLogit`: K-class logistic regression with the first class as reference.

With ``beta`` of shape ``(p, K - 1)`` and ``eta_i = [0, x_i' beta]`` (length K),
``P(y_i = k) = softmax(eta_i)_k`` and ``l_i = eta_{i, y_i} - logsumexp(eta_i)``. The link is
canonical, so the observed and expected information coincide; over ``beta`` flattened row-major
(entry ``(j, a)`` at ``j (K - 1) + a``) its ``(a, b)`` class block is

    H_ab = X' diag(w * (delta_ab p_a - p_a p_b)) X,

one weighted Gram product per block.

Examples:
    >>> import jax, jax.numpy as jnp
    >>> import jaxmle as jm
    >>> X = jnp.stack([jnp.ones(9), jnp.arange(9.0)], axis=1)
    >>> y = jnp.array([0, 1, 0, 2, 1, 0, 2, 2, 1])
    >>> res = jm.fit(jm.MultinomialLogit(n_classes=3), {"X": X, "y": y})
    >>> res.params["beta"].shape
    (2, 2)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._arrays import namespace
from .._constraints import Real
from .._linalg import weighted_gram
from .._problem import Problem
from .._status import Status
from ._base import RegressionModel, response_error
from ._separation import multinomial_separation

__all__ = ["MultinomialLogit"]


class MultinomialLogit(RegressionModel):
    """Multinomial logit for labels ``y in {0, ..., K - 1}``; parameter ``beta`` of shape
    ``(p, K - 1)`` (column ``a`` compares class ``a + 1`` with class 0), as statsmodels' MNLogit.

    Args:
        n_classes: the number of classes ``K >= 2``.
        n_features: number of columns of ``X`` (else taken from the data).
        names: column names of ``X`` for ``summary()`` (shown as ``name[y=k]``).

    Examples:
        >>> import jaxmle as jm
        >>> jm.MultinomialLogit(n_classes=3, names=["const", "x"]).param_names
        ('const[y=1]', 'const[y=2]', 'x[y=1]', 'x[y=2]')
    """

    data_keys = ()

    def __init__(self, n_classes: int, *, n_features=None, names=None):
        if int(n_classes) != n_classes or n_classes < 2:
            raise ValueError(
                f"MultinomialLogit: n_classes must be an integer >= 2, got {n_classes}"
            )
        self.n_classes = int(n_classes)
        super().__init__(n_features=n_features, names=names)

    @property
    def beta_width(self) -> int:
        return self.n_classes - 1

    def param_specs(self, p: int) -> dict:
        return {"beta": Real(np.zeros((p, self.n_classes - 1)))}

    def coefficient_names(self) -> list[str]:
        return [f"{n}[y={k}]" for n in self.feature_names for k in range(1, self.n_classes)]

    def __repr__(self) -> str:
        return f"MultinomialLogit(n_classes={self.n_classes}, n_features={self.n_features})"

    # -- likelihood and derivatives ----------------------------------------------------------------
    def _eta(self, beta, X):
        eta = X @ beta
        return jnp.concatenate([jnp.zeros_like(eta[:, :1]), eta], axis=1)

    def logpdf(self, params, data):
        eta = self._eta(params["beta"], data["X"])
        labels = data["y"].astype(jnp.int32)
        chosen = jnp.take_along_axis(eta, labels[:, None], axis=1)[:, 0]
        return chosen - jax.nn.logsumexp(eta, axis=1)

    def _information(self, probs, X, w):
        q = probs[:, 1:]
        k = self.n_classes - 1
        block_weights = w[:, None, None] * (
            jnp.eye(k) * q[:, :, None] - q[:, :, None] * q[:, None, :]
        )
        flat = jnp.moveaxis(block_weights.reshape(-1, k * k), 0, 1)  # (k*k, n)
        blocks = jax.vmap(weighted_gram, in_axes=(None, 0))(X, flat).reshape(k, k, *X.shape[1:] * 2)
        p = X.shape[1]
        return jnp.transpose(blocks, (2, 0, 3, 1)).reshape(p * k, p * k)

    def objective_derivatives(self, u, problem: Problem):
        X = problem.data["X"]
        beta = self.from_unconstrained(u)["beta"]
        eta = self._eta(beta, X)
        labels = problem.data["y"].astype(jnp.int32)
        log_probs = jax.nn.log_softmax(eta, axis=1)
        w = problem.effective_weights
        chosen = jnp.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]
        f = -problem.total(chosen)
        probs = jnp.exp(log_probs)
        resid = jax.nn.one_hot(labels, self.n_classes, dtype=X.dtype) - probs
        g = -(X.T @ (w[:, None] * resid[:, 1:])).reshape(-1)
        return f, g, self._information(probs, X, w)

    def expected_information(self, u, problem: Problem):
        return self.objective_derivatives(u, problem)[2]

    # -- simulation --------------------------------------------------------------------------------
    can_simulate = True

    def simulate(self, key, params, data):
        """``{"X", "y"}``: the template's ``X`` and labels ``y_i ~ softmax([0, x_i' beta])``
        drawn from the model at ``params`` (floating class codes ``0..K-1``, the dtype of
        ``X beta``)."""
        eta = self._eta(params["beta"], data["X"])
        return {**data, "y": jax.random.categorical(key, eta, axis=1).astype(eta.dtype)}

    # -- support and separation --------------------------------------------------------------------
    def valid_response(self, data):
        y = data["y"]
        xp = namespace(y)
        return xp.isfinite(y) & (y == xp.round(y)) & (y >= 0) & (y < self.n_classes)

    def validate_response(self, data) -> None:
        y = np.asarray(data["y"], dtype=float)
        bad = ~self.valid_response({"y": y})
        if np.any(bad):
            raise response_error(
                self.name,
                y,
                bad,
                f"integer class labels in 0..{self.n_classes - 1} (n_classes={self.n_classes})",
            )

    def _separation(self, params, problem):
        info = self.objective_derivatives(self.to_unconstrained(params), problem)[2]
        return multinomial_separation(params["beta"], info, problem)

    def diagnose(self, params, problem: Problem, status):
        separated = self._separation(params, problem)[0]
        return jnp.where(separated, Status.SEPARATION, status)

    def separated_coefficients(self, res, data, weights=None):
        """Boolean mask shaped like ``beta``: coefficients that diverge (the MLE does not exist)."""
        return self._separation(res.params, Problem.build(dict(data), weights))[1]
