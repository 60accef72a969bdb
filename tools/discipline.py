"""Rules 1 and 3 of "How this book compares" (book/compare.md), checked where code can check them.

Rule 1, no choice is made on test data:

A choice made from data (a hyper-parameter, a temperature, a number of components, an IDF
corpus) goes through a function whose name says so: ``choose_*``, ``select_*``, ``tune_*``,
``fit_temperature*``, or one of the package's calibration fitters (``fit_scaling``,
``fit_confidence``). This checker parses every code cell of every chapter and reports each call
to such a function whose arguments mention a name with a ``test`` part (``X_test``,
``task.test``, ``test_ids``; not ``latest``). It reads code, not data, so it cannot see a test set
passed under another name; it catches the common slip, and the page asks for the rest.

Rule 3, a difference inside the noise is a tie: the prose never hedges a comparison as "slightly"
or "marginally" better, worse, higher, lower, ahead or behind. A difference is either inside its
interval (a tie) or outside it (then the text gives its size); the hedge is how a reader is told a
tie is a win.

    python -m tools.discipline            # every chapter; exit status 1 on a violation
    python -m tools.discipline 10_retrieval
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from . import chapters

CHOOSER = re.compile(r"^(choose_|select_|tune_|fit_temperature)|^(fit_scaling|fit_confidence)$")
TEST_PART = re.compile(r"^test")  # a part of an identifier split at "_" and "."
HEDGE = re.compile(r"\b(slightly|marginally)\s+(better|worse|higher|lower|ahead|behind|faster|slower)\b", re.I)


def _callee(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return None


def _names(node: ast.AST) -> set[str]:
    """Every identifier and attribute name inside ``node``."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            out.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            out.add(sub.attr)
        elif isinstance(sub, ast.arg):
            out.add(sub.arg)
    return out


def _mentions_test(name: str) -> bool:
    return any(TEST_PART.match(part.lower()) for part in re.split(r"[_.]", name) if part)


def _code(source: str) -> str:
    """A cell's source with IPython magics and shell lines blanked (they are not Python)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def violations_in_source(source: str, where: str = "<cell>") -> list[str]:
    """Calls to a choosing function whose arguments mention test data, as readable lines."""
    try:
        tree = ast.parse(_code(source))
    except SyntaxError as e:
        return [f"{where}: cannot parse ({e.msg}, line {e.lineno})"]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        if name is None or not CHOOSER.search(name):
            continue
        args = [*node.args, *(k.value for k in node.keywords)]
        bad = sorted({n for a in args for n in _names(a) if _mentions_test(n)})
        if bad:
            found.append(f"{where}, line {node.lineno}: {name}(...) chooses using {', '.join(bad)}")
    return found


def hedges_in_text(text: str, where: str = "<cell>") -> list[str]:
    """Comparisons hedged as "slightly better" and the like (rule 3), as readable lines."""
    return [f"{where}: '{m.group(0)}' (a tie is a tie; a difference outside the noise gets its size)"
            for m in HEDGE.finditer(text)]


def violations(path: Path) -> list[str]:
    nb = chapters.read_nb(path)
    out = []
    for i, cell in enumerate(nb["cells"]):
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "code":
            out += violations_in_source(source, f"{path.name} cell {i}")
        elif cell["cell_type"] == "markdown":
            out += hedges_in_text(source, f"{path.name} cell {i}")
    return out


def main(names: list[str]) -> int:
    try:
        paths = chapters.select_chapters(names)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    found = [v for p in paths for v in violations(p)]
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} violation(s) of book/compare.md's rules", file=sys.stderr)
        return 1
    print(f"no choice made on test data and no hedged comparison in {len(paths)} chapter(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
