"""hodei-e2e: run the Hodei Jobs end-to-end suites against real infrastructure."""

__version__ = "0.1.0"
