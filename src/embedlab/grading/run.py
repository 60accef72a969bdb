"""Running one student's notebook headless, so that nothing in it can stop the grading.

Used by :mod:`embedlab.grade` (the module docstring there says what is and is not contained).
Each notebook is copied into its own fresh temporary folder and executed top to bottom in a fresh
kernel (nbclient) running this Python, with the working directory, ``HOME`` and ``TMPDIR`` pointed
into that folder. A cell past its time limit is interrupted (like the stop button) and the notebook
goes on; past the notebook's limit no further cell runs; a cell that raises does not stop the
notebook; kept output is capped; a kernel that ignores the interrupt is killed, and so is the
kernel's process group after each notebook. Then one more cell (:mod:`embedlab.grading.kernel`)
runs the student's functions on the hidden inputs, which the grader writes into the folder only
now, and hands back what they returned as data; the grader reads that back
(:mod:`embedlab.grading.wire`, never unpickled) and judges it in its own process
(:func:`embedlab.exercises.judge`), against expected values that never entered the kernel.

Where the machine allows (:func:`embedlab.grading.sandbox.probe`), the kernel runs in a sandbox
(:mod:`embedlab.grading.sandbox`: no network, a read-only view of everything but its folder, the
class and output folders and the hidden checks out of sight, a memory limit, every process it
started killed and checked after the notebook) and talks to the grader over Unix sockets in its
folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
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

from embedlab import exercises
from embedlab.exercises import Case, CheckResult, Exercise
from embedlab.grading import sandbox, wire
from embedlab.grading.kernel import CASES_FILE, RUNS_FILE, grading_source
from embedlab.grading.submissions import Submission
from embedlab.timelimit import CaseRun

__all__ = ["HiddenCases", "Outcome", "cases_payload", "grade_notebook", "hidden_cases", "judge_runs", "kernelspec"]

MAX_RUNS_BYTES = 256 * 2**20
"""The most a kernel's runs file may hold; past it the rest is not read (and those cases fail)."""


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

        def output(self, outs: list[nbformat.NotebookNode], msg: dict[str, Any], display_id: str | None,
                   cell_index: int) -> nbformat.NotebookNode | None:
            self.kept += _size(msg.get("content", {}))
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


def _kernel_env(workdir: Path, sandboxed: bool) -> dict[str, str]:
    env = dict(os.environ)
    (workdir / ".tmp").mkdir(exist_ok=True)
    # Keep what the course needs from the real home (user site-packages, caches) while HOME moves.
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    mpl = os.environ.get("MPLCONFIGDIR") or os.path.join(config, "matplotlib")
    if sandboxed:  # read-only there: matplotlib wants a writable folder, so copy its font cache in
        (workdir / ".matplotlib").mkdir(exist_ok=True)
        for cache in Path(mpl).glob("fontlist-*.json"):
            shutil.copy2(cache, workdir / ".matplotlib" / cache.name)
        mpl = str(workdir / ".matplotlib")
    env["MPLCONFIGDIR"] = mpl  # no font-cache rebuild per student
    env.setdefault("EMBEDLAB_DATA", os.path.expanduser("~/.cache/embedlab"))
    env.setdefault("PYTHONUSERBASE", site.getuserbase())
    env.update(HOME=str(workdir), TMPDIR=str(workdir / ".tmp"), IPYTHONDIR=str(workdir / ".ipython"))
    env[exercises.GRADED_WORK] = "1"  # the notebook's own check() calls leave the checking to us
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


@dataclass
class HiddenCases:
    """One exercise's hidden cases as the grader holds them: the cases, and what the kernel is sent."""

    exercise: Exercise
    cases: list[Case]


def hidden_cases(exercise_ids: list[str]) -> dict[str, HiddenCases]:
    """The hidden cases of each exercise, built once in the grader's process for the whole class."""
    out = {}
    for eid in exercise_ids:
        ex = exercises._load(eid)
        out[eid] = HiddenCases(ex, list(ex.cases()))
    return out


