"""`fit_many`: a batch of datasets in one call (inputs, compiled programs, scheduling)."""

from ._fit_many import fit_many as fit_many
from ._inputs import bucket_size as bucket_size
from ._inputs import pad_datasets as pad_datasets

__all__ = ["bucket_size", "fit_many", "pad_datasets"]
