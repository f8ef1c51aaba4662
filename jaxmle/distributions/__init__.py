"""Built-in distribution families (parameter names are part of the public contract)."""

from ._censoring import *  # noqa: F403
from ._censoring import __all__ as _censoring_all
from ._continuous import *  # noqa: F403
from ._continuous import __all__ as _continuous_all
from ._discrete import *  # noqa: F403
from ._discrete import __all__ as _discrete_all
from ._multivariate import *  # noqa: F403
from ._multivariate import __all__ as _multivariate_all

__all__ = [*_continuous_all, *_discrete_all, *_multivariate_all, *_censoring_all]
