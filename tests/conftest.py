"""Test configuration of the package and structure tests (the chapter budget under nbval is
enforced by the repository's root conftest.py). Tests import the authors' tools and the benchmarks
as the packages ``tools`` and ``benchmarks``: pyproject.toml puts the repository root on pytest's
path (``pythonpath = ["."]``), so nothing here edits ``sys.path``."""
