"""Run every stage of ``make test``, even after one fails, then print one summary table.

    python -m tools.stages lint test-unit test-notebooks ...

Each stage is a Makefile target, run as ``make STAGE JUNIT=_build/stages/STAGE.xml``: the pytest
stages write a JUnit report there (the Makefile passes ``--junitxml=$(JUNIT)``), from which the
table lists the failing test ids; for ``lint`` they are ruff's ``path:line:col: CODE`` lines and mypy's
``path:line: error: ...  [code]`` lines. The
output of each stage streams to the terminal as it runs (a CI log shows progress) and is kept in
``_build/stages/STAGE.log``. The exit status is 0 only if every stage passed, so a newcomer sees
every failure of a run at once instead of one per run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_RUFF = re.compile(r"^(\S+?:\d+:\d+): ([A-Z]+\d+)\b", flags=re.M)
_MYPY = re.compile(r"^(\S+?:\d+): error: .*\[([a-z][a-z-]*)\]$", flags=re.M)
_SHOWN = 8  # failing ids listed per stage in the table (all of them are in the stage's log)


@dataclass
class Stage:
    name: str
    returncode: int = -1
    seconds: float = 0.0
    failing: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.returncode == 0


def failing_tests(junit: Path) -> list[str]:
    """The ids (``file::name``) of the failed or errored test cases in a JUnit XML report."""
    if not junit.is_file():
        return []
    try:
        root = ET.parse(junit).getroot()
    except ET.ParseError:
        return [f"(unreadable report {junit.name})"]
    ids = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            module = case.get("file") or case.get("classname", "").replace(".", "/")
            ids.append(f"{module}::{case.get('name')}")
    return ids


def run_stage(name: str, make: str = "make", root: Path = ROOT) -> Stage:
    out = root / "_build" / "stages"
    out.mkdir(parents=True, exist_ok=True)
    junit, log_path = out / f"{name}.xml", out / f"{name}.log"
    junit.unlink(missing_ok=True)
    stage = Stage(name)
    print(f"\n===== make {name} =====", flush=True)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([make, "--no-print-directory", name, f"JUNIT={junit}"], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:  # stream and keep
            sys.stdout.write(line)
            log.write(line)
        stage.returncode = proc.wait()
    stage.seconds = time.monotonic() - start
    if not stage.passed:
        log = log_path.read_text(encoding="utf-8")
        stage.failing = failing_tests(junit) or [m.group(1) + " " + m.group(2)
                                                 for pattern in (_RUFF, _MYPY) for m in pattern.finditer(log)]
    return stage


def table(stages: list[Stage]) -> str:
    rows = [("stage", "result", "seconds", "failing")]
    for s in stages:
        shown = s.failing[:_SHOWN] + ([f"... {len(s.failing) - _SHOWN} more"] if len(s.failing) > _SHOWN else [])
        detail = "; ".join(shown) or ("" if s.passed else f"(see _build/stages/{s.name}.log)")
        rows.append((s.name, "passed" if s.passed else f"FAILED ({s.returncode})", f"{s.seconds:.0f}", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def main(argv: list[str], root: Path = ROOT) -> int:
    if not argv or any(a.startswith("-") for a in argv):
        print("usage: python -m tools.stages STAGE [STAGE ...]   (Makefile targets, run in order)", file=sys.stderr)
        return 2
    make = os.environ.get("MAKE", "make")
    start = time.monotonic()
    stages = [run_stage(name, make, root) for name in argv]
    failed = [s.name for s in stages if not s.passed]
    print(f"\n===== make test: {len(stages) - len(failed)} of {len(stages)} stages passed "
          f"in {time.monotonic() - start:.0f} s =====")
    print(table(stages), flush=True)
    if failed:
        print(f"FAILED stages: {', '.join(failed)} (each stage's full output: _build/stages/STAGE.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
