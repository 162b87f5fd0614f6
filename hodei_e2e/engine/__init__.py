"""The Docker engine: finding it, talking to it, the containers a run starts on it."""
