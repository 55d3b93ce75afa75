"""Benchmarks for issue 6 (`make bench`); never part of the tests."""
