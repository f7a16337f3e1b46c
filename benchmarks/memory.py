"""Peak training memory and step time of KAN vs MetaKAN vs MLP (paper Figure 4).

Same as ``pinnkan bench memory``; the code lives in :mod:`pinnkan.bench.memory` so that the
installed command has it.
"""

import sys

from pinnkan.bench.memory import main

if __name__ == "__main__":
    sys.exit(main())
