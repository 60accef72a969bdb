"""The package layout: one home per concept, the concept map kept in step, no re-export shims."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import embedlab

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    info.name for info in pkgutil.iter_modules(embedlab.__path__) if info.name != "checks"
)  # the chapters' hidden exercise cases are not concepts


def test_every_module_is_in_the_concept_map():
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    layout = contributing[contributing.index("## Layout") : contributing.index("## The chapter contract")]
    for name in MODULES:
        assert re.search(rf"embedlab\.{name}\b", embedlab.__doc__), f"{name} missing from embedlab/__init__.py"
        file = f"`{name}/`" if (ROOT / "src" / "embedlab" / name).is_dir() else f"`{name}.py`"
        assert file in layout, f"{file} missing from CONTRIBUTING.md's Layout"


@pytest.mark.parametrize("name", MODULES)
def test_public_names_are_defined_where_they_are_exported(name):
    # After a move, importers change: a module never re-exports another module's function or class.
    module = importlib.import_module(f"embedlab.{name}")
    for attr in getattr(module, "__all__", []):
        obj = getattr(module, attr)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__module__ == module.__name__, f"embedlab.{name}.{attr} is {obj.__module__}.{attr}"
