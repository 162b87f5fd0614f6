"""Suites: which run, the environment they get, their processes, output and results."""
