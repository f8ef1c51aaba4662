"""NIST StRD nonlinear least-squares reference problems.

Provenance: the NIST/ITL Statistical Reference Datasets (StRD), nonlinear
regression collection (https://www.itl.nist.gov/div898/strd/nls/nls_main.shtml).
The 27 ``.dat`` files in ``tests/data/nist_strd`` are verbatim copies of the
NIST distribution. Each file holds a header with the model formula, two sets of
starting values ("Start 1", "Start 2"), certified parameter values with their
certified standard deviations, the certified residual sum of squares, residual
standard deviation and degrees of freedom, followed by the data columns.

``load(name)`` parses one file into a :class:`NistProblem`; ``MEAN_FUNCTIONS[name]``
is the model's mean function ``f(b, x)`` written with ``jax.numpy`` so that it can
be differentiated, with ``b[0]`` the file's ``b1``, ``b[1]`` its ``b2`` and so on.

The only problem whose response is not the raw data column is ``Nelson``: its
model is stated for ``log[y]``, so ``load("Nelson").y`` is the natural log of the
breakdown strength column; the certified values and RSS refer to that scale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data" / "nist_strd"

PROBLEMS = (
    "Bennett5",
    "BoxBOD",
    "Chwirut1",
    "Chwirut2",
    "DanWood",
    "ENSO",
    "Eckerle4",
    "Gauss1",
    "Gauss2",
    "Gauss3",
    "Hahn1",
    "Kirby2",
    "Lanczos1",
    "Lanczos2",
    "Lanczos3",
    "MGH09",
    "MGH10",
    "MGH17",
    "Misra1a",
    "Misra1b",
    "Misra1c",
    "Misra1d",
    "Nelson",
    "Rat42",
    "Rat43",
    "Roszman1",
    "Thurber",
)


class NistProblem(NamedTuple):
    """One parsed NIST StRD nonlinear regression problem.

    ``x`` has shape ``(n,)``, or ``(n, 2)`` with columns ``(x1, x2)`` for Nelson.
    ``y`` is the response the model is fitted to (``log`` of the data column for
    Nelson). ``n_params`` is the parameter count declared in the header. ``dof`` is
    the header's value; it equals ``n - n_params`` everywhere except Rat43, whose
    file declares 9 although ``n - n_params`` is 11 (a NIST erratum: its residual and
    certified standard deviations correspond to 11), so estimators should use
    ``len(y) - n_params``.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    start1: np.ndarray
    start2: np.ndarray
    certified: np.ndarray
    certified_sd: np.ndarray
    rss: float
    residual_sd: float
    dof: int
    difficulty: str
    n_params: int


