"""hodei-e2e: run the Hodei Jobs end-to-end suites against real infrastructure."""

import gc

__version__ = "0.1.0"

# A command lives for seconds to minutes and allocates mostly while importing; there, the
# collector's passes over every module's objects cost tens of milliseconds (a tenth of a warm
# run) and free nothing. Collect far less often: cycles are still collected.
gc.set_threshold(50_000, 20, 100)
