"""Simulation studies: scenarios x sample sizes x replicates, performance measures with Monte Carlo
standard errors, checkpoints and plots (:func:`~jaxmle.study`)."""

from ._results import Study as Study
from ._study import study as study

__all__ = ["Study", "study"]
