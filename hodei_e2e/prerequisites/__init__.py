"""The prerequisites of a run, each a check with its remedy: `doctor` shows them all,
`preflight` runs the fast ones before every `run`."""
