"""Peak training memory and step time of KAN vs MetaKAN vs MLP (paper Figure 4).

Runs ``pinnkan bench memory`` with the same arguments (the command's error lines, its heap reuse
and the command line it records); the code lives in :mod:`pinnkan.bench.memory` so that the
installed command has it.
"""

import sys

from pinnkan.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "memory", *sys.argv[1:]]))
