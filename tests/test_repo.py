"""Repository promises: lower-bound pins only in the package, exact pins only for make/Binder,
one repository URL, and CI running exactly `make test`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import chapters as ch  # tools/chapters.py

ROOT = Path(__file__).resolve().parents[1]


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_package_requirements_are_lower_bounds_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    for req in reqs:
        assert "==" not in req and "~=" not in req, f"exact pin in pyproject.toml: {req}"
    assert "torch>=2.5" in project["dependencies"]


def test_make_test_lowest_pins_every_declared_dependency_at_its_bound():
    import lowest  # tools/lowest.py

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = list(pyproject["project"]["optional-dependencies"])
    bounds = lowest.lower_bounds(pyproject, extras)
    reqs = list(pyproject["project"]["dependencies"]) + [
        r for extra in pyproject["project"]["optional-dependencies"].values() for r in extra
    ]
    names = {lowest._key(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in reqs} - {"embedlab"}
    assert set(bounds) == names
    assert bounds["torch"] == "2.5" and bounds["jupyter-book"] == "1.0"  # ">=1.0,<2": the lower bound
    assert lowest.main(["--python"]) == 0
    with pytest.raises(ValueError, match="lower bound"):
        lowest.lower_bounds({"project": {"name": "x", "dependencies": ["numpy"]}}, [])
    with pytest.raises(KeyError, match="extra"):
        lowest.lower_bounds({"project": {"name": "x", "dependencies": []}}, ["nope"])


def test_environment_yml_matches_constraints_and_uses_cpu_torch():
    env = (ROOT / "environment.yml").read_text()
    pins = _constraints()
    found = re.findall(r"^\s+- ([A-Za-z0-9_.-]+)==(\S+)$", env, flags=re.M)
    assert found, "environment.yml pins nothing"
    for name, version in found:
        key = name.lower().replace("_", "-")
        assert key in pins, f"{name} is pinned in environment.yml but not in constraints.txt"
        assert pins[key] == version, f"{name}: environment.yml {version} vs constraints.txt {pins[key]}"
    assert "whl/cpu" in env, "Binder must install a CPU-only torch"
    torch_make = re.search(r"^TORCH_VERSION\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    assert pins["torch"] == torch_make == dict(found)["torch"]


def test_ci_runs_exactly_make_test():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == "make test"


def test_repository_url_lives_in_config_and_drives_the_bootstrap():
    config = (ROOT / "_config.yml").read_text()
    assert config.count(ch.repo_url()) == 1
    assert "colab_url" in config and "binderhub_url" in config
    assert ch.repo_url() in ch.bootstrap_source(["embedlab"])


def test_make_test_lints_and_checks_the_chapters_under_portable_kernels():
    makefile = (ROOT / "Makefile").read_text()
    test_deps = re.search(r"^test:(.*)$", makefile, flags=re.M).group(1).split()
    for target in ("lint", "test-unit", "test-notebooks", "test-notebooks-portable", "test-browser"):
        assert target in test_deps, f"make test does not run {target}"
    portable = re.search(r"^test-notebooks-portable:.*\n\t(.*)$", makefile, flags=re.M).group(1)
    assert "tools/kernels.py portable" in portable and "$(NBVAL_ARGS)" in portable
    assert "ruff" in _constraints(), "ruff must be pinned in constraints.txt"


def test_kernel_settings_reach_the_libraries():
    """Each setting of tools/kernels.py really changes what torch, NumPy and OpenBLAS run."""
    import kernels  # tools/kernels.py

    shown = {s: kernels.describe(s) for s in ("avx2", "portable")}
    torch_portable = shown["portable"].split(";")[0]
    assert torch_portable in ("torch DEFAULT", "torch NO AVX"), shown  # "NO AVX": older torch (2.5) names it so
    if not kernels.X86:  # elsewhere only PyTorch's kernels are forced (see tools/kernels.py)
        return
    assert "Nehalem" in shown["portable"]
    assert "AVX512" not in shown["avx2"].split(";")[0]
    import numpy as np

    umath = (getattr(np, "_core", None) or np.core)._multiarray_umath
    names = kernels.SETTINGS["portable"]["NPY_DISABLE_CPU_FEATURES"].split()
    if not set(names) <= set(umath.__cpu_dispatch__) | set(umath.__cpu_baseline__):
        # NumPy 1.x (pyproject.toml allows 1.24; make test-lowest) names its kernels AVX2, AVX512F, ...:
        # it warns and ignores the whole variable. make test pins the NumPy these names are for.
        pytest.skip(f"NumPy {np.__version__} does not know the CPU feature groups {names}")
    assert "numpy SIMD baseline" in shown["portable"]
    assert "X86_V4" not in shown["avx2"]