def cases_payload(hidden: dict[str, HiddenCases], check_timeout: float) -> str:
    """The kernel's cases file: for each exercise the names to look the function up by, the
    functions it may not call, and each case's arguments in wire form. No expected value."""
    rows = []
    for eid, h in hidden.items():
        rows.append({"id": eid, "names": h.exercise.lookup_names, "forbids": list(h.exercise.forbids),
                     "timeout": check_timeout, "observe": h.exercise.observe,
                     "cases": [{"args": wire.encode(list(c.args)), "kwargs": wire.encode(dict(c.kwargs))}
                               for c in h.cases]})
    return json.dumps({"exercises": rows})


def _read_runs(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_RUNS_BYTES)
    except OSError:
        return ""


async def _execute(nb: Any, workdir: Path, ids: list[str], settings: dict[str, Any], outcome: Outcome) -> str:
    """Run the student's cells, then the grading cell; returns what the kernel wrote to its runs file."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    n_student = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(grading_source()))
    sandboxed = settings["sandbox"]
    kernels = kernelspec(workdir.parent / f"{workdir.name}.kernels", workdir if sandboxed else None,
                         hide=settings["hide"], memory_gb=settings["memory_gb"])
    specs = KernelSpecManager(kernel_dirs=[kernels])
    km = AsyncKernelManager(kernel_name="embedlab-grade", kernel_spec_manager=specs)
    if sandboxed:  # no network in there: Unix sockets in the work folder instead of TCP
        km.transport, km.ip = "ipc", str(workdir / ".ipc")
        km.connection_file = str(workdir / ".kernel.json")
    client = _client_class()(nb, km=km, timeout=1, allow_errors=True, record_timing=False,
                             iopub_timeout=60, startup_timeout=120)
    client.cap = settings["max_output"]
    log = open(workdir.parent / f"{workdir.name}.kernel.log", "wb")  # noqa: SIM115 - closed below
    pgid = namespace = None
    try:
        await client.async_start_new_kernel(env=_kernel_env(workdir, sandboxed), cwd=str(workdir), stdout=log,
                                            stderr=log, stdin=subprocess.DEVNULL)
        pgid = getattr(km.provisioner, "pgid", None)
        await client.async_start_new_kernel_client()
        process = getattr(km.provisioner, "process", None)
        if sandboxed and process is not None:
            namespace = sandbox.pid_namespace(process.pid)
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
        runs = ""
        if alive:
            # Only now do the hidden inputs enter the folder (and any runs the notebook wrote go).
            (workdir / RUNS_FILE).unlink(missing_ok=True)
            (workdir / CASES_FILE).write_text(settings["cases_payload"], encoding="utf-8")
            grading = nb.cells[n_student]
            client.timeout, client.interrupted = max(1, math.ceil(settings["grading_timeout"])), False
            try:
                await client.async_execute_cell(grading, n_student, execution_count=client.code_cells_executed + 1)
            except (DeadKernelError, CellTimeoutError) as e:
                what = "the kernel died" if isinstance(e, DeadKernelError) else "they ran past the grader's limit"
                outcome.problems.append(f"the hidden cases did not finish: {what}")
            error = _error_summary(grading.outputs)
            if error:
                outcome.problems.append(f"the hidden cases could not run: {error}")
            runs = _read_runs(workdir / RUNS_FILE)
        return runs
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
        if namespace is not None:
            left = sandbox.survivors(namespace)
            if left:
                outcome.problems.append(f"{len(left)} processes the notebook started could not be stopped "
                                        f"(pids {left[:5]}); stop them before trusting the output folder")
        with contextlib.suppress(Exception):
            await km.cleanup_resources()
        log.close()


def judge_runs(text: str, hidden: dict[str, HiddenCases], problems: list[str]) -> list[CheckResult]:
    """Verdicts, formed here, on the runs a kernel wrote (``text``, JSON lines; see
    :func:`embedlab.grading.kernel.evaluate`). A case's run is taken only in order (case ``n`` after
    cases ``0..n-1``), the first per case; malformed lines are skipped; cases without a run fail
    with the reason in ``problems`` (the kernel died, a limit ...)."""
    runs: dict[str, list[CaseRun]] = {eid: [] for eid in hidden}
    missing: dict[str, str] = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
            eid = row["exercise"]
            if eid not in hidden or eid in missing:
                continue
            if "missing" in row and not runs[eid]:
                missing[eid] = str(row["missing"])[:1000]
            elif row.get("case") == len(runs[eid]) < len(hidden[eid].cases):
                runs[eid].append(CaseRun.from_json(row["run"]))
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
            continue
    stopped = problems[-1] if problems else "the kernel handed back no result for it"
    results = []
    for eid, h in hidden.items():
        if eid in missing:
            results.append(CheckResult(eid, 0, len(h.cases), missing[eid]))
        elif not runs[eid]:
            results.append(CheckResult(eid, 0, len(h.cases), f"[{eid}] not checked: {stopped}."))
        else:
            results.append(exercises.judge(h.exercise, h.cases, runs[eid], stopped=stopped))
    return results


def kernelspec(root: Path, workdir: Path | None = None, *, hide: list[str] | None = None,
               memory_gb: float = 8.0) -> str:
    """A kernelspec under ``root`` that runs this Python (whatever kernels are installed), in the
    sandbox of ``workdir`` when one is given; returns its folder."""
    from ipykernel.kernelspec import make_ipkernel_cmd

    spec = root / "kernels" / "embedlab-grade"
    spec.mkdir(parents=True, exist_ok=True)
    argv = make_ipkernel_cmd(executable=sys.executable)  # this Python, whatever kernels are installed
    spec_json: dict[str, Any] = {"argv": argv, "display_name": "embedlab grader", "language": "python"}
    if workdir is not None:
        spec_json["argv"] = sandbox.command(argv, workdir, hide=hide or [], memory_gb=memory_gb)
        spec_json["interrupt_mode"] = "message"  # a signal would reach `unshare`, not the kernel
    (spec / "kernel.json").write_text(json.dumps(spec_json))
    return str(spec.parent)


def grade_notebook(sub: Submission, hidden: dict[str, HiddenCases], root: Path, settings: dict[str, Any]) -> Outcome:
    """Grade one submission in a fresh folder under ``root`` and a fresh kernel (see the module docstring).

    The executed notebook goes to ``settings["out"] / "executed" / (settings["file_names"][student] + ".ipynb")``.
    """
    import nbformat

    start = time.monotonic()
    student, path, nb = sub.student, sub.path, sub.notebook
    outcome = Outcome(student, path, submitted=sub.submitted)
    if isinstance(nb, Exception):
        outcome.problems.append(f"the notebook could not be read: {type(nb).__name__}: {str(nb)[:160]}")
        outcome.results = judge_runs("", hidden, outcome.problems)
        outcome.seconds = time.monotonic() - start
        return outcome
    workdir = Path(tempfile.mkdtemp(prefix="submission-", dir=root))
    shutil.copy2(path, workdir / path.name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    ids = list(hidden)
    try:
        from jupyter_core.utils import run_sync  # also works where an event loop already runs (a notebook)

        runs = run_sync(_execute)(nb, workdir, ids, settings, outcome)
    except Exception as e:  # noqa: BLE001 - e.g. the kernel would not start: this student only
        outcome.problems.append(f"the grader could not run the notebook: {type(e).__name__}: {str(e)[:160]}")
        runs = ""
    outcome.results = judge_runs(runs, hidden, outcome.problems)
    executed = settings["out"] / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        nbformat.write(nb, executed / f"{settings['file_names'][student]}.ipynb")
    if settings["keep"]:
        outcome.workdir = workdir
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(workdir.parent / f"{workdir.name}.kernels", ignore_errors=True)
        (workdir.parent / f"{workdir.name}.kernel.log").unlink(missing_ok=True)
    outcome.seconds = time.monotonic() - start
    return outcome
