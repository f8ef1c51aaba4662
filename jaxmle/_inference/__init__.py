"""Inference beyond the point estimate: intervals and tests.

Robust and cluster covariances are chosen with ``cov_type=`` in :func:`~jaxmle.fit` (see
:mod:`jaxmle._covariance`); this package adds profile-likelihood intervals, the
likelihood-ratio, Wald and score tests, and the bootstrap.
"""

from .bootstrap import BootstrapResult as BootstrapResult
from .bootstrap import bootstrap as bootstrap
from .chi2_tests import ChiSquareTest as ChiSquareTest
from .chi2_tests import lr_test as lr_test
from .chi2_tests import score_test as score_test
from .chi2_tests import wald_test as wald_test
from .profile import ProfileInterval as ProfileInterval
from .profile import ProfileStatus as ProfileStatus
from .profile import profile_ci as profile_ci

__all__ = [
    "BootstrapResult",
    "ChiSquareTest",
    "ProfileInterval",
    "ProfileStatus",
    "bootstrap",
    "lr_test",
    "profile_ci",
    "score_test",
    "wald_test",
]
