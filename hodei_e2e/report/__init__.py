"""Reporters: each renders a list of `SuiteResult`s one way."""
