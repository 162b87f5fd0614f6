"""The fault battery (`scripts/faults`): every way a run can be interrupted or killed, each tried
many times at a seeded random instant of its phase, against the real engine and Postgres."""