_PARAM_LINE = re.compile(r"^\s*b(\d+)\s*=\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
# The data block starts at a line such as "Data:   y   x1   x2": column names only,
# unlike the header's "Data:  1 Response ..." description line.
_DATA_HEADER = re.compile(r"^Data:((?:\s+[A-Za-z]\w*)+)\s*$")


def _header_value(text: str, pattern: str) -> str:
    """Return the first capture group of ``pattern`` in ``text`` (multiline)."""
    match = re.search(pattern, text, flags=re.MULTILINE)
    if match is None:
        raise ValueError(f"header field not found: {pattern!r}")
    return match.group(1)


def load(name: str) -> NistProblem:
    """Parse ``tests/data/nist_strd/<name>.dat`` into a :class:`NistProblem`."""
    if name not in PROBLEMS:
        raise KeyError(f"unknown NIST StRD problem {name!r}")
    text = (DATA_DIR / f"{name}.dat").read_text()
    lines = text.splitlines()

    n_params = int(_header_value(text, r"^\s+(\d+) Parameters \(b1"))
    n_obs = int(_header_value(text, r"^Number of Observations:\s*(\d+)"))

    params = [m.groups() for m in map(_PARAM_LINE.match, lines) if m is not None]
    if [int(p[0]) for p in params] != list(range(1, len(params) + 1)):
        raise ValueError(f"{name}: parameter lines are not b1, b2, ... in order")
    start1, start2, certified, certified_sd = np.array([p[1:] for p in params], dtype=np.float64).T

    (header_index,) = [i for i, line in enumerate(lines) if _DATA_HEADER.match(line)]
    columns = lines[header_index].split()[1:]
    rows = np.array(
        [line.split() for line in lines[header_index + 1 :] if line.strip()], dtype=np.float64
    )
    if rows.shape != (n_obs, len(columns)):
        raise ValueError(f"{name}: data block has shape {rows.shape}, expected {n_obs} rows")
    y = rows[:, columns.index("y")]
    x_columns = [i for i, column in enumerate(columns) if column != "y"]
    x = rows[:, x_columns[0]] if len(x_columns) == 1 else rows[:, x_columns]

    if re.search(r"^\s*log\[y\]\s*=", text, flags=re.MULTILINE):
        y = np.log(y)

    return NistProblem(
        name=name,
        x=x,
        y=y,
        start1=start1,
        start2=start2,
        certified=certified,
        certified_sd=certified_sd,
        rss=float(_header_value(text, r"^Residual Sum of Squares:\s*(\S+)")),
        residual_sd=float(_header_value(text, r"^Residual Standard Deviation:\s*(\S+)")),
        dof=int(_header_value(text, r"^Degrees of Freedom:\s*(\d+)")),
        difficulty=_header_value(text, r"^\s*(Lower|Average|Higher) Level of Difficulty"),
        n_params=n_params,
    )


def _bennett5(b, x):
    """y = b1 * (b2+x)**(-1/b3)"""
    return b[0] * (b[1] + x) ** (-1.0 / b[2])


def _saturating_exponential(b, x):
    """y = b1*(1-exp[-b2*x])  (BoxBOD, Misra1a)"""
    return b[0] * (1.0 - jnp.exp(-b[1] * x))


def _chwirut(b, x):
    """y = exp[-b1*x]/(b2+b3*x)"""
    return jnp.exp(-b[0] * x) / (b[1] + b[2] * x)


def _danwood(b, x):
    """y = b1*x**b2"""
    return b[0] * x ** b[1]


def _enso(b, x):
    """y = b1 + b2*cos(2*pi*x/12) + b3*sin(2*pi*x/12)
    + b5*cos(2*pi*x/b4) + b6*sin(2*pi*x/b4) + b8*cos(2*pi*x/b7) + b9*sin(2*pi*x/b7)"""
    annual = 2.0 * jnp.pi * x / 12.0
    cycle1 = 2.0 * jnp.pi * x / b[3]
    cycle2 = 2.0 * jnp.pi * x / b[6]
    return (
        b[0]
        + b[1] * jnp.cos(annual)
        + b[2] * jnp.sin(annual)
        + b[4] * jnp.cos(cycle1)
        + b[5] * jnp.sin(cycle1)
        + b[7] * jnp.cos(cycle2)
        + b[8] * jnp.sin(cycle2)
    )


def _eckerle4(b, x):
    """y = (b1/b2) * exp[-0.5*((x-b3)/b2)**2]"""
    return (b[0] / b[1]) * jnp.exp(-0.5 * ((x - b[2]) / b[1]) ** 2)


def _gauss(b, x):
    """y = b1*exp(-b2*x) + b3*exp(-(x-b4)**2/b5**2) + b6*exp(-(x-b7)**2/b8**2)"""
    return (
        b[0] * jnp.exp(-b[1] * x)
        + b[2] * jnp.exp(-((x - b[3]) ** 2) / b[4] ** 2)
        + b[5] * jnp.exp(-((x - b[6]) ** 2) / b[7] ** 2)
    )


def _cubic_over_cubic(b, x):
    """y = (b1+b2*x+b3*x**2+b4*x**3) / (1+b5*x+b6*x**2+b7*x**3)  (Hahn1, Thurber)"""
    return (b[0] + b[1] * x + b[2] * x**2 + b[3] * x**3) / (
        1.0 + b[4] * x + b[5] * x**2 + b[6] * x**3
    )


def _kirby2(b, x):
    """y = (b1 + b2*x + b3*x**2) / (1 + b4*x + b5*x**2)"""
    return (b[0] + b[1] * x + b[2] * x**2) / (1.0 + b[3] * x + b[4] * x**2)


def _lanczos(b, x):
    """y = b1*exp(-b2*x) + b3*exp(-b4*x) + b5*exp(-b6*x)"""
    return b[0] * jnp.exp(-b[1] * x) + b[2] * jnp.exp(-b[3] * x) + b[4] * jnp.exp(-b[5] * x)


def _mgh09(b, x):
    """y = b1*(x**2+x*b2) / (x**2+x*b3+b4)"""
    return b[0] * (x**2 + x * b[1]) / (x**2 + x * b[2] + b[3])


def _mgh10(b, x):
    """y = b1 * exp[b2/(x+b3)]"""
    return b[0] * jnp.exp(b[1] / (x + b[2]))


def _mgh17(b, x):
    """y = b1 + b2*exp[-x*b4] + b3*exp[-x*b5]"""
    return b[0] + b[1] * jnp.exp(-x * b[3]) + b[2] * jnp.exp(-x * b[4])


def _misra1b(b, x):
    """y = b1 * (1-(1+b2*x/2)**(-2))"""
    return b[0] * (1.0 - (1.0 + b[1] * x / 2.0) ** (-2.0))


def _misra1c(b, x):
    """y = b1 * (1-(1+2*b2*x)**(-.5))"""
    return b[0] * (1.0 - (1.0 + 2.0 * b[1] * x) ** (-0.5))


def _misra1d(b, x):
    """y = b1*b2*x*((1+b2*x)**(-1))"""
    return b[0] * b[1] * x * ((1.0 + b[1] * x) ** (-1.0))


def _nelson(b, x):
    """log[y] = b1 - b2*x1 * exp[-b3*x2], with x[:, 0] = x1 and x[:, 1] = x2"""
    return b[0] - b[1] * x[:, 0] * jnp.exp(-b[2] * x[:, 1])


def _rat42(b, x):
    """y = b1 / (1+exp[b2-b3*x])"""
    return b[0] / (1.0 + jnp.exp(b[1] - b[2] * x))


def _rat43(b, x):
    """y = b1 / ((1+exp[b2-b3*x])**(1/b4))"""
    return b[0] / ((1.0 + jnp.exp(b[1] - b[2] * x)) ** (1.0 / b[3]))


def _roszman1(b, x):
    """y = b1 - b2*x - arctan[b3/(x-b4)]/pi"""
    return b[0] - b[1] * x - jnp.arctan(b[2] / (x - b[3])) / jnp.pi


MEAN_FUNCTIONS: dict[str, Callable[[jax.Array, np.ndarray], jax.Array]] = {
    "Bennett5": _bennett5,
    "BoxBOD": _saturating_exponential,
    "Chwirut1": _chwirut,
    "Chwirut2": _chwirut,
    "DanWood": _danwood,
    "ENSO": _enso,
    "Eckerle4": _eckerle4,
    "Gauss1": _gauss,
    "Gauss2": _gauss,
    "Gauss3": _gauss,
    "Hahn1": _cubic_over_cubic,
    "Kirby2": _kirby2,
    "Lanczos1": _lanczos,
    "Lanczos2": _lanczos,
    "Lanczos3": _lanczos,
    "MGH09": _mgh09,
    "MGH10": _mgh10,
    "MGH17": _mgh17,
    "Misra1a": _saturating_exponential,
    "Misra1b": _misra1b,
    "Misra1c": _misra1c,
    "Misra1d": _misra1d,
    "Nelson": _nelson,
    "Rat42": _rat42,
    "Rat43": _rat43,
    "Roszman1": _roszman1,
    "Thurber": _cubic_over_cubic,
}
"""Mean function ``f(b, x)`` of each problem, exactly as written in its file header."""
