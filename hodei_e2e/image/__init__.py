"""The worker image: its build context, its builder, and whether it must be rebuilt."""
