"""Regression models: GLMs and friends (data {"X", "y", optional "offset", "trials"})."""

__all__ = []
