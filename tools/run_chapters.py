"""Run every chapter top to bottom in a fresh kernel without touching the stored notebooks.

``make test-lowest`` uses it in the environment of lower bounds (tools/lowest.py). Each chapter runs
as ``make execute`` runs it (tools/execute_chapters.py: its own kernel, ``chapters/`` as working
directory), but the executed copy goes to a temporary folder. A chapter passes when every cell runs
(so every claim its cells assert holds) and no cell writes to stderr (the chapter contract's clean
output: a warning an old library raises is a failure here too).

Stored outputs are not compared: they record the pinned versions of constraints.txt, and printed
numbers of training and solvers legitimately move between library releases (``make test`` compares
them, on the pinned versions). What must hold on every version the package allows is what the cells
assert.

    python -m tools.run_chapters [NAME ...]      # e.g. 09_recommendation; default: every chapter
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

from . import chapters
from .execute_chapters import execute


def stderr_of(nb: nbformat.NotebookNode) -> list[str]:
    """``"cell N: text"`` for every stderr stream an executed notebook holds."""
    return [
        f"cell {i}: {''.join(out.get('text', ''))[:500]}"
        for i, cell in enumerate(nb.cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]


def main(names: list[str]) -> int:
    try:
        paths = chapters.select_chapters(names)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    # The kernel must be this environment's (make test-lowest installs it with --sys-prefix); a user-wide
    # "python3" kernel elsewhere would run the chapters on other versions without a word.
    from jupyter_client.kernelspec import KernelSpecManager

    kernel_python = KernelSpecManager().get_kernel_spec("python3").argv[0]
    if Path(kernel_python).absolute().parent.parent != Path(sys.prefix).absolute():
        print(f"the python3 kernel runs {kernel_python}, not a Python of {sys.prefix}", file=sys.stderr)
        return 2
    failed, total = [], 0.0
    with tempfile.TemporaryDirectory(prefix="embedlab-chapters-") as tmp:
        for path in paths:
            print(f"running {path.name} ...", flush=True)
            out = Path(tmp) / path.name
            try:
                seconds = execute(path, out=out)
            except Exception as e:  # report every failing chapter, then fail
                print(f"  FAILED: {type(e).__name__}: {str(e)[-3000:]}", flush=True)
                failed.append(path.name)
                continue
            total += seconds
            noise = stderr_of(nbformat.read(out, as_version=4))
            if noise:
                print(f"  FAILED: output on stderr ({seconds:.1f} s):\n    " + "\n    ".join(noise), flush=True)
                failed.append(path.name)
                continue
            print(f"  ok, {seconds:.1f} s", flush=True)
    print(f"{len(paths) - len(failed)} of {len(paths)} chapters ran clean in {total:.0f} s", flush=True)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
