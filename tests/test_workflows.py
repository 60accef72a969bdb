"""GitHub Actions: .github/workflows/book.yml publishes the book on Pages from main, test.yml runs
what CI runs (.ci/run, i.e. `make test`) and `make test-lowest` on every push and pull request.

The checks are functions of the parsed YAML, run on the real files and, to show that each one bites,
on copies broken one way at a time (MUTATIONS)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(text: str) -> dict:
    wf = yaml.safe_load(text)
    if True in wf:  # YAML 1.1 reads the key `on` as the boolean true
        wf["on"] = wf.pop(True)
    return wf


def readme_python() -> str:
    """The Python version the README asks for ("You need Python 3.11+")."""
    return re.search(r"Python (3\.\d+)\+", (ROOT / "README.md").read_text(encoding="utf-8")).group(1)


def _steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in _steps(job) if str(s.get("uses", "")).split("@")[0] == action]


def _job_running(wf: dict, command: str) -> tuple[str, dict]:
    pattern = re.compile(rf"(^|[\s;&|]){re.escape(command)}($|[\s;&|])", flags=re.M)
    found = [(name, job) for name, job in wf["jobs"].items() if pattern.search(_runs(job))]
    assert found, f"no job runs `{command}`"
    return found[0]


def _check_python(job_name: str, job: dict) -> None:
    setups = _uses(job, "actions/setup-python")
    assert setups, f"job {job_name} does not set up Python"
    for step in setups:
        version = str(step.get("with", {}).get("python-version"))
        assert version == readme_python(), f"job {job_name}: Python {version}, the README says {readme_python()}+"


def _permissions(wf: dict, job: dict) -> dict:
    """The job's token permissions: its own block replaces the workflow's."""
    return job.get("permissions", wf.get("permissions")) or {}


def check_book(wf: dict) -> None:
    on = wf["on"]
    assert on.get("push", {}).get("branches") == ["main"], "the book is published from pushes to main only"
    assert "workflow_dispatch" in on, "the book can be published by hand"
    assert set(on) == {"push", "workflow_dispatch"}, f"unexpected triggers {sorted(on)}"
    name, build = _job_running(wf, "make book")
    _check_python(name, build)
    runs = [i for i, s in enumerate(_steps(build)) if re.search(r"\bmake book\b", s.get("run", ""))]
    assert _uses(build, "actions/configure-pages"), "configure-pages is missing"
    uploads = _uses(build, "actions/upload-pages-artifact")
    assert len(uploads) == 1 and uploads[0].get("with", {}).get("path") == "_build/html", "Pages must get _build/html"
    assert _steps(build).index(uploads[0]) > runs[0], "the upload must follow the build"
    deploys = [(n, j) for n, j in wf["jobs"].items() if _uses(j, "actions/deploy-pages")]
    assert len(deploys) == 1, "one job deploys with actions/deploy-pages"
    deploy_name, deploy = deploys[0]
    needs = deploy.get("needs", [])
    assert name in ([needs] if isinstance(needs, str) else needs), "the deployment waits for the build"
    assert (deploy.get("environment") or {}).get("name") == "github-pages", "deploy to the github-pages environment"
    perms = _permissions(wf, deploy)
    assert perms.get("pages") == "write" and perms.get("id-token") == "write", f"deploy permissions {perms}"
    concurrency = deploy.get("concurrency", wf.get("concurrency")) or {}
    assert concurrency.get("group") and concurrency.get("cancel-in-progress") is False, (
        "deployments run one at a time, never cancelled half-way")


def check_test(wf: dict) -> None:
    on = wf["on"]
    assert "push" in on and "pull_request" in on, f"tests run on push and pull_request, got {sorted(on)}"
    for trigger in ("push", "pull_request"):
        assert not (on[trigger] or {}).get("branches"), f"{trigger} is limited to some branches"
    name, ci = _job_running(wf, "bash .ci/run")
    _check_python(name, ci)
    assert "apt.txt" in _runs(ci), "the CI job installs the Debian packages apt.txt lists"
    lowest_name, lowest = _job_running(wf, "make test-lowest")
    _check_python(lowest_name, lowest)
    assert (_permissions(wf, ci).get("contents") or "read") == "read", "tests need no write access"


MUTATIONS = [
    ("book.yml", "branches: [main]", "branches: [master]", "published from another branch"),
    ("book.yml", "  workflow_dispatch:\n", "", "no manual trigger"),
    ("book.yml", "run: make book", "run: make html", "another target"),
    ("book.yml", "path: _build/html", "path: _build", "the wrong folder"),
    ("book.yml", "id-token: write", "id-token: read", "no OIDC token"),
    ("book.yml", "  pages: write", "  pages: read", "no Pages write"),
    ("book.yml", "name: github-pages", "name: production", "another environment"),
    ("book.yml", "cancel-in-progress: false", "cancel-in-progress: true", "a deployment cancelled half-way"),
    ("book.yml", 'python-version: "3.11"', 'python-version: "3.12"', "another Python"),
    ("book.yml", "uses: actions/deploy-pages@v4", "uses: peaceiris/actions-gh-pages@v4", "not the official action"),
    ("book.yml", "    needs: build\n", "", "deploys before the build"),
    ("test.yml", "run: bash .ci/run", "run: make test-unit", "not what CI runs"),
    ("test.yml", "run: make test-lowest", "run: make test-unit", "no lowest-versions run"),
    ("test.yml", "  pull_request:\n", "", "no pull-request trigger"),
    ("test.yml", 'python-version: "3.11"', 'python-version: "3.10"', "another Python"),
    ("test.yml", "grep -o '^[^#]*' apt.txt | xargs", "echo", "no Debian packages"),
]


def _text(name: str) -> str:
    return (WORKFLOWS / name).read_text(encoding="utf-8")


CHECKS = {"book.yml": check_book, "test.yml": check_test}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_workflows_pass_their_checks(name):
    CHECKS[name](_load(_text(name)))


@pytest.mark.parametrize("name, old, new, why", MUTATIONS, ids=[m[3] for m in MUTATIONS])
def test_a_broken_workflow_fails_its_checks(name, old, new, why):
    text = _text(name)
    assert text.count(old) >= 1, f"the mutation no longer applies to {name}: {old!r}"
    with pytest.raises(AssertionError):
        CHECKS[name](_load(text.replace(old, new, 1)))


def test_the_make_targets_the_workflows_call_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    called = set()
    for name in CHECKS:
        called |= set(re.findall(r"\bmake ([a-z][a-z-]*)", _text(name)))
    assert {"book", "test-lowest"} <= called
    # test-lowest is being added to the Makefile by another change; until it lands it may be missing.
    assert called - targets <= {"test-lowest"}, f"the Makefile has no target {sorted(called - targets)}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == "make test", ".ci/run, which test.yml runs, ends in make test"
