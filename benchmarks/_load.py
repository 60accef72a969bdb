"""Other programs' load during one setting of a benchmark, and when a row counts as busy.

The harness measures the load over a whole benchmark; a multi-threaded setting suffers most from
it (its threads wait for each other when another program holds a core), so a benchmark with
several thread counts measures each setting with :class:`Load` and stores ``threads`` and
``other_cpus`` in its row (:func:`mark`). ``tools/render_benchmarks.py`` marks such a row
**busy machine** (:func:`row_busy`). Like the harness, this imports nothing heavy.
"""

from __future__ import annotations

import time
from typing import Any

from . import _harness as harness

BUSY_ROW_CPUS = 0.5  # other programs held half a core or more on average: a thread of ours waited


class Load:
    """How many CPUs other programs kept busy while a ``with`` block ran (/proc/stat; None elsewhere)."""

    other_cpus: float | None = None

    def __enter__(self) -> Load:
        self._before, self._start = harness.cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.other_cpus = harness.other_cpus(self._before, harness.cpu_seconds(), time.perf_counter() - self._start)


def mark(row: dict[str, Any], threads: int, load: Load) -> dict[str, Any]:
    """``row`` with the setting's thread count and the load measured while it ran."""
    return {**row, "threads": threads, "other_cpus": load.other_cpus}


def row_busy(row: dict[str, Any]) -> bool:
    """A multi-threaded row measured while other programs held a core (on average at least
    :data:`BUSY_ROW_CPUS` of one): its threads waited for cores, so its ratio says little."""
    threads, other = row.get("threads"), row.get("other_cpus")
    return bool(threads and threads > 1 and other is not None and other >= BUSY_ROW_CPUS)
