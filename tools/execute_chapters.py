"""Execute chapters top to bottom in a fresh kernel and store outputs, widget state and run time.

``make execute`` runs every chapter; ``make execute CHAPTERS="02_similarity"`` runs the named ones.
Each notebook runs in its own kernel with ``chapters/`` as the working directory, exactly as
nbval will re-run it. Its wall time is stored in ``metadata.embedlab.runtime_s`` and the run-time
page of the book is regenerated, with the instructors' tables that use it (tools/instructors_page.py).
Widget state is stored so that the HTML book shows live widgets.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from . import chapters, instructors_page


def execute(path: Path, timeout: int = 900, out: Path | None = None) -> float:
    """Run ``path`` in a fresh kernel; store the executed notebook at ``out`` (default: in place).

    The kernel inherits this process's environment (``tools/kernels.py`` sets CPU kernels so).
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:  # nbclient stores per-cell timing metadata we do not want in git
        cell.metadata.pop("execution", None)
    nb.metadata.setdefault("embedlab", {})
    nb.metadata["embedlab"]["runtime_s"] = round(seconds, 1)
    nb.metadata["embedlab"]["environment"] = (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}"
    )
    nbformat.write(nb, out or path)
    return seconds


def main(names: list[str]) -> int:
    try:
        paths = chapters.select_chapters(names)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    failed = []
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        try:
            seconds = execute(path)
        except Exception as e:  # report every failing chapter, then fail
            print(f"  FAILED: {type(e).__name__}: {str(e)[-2000:]}", flush=True)
            failed.append(path.name)
            continue
        flag = "" if seconds <= chapters.BUDGET_S else f"  (over the {chapters.BUDGET_S:.0f} s budget!)"
        print(f"  {seconds:.1f} s{flag}", flush=True)
    chapters.write_runtimes_page()
    instructors_page.main()
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
