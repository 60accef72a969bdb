"""How far do the chapters' printed numbers move between CPU kernel settings?

    python -m tools.kernel_spread execute native avx2 portable [--chapters 04_contrastive ...]
    python -m tools.kernel_spread report [--chapters ...]

``execute`` runs each chapter in a fresh kernel under each setting of ``tools/kernels.py`` and keeps
the executed copies in ``_build/spread/SETTING/``; the stored chapters are not touched. ``report``
compares every copy with the stored chapter, cell by cell, the way the suite does
(``tools/nbcompare.py``), and prints each cell that would fail: the text that differs, or the
largest numeric difference with the tolerance it would need. Use it to size a cell's tolerance
(``metadata.embedlab.tolerance``) from a measured spread, never a guess.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import nbformat

from . import chapters, execute_chapters, kernels, nbcompare

SPREAD = chapters.ROOT / "_build" / "spread"


def execute(settings: list[str], names: list[str] | None) -> None:
    base = dict(os.environ)
    for setting in settings:
        os.environ.clear()
        os.environ.update(kernels.environment(setting, base))  # the kernels inherit it
        print(f"[{setting}] {kernels.describe(setting)}", flush=True)
        out_dir = SPREAD / setting
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in chapters.select_chapters(names):
            start = time.perf_counter()
            try:
                execute_chapters.execute(path, out=out_dir / path.name)
                print(f"  {path.stem}: {time.perf_counter() - start:.1f} s", flush=True)
            except Exception as e:  # keep going: the report shows what is missing
                print(f"  {path.stem}: FAILED {type(e).__name__}: {str(e)[:1500]} ... {str(e)[-300:]}", flush=True)
    os.environ.clear()
    os.environ.update(base)


def report(names: list[str] | None) -> int:
    sanitize = nbcompare.load_sanitizers(chapters.ROOT / "tests" / "nbval_sanitize.cfg")
    failing = 0
    for path in chapters.select_chapters(names):
        stored = nbformat.read(path, as_version=4)
        for setting_dir in sorted(p for p in SPREAD.iterdir() if p.is_dir()) if SPREAD.exists() else []:
            copy_path = setting_dir / path.name
            if not copy_path.exists():
                continue
            fresh = nbformat.read(copy_path, as_version=4)
            for i, (a, b) in enumerate(zip(stored.cells, fresh.cells)):
                if a.cell_type != "code" or nbcompare.ignores_output(a):
                    continue
                for problem in nbcompare.cell_differences(a, b.outputs, sanitize):
                    failing += 1
                    print(f"{path.stem} cell {i} [{setting_dir.name}]: {problem}")
    print(f"{failing} differing outputs")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["execute", "report"])
    parser.add_argument("settings", nargs="*", default=list(kernels.SETTINGS))
    parser.add_argument("--chapters", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "execute":
        execute(args.settings, args.chapters)
        return 0
    return report(args.chapters)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
