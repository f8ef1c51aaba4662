"""``python -m jaxmle demo``."""

import sys

from .cli import main

sys.exit(main())
