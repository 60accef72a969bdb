"""Ours vs reference libraries (a package): run from the repository root as ``python -m benchmarks.run``
(``make bench``) or ``python -m benchmarks.bench_NAME``; see benchmarks/run.py."""
