"""Write the student edition: the chapters with the solutions taken out, as notebooks and as a book.

    python -m tools.student_notebooks            # notebooks and HTML book (make student)
    python -m tools.student_notebooks --no-book  # notebooks only

Instructors hand these out; the book (the instructor version) keeps the solutions in dropdowns.
Everything between a ``{solution-start}`` and its ``{solution-end}`` cell is replaced by one
empty code cell that names the function to write and reminds the student of the automatic check,
when the exercise has one.

Two outputs, for two readers:

* ``_build/student/NN_slug.ipynb``: the notebooks students open in Jupyter, Colab or Binder.
  Outputs are cleared (students run them), and the MyST markup that Jupyter cannot render
  (exercise directives, admonitions, citation roles) is turned into plain Markdown
  (``tools/myst_markdown.py``).
* ``_build/student-book/html``: the HTML book without solutions, built by Jupyter Book from a copy
  of the book sources (``_build/student-book/src``) in which the chapters are the solution-free
  notebooks, *with* their MyST kept, so that exercises are the book's styled exercise boxes and
  citations link to their references, and with the kept cells' outputs (the figures and numbers
  the text talks about). The chapters live in ``student/`` there and ``_config.student.yml``
  points the launch buttons at the ``student`` branch, so Colab and Binder open the plain
  notebooks published there (book/instructors.md, "Student edition").
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import chapters
from .myst_markdown import Bibliography, exercise_labels, exercise_titles, plain_markdown

OUT = chapters.ROOT / "_build" / "student"
BOOK = chapters.ROOT / "_build" / "student-book"
BOOK_SRC = BOOK / "src"
BOOK_HTML = BOOK / "html"
OVERRIDES = chapters.ROOT / "_config.student.yml"
STUDENT_DIR = "student"  # where the student notebooks live, in the student book and on the student branch
# A solution-start block: the directive line, its options (":class: dropdown"), the closing fence.
_START = re.compile(r"```\{solution-start\}\s+(ex-[\w-]+)[^\n]*\n(?:[ \t]*:[^\n]*\n)*[ \t]*```[ \t]*\n?")
_END = re.compile(r"```\{solution-end\}[^\n]*\n```[ \t]*\n?")
_CHECK = re.compile(r"check\(\s*[\"'](ch\d\d\.[\w]+)[\"']\s*,\s*(\w+)")


def chapter_number(path: Path) -> int:
    """17 for ``chapters/17_anything.ipynb``."""
    return int(path.name[:2])


def signature(name: str, text: str) -> str:
    """``name(args)`` as the exercise's text writes it (``my_`` aside), else ``name``."""
    for candidate in (name, name.removeprefix("my_")):
        m = re.search(rf"`{re.escape(candidate)}(\([^`]*\))`", text)
        if m:
            return name + " ".join(m.group(1).split())
    return name


def strip_solutions(nb: dict, chapter: int | None = None, keep_outputs: bool = False) -> dict:
    """Return a copy of ``nb`` without solutions (and without outputs unless ``keep_outputs``).

    A markdown cell may hold text before a solution starts (the exercise itself) and after it
    ends (the next exercise, even the next solution's start): that text is kept, so authors can
    write an exercise and the opening of its solution in one cell. ``chapter`` numbers the
    exercises in the placeholders ("Exercise 9.2"), as :mod:`tools.myst_markdown` does; without
    it (the HTML book, whose sphinx-exercise numbering runs through the whole book) a
    placeholder names its exercise by title.
    """
    nb = copy.deepcopy(nb)
    cells: list[dict] = []
    inside: str | None = None
    removed: list[str] = []
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    labels = exercise_labels(markdown, chapter) if chapter is not None else {}
    titles = exercise_titles(markdown)
    text = "\n".join(markdown)
    with_ids = (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5)

    def placeholder() -> dict:
        # The function's name as the exercise's own text calls it, else as the solution does.
        named = dict(_CHECK.findall(text))
        checks = sorted({(c, named.get(c, f)) for r in removed for c, f in _CHECK.findall(r)})
        if inside in labels:
            number = f"Exercise {labels[inside]} ({inside})"
        else:
            number = f'"{titles[inside]}" ({inside})' if titles.get(inside) else inside
        lines = [f"# Your solution to {number} here."]
        for function in dict.fromkeys(f for _, f in checks):
            lines.append(f"# Write {signature(function, text)}; when it is ready, run:")
            lines += [f'# check("{check_id}", {f})' for check_id, f in checks if f == function]
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": "\n".join(lines)}
        if with_ids:  # nbformat 4.5 wants an id on every cell (4.4 allows none)
            cell["id"] = f"todo-{inside}"[:64]
        return cell

    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] != "markdown":
            if inside is not None:
                removed.append(src)
                continue
            if cell["cell_type"] == "code" and not keep_outputs:
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
    if not keep_outputs:
        nb.get("metadata", {}).pop("widgets", None)
    return nb


