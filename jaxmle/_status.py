"""Per-fit result codes. Inside ``jit`` nothing raises: every fit carries one of these."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Why a fit stopped. ``CONVERGED`` is the only code with ``converged=True``.

    Attributes:
        CONVERGED: the scaled gradient (Newton decrement) fell below ``tol``, or the solver reached
            the floating-point noise floor of a well-curved optimum.
        MAX_STEPS: ``max_steps`` iterations ran out first.
        NONFINITE: the log-likelihood or its gradient was NaN/inf at the start or at every
            trial point (e.g. an overflowing log-likelihood).
        SINGULAR_HESSIAN: the optimum was found but the observed information is not positive
            definite, so standard errors are NaN (e.g. a non-identified parameter); also when
            the requested sandwich covariance is undefined (``cov_type="cluster"`` with one
            cluster, ``"HC1"``/``"cluster"`` with no more observations than parameters).
        SEPARATION: the MLE does not exist because of (quasi-)complete separation or an empty
            category; affected estimates diverge.
        BOUNDARY: the estimate sits on the boundary of the parameter space.
        STALLED: the damped steps collapsed without reaching a curved optimum.
        INVALID_DATA: the data or weights lie outside the model's support (a value the eager
            checks would refuse, seen inside ``jit``, or a dataset refused by
            ``fit_many(..., errors="status")``); the estimates are NaN.
    """

    CONVERGED = 0
    MAX_STEPS = 1
    NONFINITE = 2
    SINGULAR_HESSIAN = 3
    SEPARATION = 4
    BOUNDARY = 5
    STALLED = 6
    INVALID_DATA = 7

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")
