"""The package layout: one home per concept, the concept map kept in step, no re-export shims."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import embedlab

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    info.name for info in pkgutil.iter_modules(embedlab.__path__) if info.name != "checks"
)  # the chapters' hidden exercise cases are not concepts
SUBMODULES = sorted(
    f"data.{info.name}" for info in pkgutil.iter_modules(importlib.import_module("embedlab.data").__path__)
)


def concept_map_problems(concepts) -> list[str]:
    """What is wrong with a concept map: a row whose module does not import, or whose names are not
    importable from it, not in its ``__all__`` or defined elsewhere (a re-export); a module of the
    package without a row; a chapter that does not exist."""
    problems = []
    chapters = {int(p.name[:2]) for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")}
    for row in concepts:
        where = f"row {row.concept[:40]!r} (embedlab.{row.module})"
        try:
            module = importlib.import_module(f"embedlab.{row.module}")
        except ImportError as e:
            problems.append(f"{where}: {e}")
            continue
        if not row.names:
            problems.append(f"{where}: names no public name")
        for name in row.names:
            if not hasattr(module, name):
                problems.append(f"{where}: cannot import {name} from it")
                continue
            if name not in getattr(module, "__all__", [name]):
                problems.append(f"{where}: {name} is not in its __all__")
            home = getattr(getattr(module, name), "__module__", module.__name__)
            if home != module.__name__:
                problems.append(f"{where}: {name} lives in {home}")
        if row.chapters != "all":
            for part in row.chapters.split(","):
                low, _, high = part.strip().partition("-")
                if not {int(low), int(high or low)} <= chapters:
                    problems.append(f"{where}: no chapter {part.strip()}")
    mapped = {row.module for row in concepts}
    for name in MODULES + SUBMODULES:
        if not name.startswith("_") and name not in mapped and not any(m.startswith(f"{name}.") for m in mapped):
            problems.append(f"embedlab.{name} has no row in the concept map")
    return problems


def test_the_concept_map_imports_every_name_of_every_row_from_its_module():
    assert concept_map_problems(embedlab.CONCEPTS) == []


def test_a_wrong_row_fails_the_concept_map(monkeypatch):
    # the cosine-softmax classifier under vmf (as the map once said): it lives in prototypes
    wrong = embedlab.Concept("the cosine-softmax classifier", "vmf", ("CosineClassifier",), "7")
    assert any("cannot import CosineClassifier" in p for p in concept_map_problems([*embedlab.CONCEPTS, wrong]))
    # a name re-exported through another module's namespace is not a home
    vmf = importlib.import_module("embedlab.vmf")
    monkeypatch.setattr(vmf, "cosine", importlib.import_module("embedlab.similarity").cosine, raising=False)
    reexport = embedlab.Concept("cosine", "vmf", ("cosine",), "7")
    assert any("cosine is not in its __all__" in p for p in concept_map_problems([reexport]))
    monkeypatch.setattr(vmf, "__all__", [*vmf.__all__, "cosine"])
    assert any("cosine lives in embedlab.similarity" in p for p in concept_map_problems([reexport]))
    # a module that is gone, a row that is missing, a chapter that does not exist
    assert any("No module named" in p for p in concept_map_problems([embedlab.Concept("x", "nowhere", ("f",), "4")]))
    without_ann = [row for row in embedlab.CONCEPTS if row.module != "ann"]
    assert "embedlab.ann has no row in the concept map" in concept_map_problems(without_ann)
    assert any("no chapter 14" in p for p in concept_map_problems([embedlab.Concept("x", "ann", ("IVFIndex",), "14")]))


def test_the_docstring_table_is_the_concept_map():
    for row in embedlab.CONCEPTS:
        line = next(line for line in embedlab.__doc__.splitlines() if f" embedlab.{row.module} " in f"{line} ")
        assert line.rstrip().endswith(f" {row.chapters}"), line
        assert all(name in embedlab.__doc__ for name in row.names)
    assert embedlab.__doc__.count("embedlab._checks") and embedlab.__doc__.count("embedlab._rows")
    assert "float64" in embedlab.__doc__ and "torch" in embedlab.__doc__  # the boundary of the two worlds
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert "| concept | module |" not in contributing, "one copy of the map: the package's, not CONTRIBUTING's"


def test_importing_the_package_has_no_side_effects():
    code = ("import sys, embedlab; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'embedlab')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['embedlab']"


@pytest.mark.parametrize("name", MODULES)
def test_public_names_are_defined_where_they_are_exported(name):
    # After a move, importers change: a module never re-exports another module's function or class.
    module = importlib.import_module(f"embedlab.{name}")
    for attr in getattr(module, "__all__", []):
        obj = getattr(module, attr)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__module__ == module.__name__, f"embedlab.{name}.{attr} is {obj.__module__}.{attr}"
