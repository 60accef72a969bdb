"""Write student versions of the chapters: the same notebooks with the solutions taken out.

    python tools/student_notebooks.py            # -> _build/student/NN_slug.ipynb
    make student

Instructors hand these out; the book (the instructor version) keeps the solutions in dropdowns.
Everything between a ``{solution-start}`` and its ``{solution-end}`` cell is replaced by one
empty code cell that reminds the student of the automatic check, when the exercise has one.
Outputs are cleared, so that students run the notebook themselves.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chapters  # noqa: E402

OUT = chapters.ROOT / "_build" / "student"
_START = re.compile(r"```\{solution-start\}\s+(ex-[\w-]+)")
_END = re.compile(r"```\{solution-end\}[^\n]*\n```[ \t]*\n?")
_CHECK = re.compile(r"check\(\s*[\"'](ch\d\d\.[\w]+)[\"']")


def strip_solutions(nb: dict) -> dict:
    """Return a copy of ``nb`` without solutions and outputs (see the module docstring)."""
    nb = copy.deepcopy(nb)
    cells, inside, removed = [], None, []
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and (m := _START.search(src)):
            inside, removed = m.group(1), []
            continue
        if inside is not None:
            if cell["cell_type"] == "markdown" and (end := _END.search(src)):
                checks = sorted({c for r in removed for c in _CHECK.findall(r)})
                lines = [f"# Your solution to {inside} here."]
                lines += [f'# When it is ready: check("{c}", <your function>)' for c in checks]
                cells.append({"cell_type": "code", "execution_count": None, "metadata": {},
                              "outputs": [], "source": "\n".join(lines)})
                inside = None
                rest = src[end.end():].strip("\n")
                if rest:  # the same cell may go on with the next exercise or section
                    cells.append({**cell, "source": rest})
            else:
                removed.append(src)
            continue
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    if inside is not None:
        raise ValueError(f"solution {inside} has no solution-end")
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for path in chapters.chapter_paths():
        chapters.write_nb(OUT / path.name, strip_solutions(chapters.read_nb(path)))
        print(f"wrote {OUT / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
