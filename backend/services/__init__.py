"""Use cases: load, apply a domain rule, persist, enqueue. No Flask here."""
