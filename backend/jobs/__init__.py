"""RQ job functions: they take ids, get deps, call a service, and let typed errors propagate."""