def student_notebook(path: Path) -> dict:
    """The notebook students open in Jupyter or Colab: no solutions, no outputs, plain Markdown."""
    number = chapter_number(path)
    nb = strip_solutions(chapters.read_nb(path), number)
    return plain_markdown(nb, number, Bibliography(chapters.ROOT / "book" / "references.bib"))


def student_config() -> str:
    """``_config.yml`` with ``_config.student.yml`` merged over it (mappings merge, values replace)."""
    import yaml

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    base = yaml.safe_load((chapters.ROOT / "_config.yml").read_text(encoding="utf-8"))
    over = yaml.safe_load(OVERRIDES.read_text(encoding="utf-8")) or {}
    header = "# Generated by tools/student_notebooks.py: _config.yml with _config.student.yml merged over it.\n"
    return header + yaml.safe_dump(merge(base, over), sort_keys=False, allow_unicode=True)


def prepare_book_sources(dest: Path = BOOK_SRC) -> Path:
    """Write the student book's sources to ``dest`` (replacing it): the book's pages, the student
    config, and the solution-free chapters (MyST and outputs kept) in ``student/``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(chapters.ROOT / "book", dest / "book")
    (dest / "_config.yml").write_text(student_config(), encoding="utf-8")
    toc = (chapters.ROOT / "_toc.yml").read_text(encoding="utf-8")
    (dest / "_toc.yml").write_text(re.sub(r"(file:\s*)chapters/", rf"\g<1>{STUDENT_DIR}/", toc), encoding="utf-8")
    for page in (dest / "book").glob("*.md"):  # links from the pages to the chapters follow them
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("../chapters/", f"../{STUDENT_DIR}/"), encoding="utf-8")
    (dest / STUDENT_DIR).mkdir()
    for path in chapters.chapter_paths():
        nb = strip_solutions(chapters.read_nb(path), keep_outputs=True)
        chapters.write_nb(dest / STUDENT_DIR / path.name, nb)
    return dest


def build_book(src: Path = BOOK_SRC, html: Path = BOOK_HTML) -> int:
    """Build the student HTML book from ``src`` into ``html`` with Jupyter Book (as ``make book``)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    out = src.parent / "jb"
    run = subprocess.run([str(jupyter_book), "build", str(src), "--path-output", str(out), "-W", "-n", "--keep-going"])
    if run.returncode == 0:
        if html.exists():
            shutil.rmtree(html)
        shutil.move(str(out / "_build" / "html"), str(html))
        print(f"wrote {html}/index.html")
    return run.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-book", action="store_true", help="write the notebooks only, not the HTML book")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for path in chapters.chapter_paths():
        chapters.write_nb(OUT / path.name, student_notebook(path))
        print(f"wrote {OUT / path.name}")
    if args.no_book:
        return 0
    prepare_book_sources()
    return build_book()


if __name__ == "__main__":
    sys.exit(main())
