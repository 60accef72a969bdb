"""Repository promises: lower-bound pins only in the package, exact pins only for make/Binder,
one repository URL, CI running exactly `make test`, and Binder getting the Debian packages the
chapters need."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tools import chapters as ch

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
    from tools import lowest

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


def _packages_in(requirements: list[str]) -> set[str]:
    return {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower().replace("_", "-") for r in requirements}


def test_binder_has_every_package_the_chapters_import_and_the_readmes_python():
    """postBuild installs embedlab with --no-deps, so environment.yml must pin every core and
    `course` requirement itself; its Python is the one the README names; recbole's pin is the Makefile's."""
    env = (ROOT / "environment.yml").read_text()
    pinned = {name.lower().replace("_", "-") for name in re.findall(r"^\s+- ([A-Za-z0-9_.-]+)==", env, flags=re.M)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = _packages_in(project["dependencies"] + project["optional-dependencies"]["course"])
    assert needed <= pinned, f"environment.yml lacks {sorted(needed - pinned)}"
    readme_python = re.search(r"Python (3\.\d+)\+", (ROOT / "README.md").read_text()).group(1)
    assert re.search(rf"^\s+- python={re.escape(readme_python)}$", env, flags=re.M), "environment.yml's python"
    recbole = re.compile(r"recbole==(\S+?)\"?$", flags=re.M)
    assert recbole.findall((ROOT / "postBuild").read_text()) == recbole.findall((ROOT / "Makefile").read_text())
    assert len(recbole.findall((ROOT / "Makefile").read_text())) == 1, "one recbole pin in the Makefile"


def _apt_txt() -> list[str]:
    """Package names in apt.txt, read as repo2docker reads it: '#' starts a comment, one name a line."""
    lines = (line.partition("#")[0].strip() for line in (ROOT / "apt.txt").read_text().splitlines())
    return [line for line in lines if line]


def _chapter_debian_packages() -> dict[str, set[str]]:
    """{Debian package: the chapters whose bootstrap cell installs it} (tools/chapters.py's map)."""
    out: dict[str, set[str]] = {}
    for path in ch.chapter_paths():
        source = "".join(ch.read_nb(path)["cells"][0]["source"])
        for package in ch.bootstrap_debian(source) or {}:
            out.setdefault(package, set()).add(path.stem)
    return out


def _ci_debian_packages() -> set[str]:
    """The Debian packages .ci/run installs when missing (its `missing+=(name)` lines)."""
    return set(re.findall(r"missing\+=\(([a-z0-9.+-]+)\)", (ROOT / ".ci" / "run").read_text()))


# Debian packages .ci/run installs that readers do not need: they build or test the book.
BUILD_AND_TEST_ONLY = {
    "chromium": "the browser tests (tests/browser)",
    "npm": "make book's offline MathJax and widget manager (tools/offline_assets.py)",
}


def test_apt_txt_lists_the_debian_packages_the_chapters_need():
    """The rule: apt.txt (Binder) lists exactly the Debian packages that a chapter's bootstrap cell
    installs, since Binder's user is not root and the cell cannot install them there; .ci/run installs
    each of them too, so that CI runs the chapters with them. What else .ci/run installs is for
    building or testing the book, never for readers, and stays out of apt.txt (Binder's image stays
    small): each such package is named, with its reason, in BUILD_AND_TEST_ONLY, so a new one in
    .ci/run fails here until someone decides which kind it is."""
    apt = _apt_txt()
    chapters = _chapter_debian_packages()
    ci = _ci_debian_packages()
    assert chapters, "no chapter bootstrap cell installs a Debian package: the parsing is broken"
    assert "wordnet-base" in chapters and {"10_retrieval", "11_limits"} <= chapters["wordnet-base"]
    assert len(apt) == len(set(apt)), f"apt.txt lists a package twice: {apt}"
    assert set(apt) == set(chapters), f"apt.txt {sorted(apt)} vs the chapters' bootstrap cells {sorted(chapters)}"
    assert set(chapters) <= ci, f".ci/run does not install {sorted(set(chapters) - ci)}"
    assert ci - set(chapters) == set(BUILD_AND_TEST_ONLY), (
        f"{sorted(ci - set(chapters) - set(BUILD_AND_TEST_ONLY))}: needed by readers (apt.txt and a bootstrap "
        "cell) or only by the build and tests (BUILD_AND_TEST_ONLY)?")
    assert not set(apt) & set(BUILD_AND_TEST_ONLY)


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


def test_make_test_runs_every_stage_and_checks_the_chapters_under_every_kernel_setting():
    makefile = (ROOT / "Makefile").read_text()
    stages = re.search(r"^TEST_STAGES\s*:=(.*)$", makefile, flags=re.M).group(1).split()
    assert stages == ["lint", "test-unit", "test-notebooks", "test-notebooks-avx2", "test-notebooks-portable",
                      "test-browser"]
    recipe = re.search(r"^test: setup\n\t(.*)$", makefile, flags=re.M).group(1)
    assert recipe == "$(BIN)/python -m tools.stages $(TEST_STAGES)"  # all stages, even after a failure
    for setting in ("avx2", "portable"):
        line = re.search(rf"^test-notebooks-{setting}:.*\n\t(.*)$", makefile, flags=re.M).group(1)
        assert f"-m tools.kernels {setting}" in line and "$(NBVAL_ARGS)" in line and "$(JUNIT_ARG)" in line
    for stage in stages[1:]:  # every pytest stage reports its failing ids to the summary
        line = re.search(rf"^{stage}:.*\n\t(.*)$", makefile, flags=re.M).group(1)
        assert "$(JUNIT_ARG)" in line, stage
    assert re.search(r"^export OMP_WAIT_POLICY \?= PASSIVE$", makefile, flags=re.M), "busy machines: see CONTRIBUTING"
    assert "ruff" in _constraints(), "ruff must be pinned in constraints.txt"
    assert "mypy" in _constraints(), "mypy must be pinned in constraints.txt"
    lint = re.search(r"^lint: setup\n((?:\t.*\n)+)", makefile, flags=re.M).group(1)
    assert "$(BIN)/python -m mypy src/embedlab" in lint, "make lint type-checks the package"


def test_kernel_settings_reach_the_libraries():
    """Each setting of tools/kernels.py really changes what torch, NumPy, faiss, Arrow and every OpenBLAS run."""
    from tools import kernels

    shown = {s: kernels.describe(s) for s in ("avx2", "portable")}
    torch_portable = shown["portable"].split(";")[0]
    assert torch_portable in ("torch DEFAULT", "torch NO AVX"), shown  # "NO AVX": older torch (2.5) names it so
    if not kernels.X86:  # elsewhere only PyTorch's kernels are forced (see tools/kernels.py)
        return
    assert "OpenBLAS ['Nehalem']" in shown["portable"]  # every copy (NumPy's, SciPy's, faiss's), not one
    assert "OpenBLAS ['Haswell']" in shown["avx2"] and "AVX512" not in shown["avx2"].split(";")[0]
    assert "arrow none" in shown["portable"] and "arrow avx2" in shown["avx2"]
    import faiss

    if hasattr(faiss, "SIMDConfig"):  # faiss >= 1.12 dispatches inside one library
        assert "faiss NONE" in shown["portable"] and "faiss AVX2" in shown["avx2"]
    else:  # older faiss: the loader picks one of its compiled variants
        assert "faiss swigfaiss;" in shown["portable"] and "faiss swigfaiss_avx2;" in shown["avx2"]
    import numpy as np

    umath = (getattr(np, "_core", None) or np.core)._multiarray_umath
    names = kernels.SETTINGS["portable"]["NPY_DISABLE_CPU_FEATURES"].split()
    if not set(names) <= set(umath.__cpu_dispatch__) | set(umath.__cpu_baseline__):
        # NumPy 1.x (pyproject.toml allows 1.24; make test-lowest) names its kernels AVX2, AVX512F, ...:
        # it warns and ignores the whole variable. make test pins the NumPy these names are for.
        pytest.skip(f"NumPy {np.__version__} does not know the CPU feature groups {names}")
    assert "numpy SIMD baseline" in shown["portable"]
    assert "X86_V4" not in shown["avx2"]


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = {t for t in re.findall(r"^([a-z][a-z0-9-]*):(?!=)", makefile, flags=re.M)} - {"help"}
    shown = subprocess.run(["make", "--no-print-directory", "-s", "help"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    listed = set(re.findall(r"make ([a-z][a-z0-9-]*)", shown))
    assert targets <= listed, f"make help does not list {sorted(targets - listed)}"
    assert listed <= targets, f"make help lists targets that do not exist: {sorted(listed - targets)}"


def test_chapter_selection_by_name_refuses_unknown_names():
    every = ch.chapter_paths()
    assert ch.select_chapters(None) == ch.select_chapters([]) == every
    assert [p.stem for p in ch.select_chapters(["chapters/12_scaling.ipynb", "02_similarity"])] == [
        "02_similarity", "12_scaling"]  # book order, either spelling
    with pytest.raises(ValueError, match=r"unknown chapters: \['02_similar'\]"):
        ch.select_chapters(["02_similar"])  # a typo is an error, never an empty run
