"""Recording fakes of outside systems, served over real protocols so tests exercise our clients."""
