"""Placeholder: filled in by the distributions work."""

__all__ = []
