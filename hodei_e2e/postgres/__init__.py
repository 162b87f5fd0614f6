"""Postgres: the server, a database per suite, migrations into a template."""
