"""Shared helpers for the chapter notebooks: the bootstrap cell, the chapter list, run times.

Used by ``tools/execute_chapters.py`` (``make execute``) and by ``tests/test_chapters.py``.

The first cell of every chapter is generated from :func:`bootstrap_source` so that the repository
URL in ``_config.yml`` stays the single source of truth::

    python -m tools.chapters bootstrap            # rewrite cell 0 of every chapter
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
RUNTIMES_PAGE = ROOT / "book" / "runtimes.md"
BUDGET_S = 90.0  # per chapter, on 2 CPU cores

# Modules each chapter needs beyond embedlab's core; the bootstrap installs embedlab[course]
# when any of them is missing.
DEFAULT_EXTRA = ["embedlab", "sklearn"]


def repo_url() -> str:
    """The repository URL from ``_config.yml`` (parsed without a YAML dependency)."""
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.M)
    if not m:
        raise SystemExit("_config.yml has no repository.url")
    return m.group(1).rstrip("/")


def bootstrap_source(modules: list[str] | None = None, debian: dict[str, str] | None = None) -> str:
    """Source of the first cell of a chapter: install the package only where it is missing.

    ``debian``: ``{package: file it provides}`` for data that comes from a Debian package (chapter
    10's WordNet). Where the file is missing and the kernel runs as root with apt-get (Colab), the
    cell installs the package quietly; elsewhere the chapter's loader says what to install.
    """
    modules = modules or DEFAULT_EXTRA
    apt = ""
    if debian:
        apt = (
            "import shutil\n"
            f"missing = [p for p, f in {debian!r}.items() if not os.path.exists(f)]\n"
            "if missing and shutil.which('apt-get') and os.geteuid() == 0:\n"
            "    install = ['apt-get', 'install', '-y', '-qq', *missing]\n"
            "    if subprocess.run(install, capture_output=True).returncode:  # a fresh image may lack package lists\n"
            "        subprocess.run(['apt-get', 'update', '-qq'], capture_output=True)\n"
            "        subprocess.run(install, capture_output=True)\n"
        )
    return (
        "# Setup for Colab, Binder or any fresh kernel: installs the course package only if it is missing.\n"
        "import importlib.util, os, subprocess, sys\n"
        "# A laptop is never idle: OpenMP threads spin-waiting for a busy core made PyTorch up to 30x slower.\n"
        "os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # they sleep instead (read when torch loads)\n"
        f"if any(importlib.util.find_spec(m) is None for m in {modules!r}):\n"
        "    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q',\n"
        f"                    'embedlab[course] @ git+{repo_url()}'], check=True)\n"
        f"{apt}"
        "import embedlab\n"
        "print('embedlab', embedlab.__version__)"
    )


def bootstrap_debian(source: str) -> dict[str, str] | None:
    """The ``{package: file}`` map written in a bootstrap cell, or None if it installs no Debian package."""
    m = re.search(r"for p, f in (\{[^}]*\})\.items\(\)", source)
    return json.loads(m.group(1).replace("'", '"')) if m else None


def bootstrap_modules(source: str) -> list[str] | None:
    """The module list written in an existing bootstrap cell (None if it is not one)."""
    m = re.search(r"find_spec\(m\) is None for m in (\[[^\]]*\])", source)
    if not m:
        return None
    return json.loads(m.group(1).replace("'", '"'))


def chapter_paths() -> list[Path]:
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def select_chapters(names: list[str] | None) -> list[Path]:
    """The chapters ``names`` asks for (``02_similarity``, ``chapters/02_similarity.ipynb``; none: all),
    in book order. An unknown name is an error (``ValueError``), never silently skipped."""
    paths = chapter_paths()
    if not names:
        return paths
    wanted = {n.removesuffix(".ipynb").split("/")[-1] for n in names}
    if missing := wanted - {p.stem for p in paths}:
        raise ValueError(f"unknown chapters: {sorted(missing)}")
    return [p for p in paths if p.stem in wanted]


def toc_files() -> list[str]:
    """Every ``file:`` entry in ``_toc.yml``, in order (plus the root)."""
    text = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    root = re.search(r"^root:\s*(\S+)", text, flags=re.M)
    files = re.findall(r"^\s*-?\s*file:\s*(\S+)", text, flags=re.M)
    return ([root.group(1)] if root else []) + files


def read_nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def runtime_of(nb: dict) -> float | None:
    return nb.get("metadata", {}).get("embedlab", {}).get("runtime_s")


def runtimes_page() -> str:
    """The text of ``book/runtimes.md``, built from the run times stored in each chapter."""
    rows = []
    total = 0.0
    for path in chapter_paths():
        nb = read_nb(path)
        meta = nb.get("metadata", {}).get("embedlab", {})
        t = meta.get("runtime_s")
        title = next(
            (line.lstrip("# ").strip() for c in nb["cells"] if c["cell_type"] == "markdown"
             for line in "".join(c["source"]).splitlines() if line.startswith("# ")),
            path.stem,
        )
        rows.append(f"| [{title}](../chapters/{path.stem}.ipynb) | {t:.0f} s | {meta.get('environment', '')} |"
                    if t is not None else f"| {title} | not yet measured | |")
        total += t or 0.0
    page = (
        "# Run times\n\n"
        "Every chapter is executed top to bottom in a fresh kernel by `make execute`, which also\n"
        "records how long it took; this page is regenerated from those records. The budget is\n"
        f"**{BUDGET_S:.0f} s per chapter on 2 idle CPU cores with no GPU**, measured on an idle machine.\n"
        "`make test` fails if a chapter's stored time exceeds the budget or if this table is stale.\n"
        "When the suite re-runs the chapters it reports their times too and never fails on them: a\n"
        "re-run measures the machine's load as much as the chapter (the machines this book is built on\n"
        "drift two to three times in speed within a day, and a reader's laptop is never idle).\n\n"
        "| chapter | time on 2 CPU cores | where it ran |\n|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nAll chapters together: {total:.0f} s.\n"
    )
    return page


def write_runtimes_page() -> str:
    """Regenerate ``book/runtimes.md`` from the run times stored in each chapter's metadata."""
    page = runtimes_page()
    RUNTIMES_PAGE.write_text(page, encoding="utf-8")
    return page


def set_bootstrap_cells() -> None:
    for path in chapter_paths():
        nb = read_nb(path)
        first = nb["cells"][0]
        source = "".join(first["source"])
        modules = bootstrap_modules(source) if first["cell_type"] == "code" else None
        src = bootstrap_source(modules, bootstrap_debian(source))
        if modules is None:
            raise SystemExit(f"{path.name}: the first cell is not a bootstrap cell; add one by hand first")
        first["source"] = src.splitlines(keepends=True)
        # Colab and Binder readers need the cell; readers of the HTML book do not.
        first.setdefault("metadata", {})["tags"] = ["remove-cell"]
        write_nb(path, nb)
        print(f"{path.name}: bootstrap cell updated")


if __name__ == "__main__":
    if sys.argv[1:] == ["bootstrap"]:
        set_bootstrap_cells()
    elif sys.argv[1:] == ["runtimes"]:
        print(write_runtimes_page())
    else:
        raise SystemExit("usage: python -m tools.chapters bootstrap|runtimes")
