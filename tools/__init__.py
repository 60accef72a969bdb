"""The authors' tools (a package): run each one from the repository root as ``python -m tools.NAME``
(``make`` does), so that they import each other and the benchmarks without editing ``sys.path``."""
