"""Time and memory of one training step per Laplacian engine, against the autograd loop.

Runs ``pinnkan bench laplacian`` with the same arguments (the command's error lines, its heap reuse
and the command line it records); the code lives in :mod:`pinnkan.bench.laplacian` so that the
installed command has it.
"""

import sys

from pinnkan.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "laplacian", *sys.argv[1:]]))
