"""Command line: ``jaxmle demo`` (also ``python -m jaxmle demo``).

The command line is a program, not a library, so it switches JAX to float64 (standard errors and
p-values need the precision); the library itself never changes JAX's configuration.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxmle", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit a simulated batch of regressions and report")
    demo.add_argument("--datasets", type=int, default=5000, help="number of datasets")
    demo.add_argument("--nobs", type=int, default=200, help="observations per dataset")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--float32", action="store_true", help="stay in single precision")
    args = parser.parse_args(argv)

    import jax

    if not args.float32:
        jax.config.update("jax_enable_x64", True)
    from . import _demo

    _demo.run(args.datasets, args.nobs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
