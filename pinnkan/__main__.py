"""``python -m pinnkan …`` (and ``torchrun -m pinnkan …``) runs the command line."""

import sys

from .cli import main

sys.exit(main())
