"""The JEPA lab: small, measured experiments from the seed document."""
