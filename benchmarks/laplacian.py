"""Time and memory of one training step per Laplacian engine, against the autograd loop.

Same as ``pinnkan bench laplacian``; the code lives in :mod:`pinnkan.bench.laplacian` so that the
installed command has it.
"""

import sys

from pinnkan.bench.laplacian import main

if __name__ == "__main__":
    sys.exit(main())
