"""Checkpoints of a study: a manifest and one file per finished chunk, written atomically.

Layout of the checkpoint directory::

    study.json                      the design (model, truths, sizes, n_rep, key, ci, ...)
    s{scenario}_n{n}_r{start}-{stop}.npz   one finished chunk of replicates

A chunk file is written to a temporary name in the same directory, flushed to disk and renamed
over its final name (``os.replace`` is atomic on POSIX and Windows), so a process killed at any
moment leaves either the whole chunk or nothing. A re-run with the same design loads the finished
chunks and computes only the others; a re-run with a different design raises ``ValueError``
naming what differs instead of mixing results.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["Checkpoint"]

MANIFEST = "study.json"


class Checkpoint:
    """A study's checkpoint directory (created on first use)."""

    def __init__(self, directory, description: dict):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"checkpoint: {self.directory} exists and is not a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self.directory / MANIFEST
        if manifest.exists():
            _check_same(json.loads(manifest.read_text()), description, manifest)
        else:
            _write_atomically(manifest, json.dumps(description, indent=1).encode())

    def path(self, scenario: int, n: int, start: int, stop: int) -> Path:
        return self.directory / f"s{scenario}_n{n}_r{start}-{stop}.npz"

    def load(self, scenario: int, n: int, start: int, stop: int) -> dict | None:
        """The chunk's arrays, or ``None`` when it has not been finished."""
        path = self.path(scenario, n, start, stop)
        if not path.exists():
            return None
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}

    def save(self, scenario: int, n: int, start: int, stop: int, arrays: dict) -> None:
        with tempfile.SpooledTemporaryFile() as buffer:
            np.savez(buffer, **arrays)
            buffer.seek(0)
            content = buffer.read()
        _write_atomically(self.path(scenario, n, start, stop), content)


def _write_atomically(path: Path, content: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_same(stored: dict, description: dict, manifest: Path) -> None:
    differing = sorted(
        key for key in set(stored) | set(description) if stored.get(key) != description.get(key)
    )
    if differing:
        details = "; ".join(
            f"{key}: stored {stored.get(key)!r}, now {description.get(key)!r}" for key in differing
        )
        raise ValueError(
            f"checkpoint: {manifest} belongs to a different study ({details}); use another "
            "directory or delete this one"
        )
