"""Progress bars for long batches and studies: tqdm's (fits per second, time left) when tqdm is
installed (the ``study`` extra), else one line per update on stderr.

Examples:
    >>> with progress_bar(False, 10, "fits") as bar:
    ...     bar.update(10)
"""

from __future__ import annotations

import sys
import time

__all__ = ["progress_bar"]


class _NoBar:
    """What ``progress=False`` gets: updates do nothing."""

    def update(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Lines(_NoBar):
    """Without tqdm: one line per update, ``desc: done/total fits in 1.2 s``."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done = total, desc, 0
        self.started = time.perf_counter()

    def update(self, count: int) -> None:
        self.done += count
        elapsed = time.perf_counter() - self.started
        print(f"{self.desc}: {self.done}/{self.total} fits in {elapsed:.1f} s", file=sys.stderr)


def progress_bar(show: bool, total: int, desc: str):
    """A context manager with ``update(count)``: tqdm's bar, line reports without tqdm, or
    nothing when ``show`` is False."""
    if not show:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Lines(total, desc)
    return tqdm(total=total, unit="fit", desc=desc, smoothing=0.1)
