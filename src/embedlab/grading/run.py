"""Running one student's notebook headless, so that nothing in it can stop the grading.

Used by :mod:`embedlab.grade` (the module docstring there says what is and is not contained).
Each notebook is copied into its own fresh temporary folder and executed top to bottom in a fresh
kernel (nbclient) running this Python, with the working directory, ``HOME`` and ``TMPDIR`` pointed
into that folder. A cell past its time limit is interrupted (like the stop button) and the notebook
goes on; past the notebook's limit no further cell runs; a cell that raises does not stop the
notebook; kept output is capped; a kernel that ignores the interrupt is killed, and so is the
kernel's process group after each notebook. Then one more cell (:mod:`embedlab.grading.kernel`)
runs the hidden checks and prints each result as data; only those lines, carrying a random
per-run token, are read back.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from embedlab.exercises import CheckResult, Failure
from embedlab.grading.kernel import GRADING_CELL_MARK, SENTINEL, grading_source
from embedlab.grading.submissions import Submission

__all__ = ["Outcome", "grade_notebook", "kernelspec", "parse_results"]


@dataclass
class Outcome:
    """What grading one notebook gave: a result per exercise and what went wrong running it."""

    student: str
    path: Path
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. "cell 3 (`while True:`) ... was interrupted"
    seconds: float = 0.0
    workdir: Path | None = None  # kept only with keep=True
    submitted: str = ""  # the notebook's modification time, ISO 8601 UTC

    @property
    def passed(self) -> int:
        return sum(bool(r) for r in self.results)


def _size(content: dict[str, Any]) -> int:
    """Characters an output message would add to the notebook (roughly; only used for the cap)."""
    n = len(content.get("text", "")) + len(content.get("evalue", ""))
    n += sum(len(line) for line in content.get("traceback", []))
    for value in content.get("data", {}).values():
        n += len(value) if isinstance(value, str) else len(json.dumps(value))
    return n


_CLIENT: type | None = None


def _client_class() -> type:
    """A NotebookClient that caps kept output and, on a cell timeout, interrupts once, then gives up."""
    global _CLIENT
    if _CLIENT is not None:
        return _CLIENT
    import nbformat
    from jupyter_core.utils import ensure_async
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    class GradingClient(NotebookClient):
        cap = 1_000_000
        kept = 0
        truncated = False
        interrupted = False
        grading_index = -1
        token = ""
        results: list[str]

        def output(self, outs: list[nbformat.NotebookNode], msg: dict[str, Any], display_id: str | None,
                   cell_index: int) -> nbformat.NotebookNode | None:
            content = msg.get("content", {})
            text = content.get("text", "")
            # The grading cell's result lines are collected as they arrive, whichever cell the kernel
            # filed them under (under load, ipykernel may flush a stream under the previous cell).
            if self.token and content.get("name") == "stdout" and f"{SENTINEL} {self.token} " in text:
                self.results.append(text)
                return super().output(outs, msg, display_id, cell_index) if cell_index == self.grading_index else None
            # Anything else counts against the cap.
            if cell_index != self.grading_index or SENTINEL not in text:
                self.kept += _size(content)
                if self.kept > self.cap:
                    if not self.truncated:
                        self.truncated = True
                        note = f"[embedlab.grade: output cut here, past {self.cap:,} characters]\n"
                        outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
                    return None
            return super().output(outs, msg, display_id, cell_index)

        async def _async_handle_timeout(self, timeout: int,
                                        cell: nbformat.NotebookNode | None = None) -> dict[str, Any] | None:
            if not self.interrupted:  # first time: the stop button; wait up to `timeout` again for the reply
                self.interrupted = True
                assert self.km is not None  # a cell timed out, so its kernel is running (nbclient asserts the same)
                await ensure_async(self.km.interrupt_kernel())
                return None
            # cast: nbclient annotates cell as NotebookNode but handles None ("Cell contents not found.")
            raise CellTimeoutError.error_from_timeout_and_cell("the kernel ignored the interrupt", timeout,
                                                               cast(nbformat.NotebookNode, cell))

    _CLIENT = GradingClient
    return _CLIENT


def _kernel_env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    (workdir / ".tmp").mkdir(exist_ok=True)
    # Keep what the course needs from the real home (user site-packages, caches) while HOME moves.
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    env.setdefault("MPLCONFIGDIR", os.path.join(config, "matplotlib"))  # no font-cache rebuild per student
    env.setdefault("EMBEDLAB_DATA", os.path.expanduser("~/.cache/embedlab"))
    env.setdefault("PYTHONUSERBASE", site.getuserbase())
    env.update(HOME=str(workdir), TMPDIR=str(workdir / ".tmp"), IPYTHONDIR=str(workdir / ".ipython"))
    for key in [k for k in env if k.startswith(("JPY_", "JUPYTER_", "IPY_"))]:
        del env[key]
    return env


def _first_line(source: str) -> str:
    line = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
    return line if len(line) <= 40 else line[:37] + "..."


def _error_summary(outputs: list[Any]) -> str | None:
    for out in outputs:
        if out.get("output_type") == "error":
            value = (out.get("evalue") or "").strip().splitlines()
            text = value[0] if value else ""
            text = text if len(text) <= 160 else text[:157] + "..."
            return f"{out.get('ename', 'an error')}{': ' + text if text else ''}"
    return None


async def _execute(nb: Any, workdir: Path, kernel_dirs: str, ids: list[str], settings: dict[str, Any],
                   outcome: Outcome) -> str:
    """Run the student's cells, then the grading cell; returns the grading cell's stdout."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    token = secrets.token_hex(8)
    n_student = len(nb.cells)
    results_file = workdir.parent / f"{workdir.name}.results"
    nb.cells.append(nbformat.v4.new_code_cell(grading_source(ids, settings["check_timeout"], token, str(results_file))))
    specs = KernelSpecManager(kernel_dirs=[kernel_dirs])
    km = AsyncKernelManager(kernel_name="embedlab-grade", kernel_spec_manager=specs)
    client = _client_class()(nb, km=km, timeout=1, allow_errors=True, record_timing=False,
                             iopub_timeout=60, startup_timeout=120)
    client.cap, client.grading_index, client.token, client.results = settings["max_output"], n_student, token, []
    log = open(workdir.parent / f"{workdir.name}.kernel.log", "wb")  # noqa: SIM115 - closed below
    pgid = None
    stdout = ""
    try:
        await client.async_start_new_kernel(env=_kernel_env(workdir), cwd=str(workdir), stdout=log, stderr=log,
                                            stdin=subprocess.DEVNULL)
        pgid = getattr(km.provisioner, "pgid", None)
        await client.async_start_new_kernel_client()
        deadline = time.monotonic() + settings["notebook_timeout"]
        alive = True
        for index, cell in enumerate(nb.cells[:n_student]):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            where = f"cell {index + 1} (`{_first_line(cell.source)}`)"
            left = deadline - time.monotonic()
            if left <= 0:
                outcome.problems.append(f"the notebook ran past its {settings['notebook_timeout']:g} s limit: "
                                        f"{where} and the cells after it were not run")
                break
            client.timeout = max(1, math.ceil(min(settings["timeout"], left)))
            client.interrupted = False
            try:
                await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                outcome.problems.append(f"the kernel died while running {where} (os._exit, exit(), a crash or "
                                        "running out of memory); nothing could be checked")
                alive = False
                break
            except CellTimeoutError:
                outcome.problems.append(f"{where} ran past {client.timeout} s and ignored the interrupt, so the "
                                        "kernel was stopped; nothing could be checked")
                alive = False
                break
            if client.interrupted:
                outcome.problems.append(f"{where} ran past {client.timeout} s and was interrupted")
            elif (error := _error_summary(cell.outputs)) is not None:
                outcome.problems.append(f"{where} raised {error}")
        if client.truncated:
            outcome.problems.append(f"the notebook printed more than {settings['max_output']:,} characters; "
                                    "the rest of its output was not kept")
        if alive:
            grading = nb.cells[n_student]
            client.timeout, client.interrupted = max(1, math.ceil(settings["grading_timeout"])), False
            try:
                await client.async_execute_cell(grading, n_student, execution_count=client.code_cells_executed + 1)
            except (DeadKernelError, CellTimeoutError) as e:
                what = "the kernel died" if isinstance(e, DeadKernelError) else "they ran past the grader's limit"
                outcome.problems.append(f"the checks did not finish: {what}")
            stdout = "".join(client.results)
            with contextlib.suppress(OSError):
                stdout += "\n" + results_file.read_text(encoding="utf-8")
            error = _error_summary(grading.outputs)
            if error:
                outcome.problems.append(f"the checks could not run: {error}")
        return "\n".join(line for line in stdout.splitlines() if line.startswith(f"{SENTINEL} {token} "))
    finally:
        with contextlib.suppress(Exception):
            if client.kc is not None:
                client.kc.stop_channels()
        with contextlib.suppress(Exception):
            if await km.is_alive():
                await km.shutdown_kernel(now=True)
        if pgid and hasattr(os, "killpg") and pgid != os.getpgid(0):
            with contextlib.suppress(OSError):  # whatever the notebook started and left running
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await km.cleanup_resources()
        log.close()


