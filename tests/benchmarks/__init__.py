"""pyrelease's benchmark: `python -m tests.benchmarks` (see __main__.py)."""
