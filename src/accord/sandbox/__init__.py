"""Generated outside systems (an Exo-shaped ERP database) for demos, tests and benchmarks."""