def parse_results(lines: str, ids: list[str], totals: dict[str, int], problems: list[str]) -> list[CheckResult]:
    """The results the grading cell printed (the first per exercise), a "not checked" result for
    each exercise it did not report; malformed lines are skipped."""
    got: dict[str, CheckResult] = {}
    for line in lines.splitlines():
        try:
            row = json.loads(line.split(" ", 2)[2])
            eid, passed, total, message = row["exercise"], int(row["passed"]), int(row["total"]), str(row["message"])
            failures = [Failure(int(n), str(label), str(kind), str(reason))
                        for n, label, kind, reason in row.get("failures", [])]
        except (IndexError, KeyError, TypeError, ValueError, AttributeError):
            continue
        if eid in totals and eid not in got:
            total = total if total >= 0 else totals[eid]
            got[eid] = CheckResult(eid, max(0, min(passed, total)), total, message, failures)
    reason = problems[-1] if problems else "the checks printed no result"
    return [got[e] if e in got else CheckResult(e, 0, totals[e], f"[{e}] not checked: {reason}.") for e in ids]


def kernelspec(root: Path) -> str:
    """A kernelspec under ``root`` that runs this Python (whatever kernels are installed); its folder."""
    from ipykernel.kernelspec import make_ipkernel_cmd

    spec = root / "kernels" / "embedlab-grade"
    spec.mkdir(parents=True, exist_ok=True)
    argv = make_ipkernel_cmd(executable=sys.executable)  # this Python, whatever kernels are installed
    spec_json = {"argv": argv, "display_name": "embedlab grader", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    return str(spec.parent)


def grade_notebook(sub: Submission, ids: list[str], root: Path, settings: dict[str, Any],
                   totals: dict[str, int]) -> Outcome:
    """Grade one submission in a fresh folder under ``root`` and a fresh kernel (see the module docstring).

    The executed notebook goes to ``settings["out"] / "executed" / (settings["file_names"][student] + ".ipynb")``;
    in a marked feedback mode (not ``"full"``) without the grading cell's output, which quotes the verdicts.
    """
    import nbformat

    start = time.monotonic()
    student, path, nb = sub.student, sub.path, sub.notebook
    outcome = Outcome(student, path, submitted=sub.submitted)
    if isinstance(nb, Exception):
        outcome.problems.append(f"the notebook could not be read: {type(nb).__name__}: {str(nb)[:160]}")
        outcome.results = parse_results("", ids, totals, outcome.problems)
        outcome.seconds = time.monotonic() - start
        return outcome
    workdir = Path(tempfile.mkdtemp(prefix="submission-", dir=root))
    shutil.copy2(path, workdir / path.name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    try:
        from jupyter_core.utils import run_sync  # also works where an event loop already runs (a notebook)

        lines = run_sync(_execute)(nb, workdir, settings["kernel_dirs"], ids, settings, outcome)
    except Exception as e:  # noqa: BLE001 - e.g. the kernel would not start: this student only
        outcome.problems.append(f"the grader could not run the notebook: {type(e).__name__}: {str(e)[:160]}")
        lines = ""
    outcome.results = parse_results(lines, ids, totals, outcome.problems)
    executed = settings["out"] / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    if settings["feedback"] != "full" and nb.cells and nb.cells[-1].source.startswith(GRADING_CELL_MARK):
        nb.cells[-1].outputs = []  # the grading cell (the last, appended by _execute)
    with contextlib.suppress(Exception):
        nbformat.write(nb, executed / f"{settings['file_names'][student]}.ipynb")
    if settings["keep"]:
        outcome.workdir = workdir
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        (workdir.parent / f"{workdir.name}.kernel.log").unlink(missing_ok=True)
        (workdir.parent / f"{workdir.name}.results").unlink(missing_ok=True)
    outcome.seconds = time.monotonic() - start
    return outcome
