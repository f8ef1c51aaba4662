"""Inference beyond the point estimate: covariances, intervals and tests."""

__all__ = []
