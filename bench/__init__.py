"""Benchmarks: run with `make bench`; each prints figures, none asserts timings."""
