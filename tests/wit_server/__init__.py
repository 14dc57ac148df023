"""A WIT-compatible WPS 1.0.0 server (PyWPS) for tests, the demo and benchmarks."""
