"""Who owns what: a run's identity, leases, the watchdog, and cleaning up orphans."""
