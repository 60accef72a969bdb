"""Write student versions of the chapters: the same notebooks with the solutions taken out.

    python -m tools.student_notebooks            # -> _build/student/NN_slug.ipynb
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

from . import chapters

OUT = chapters.ROOT / "_build" / "student"
# A solution-start block: the directive line, its options (":class: dropdown"), the closing fence.
_START = re.compile(r"```\{solution-start\}\s+(ex-[\w-]+)[^\n]*\n(?:[ \t]*:[^\n]*\n)*[ \t]*```[ \t]*\n?")
_END = re.compile(r"```\{solution-end\}[^\n]*\n```[ \t]*\n?")
_CHECK = re.compile(r"check\(\s*[\"'](ch\d\d\.[\w]+)[\"']")


def strip_solutions(nb: dict) -> dict:
    """Return a copy of ``nb`` without solutions and outputs (see the module docstring).

    A markdown cell may hold text before a solution starts (the exercise itself) and after it
    ends (the next exercise, even the next solution's start): that text is kept, so authors can
    write an exercise and the opening of its solution in one cell.
    """
    nb = copy.deepcopy(nb)
    cells: list[dict] = []
    inside: str | None = None
    removed: list[str] = []

    def placeholder() -> dict:
        checks = sorted({c for r in removed for c in _CHECK.findall(r)})
        lines = [f"# Your solution to {inside} here."]
        lines += [f'# When it is ready: check("{c}", <your function>)' for c in checks]
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": "\n".join(lines)}

    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            if inside is not None:
                removed.append(src)
                continue
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
            cells.append(cell)
            continue
        while src.strip():
            if inside is None:
                m = _START.search(src)
                if m is None:
                    cells.append({**cell, "source": src.strip("\n")})
                    break
                if src[: m.start()].strip():
                    cells.append({**cell, "source": src[: m.start()].strip("\n")})
                inside, removed, src = m.group(1), [], src[m.end():]
            else:
                e = _END.search(src)
                if e is None:
                    removed.append(src)
                    break
                removed.append(src[: e.start()])
                cells.append(placeholder())
                inside, src = None, src[e.end():]
    if inside is not None:
        raise ValueError(f"solution {inside} has no solution-end")
    # A split markdown cell must not repeat its id (nbformat requires unique ids).
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if "id" in cell:
            if cell["id"] in seen:
                cells[i] = {**cell, "id": f"{cell['id']}-{i}"}
            seen.add(cells[i]["id"])
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
