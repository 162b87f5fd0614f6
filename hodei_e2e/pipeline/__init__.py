"""`hodei-e2e run`: its steps, and the resources that clean up after themselves."""
