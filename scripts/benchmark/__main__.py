"""`python -m benchmark` (scripts/ on the path): see scripts/bench."""

import sys

from benchmark.main import main

sys.exit(main(sys.argv[1:]))
