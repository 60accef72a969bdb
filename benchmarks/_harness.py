"""What every benchmark shares: the interleaved timer, the machine description, the JSON result.

A benchmark is one file ``benchmarks/bench_<name>.py`` (the registry is the file names: see
:func:`registry`). It defines a dataclass config with a full and a ``tiny`` size, measures
ours and a reference with :func:`interleave`, turns each setting into a :func:`row` and hands
the rows to :func:`main`, which parses the command line, describes the machine and writes
``benchmarks/results/<name>.json``. ``tools/render_benchmarks.py`` turns those files into
``book/benchmarks.md``; nothing there re-runs a benchmark.

Why interleaved rounds: these machines drift 2-3x in speed within a day, so a figure taken an
hour apart from its reference means little. Ours and the reference alternate (ours first in even
rounds, the reference first in odd ones) in one process, and the page reports the ratio of the
medians, which carries over between machines, next to min / median / max of each.

This module imports nothing heavy at import time: the renderer uses it too.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
SCHEMA = 1  # bump when the JSON layout changes; the renderer shows other versions as not measured
MIN_ROUNDS = 3  # a full-size run needs at least this many interleaved rounds
PREFIX = "bench_"


# ---------------------------------------------------------------------------------------------
# Registry: one file per benchmark
# ---------------------------------------------------------------------------------------------
def registry(bench_dir: Path = BENCH_DIR) -> dict[str, Path]:
    """``{name: path}`` of every ``bench_<name>.py`` in ``bench_dir``, sorted by name."""
    return {p.stem[len(PREFIX) :]: p for p in sorted(bench_dir.glob(f"{PREFIX}*.py"))}


def title_of(path: Path) -> str:
    """A benchmark's title: the first line of its module docstring (read without importing it)."""
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    if not doc:
        raise ValueError(f"{path.name} has no module docstring; its first line is the benchmark's title")
    return doc.splitlines()[0].rstrip(".")


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """One timed run: its throughput (items per second, higher is better) and quality figures."""

    rate: float
    quality: dict[str, float | None] = field(default_factory=dict)  # None: could not be measured


def interleave(
    ours: Callable[[int], Measurement],
    reference: Callable[[int], Measurement],
    rounds: int,
    *,
    log: Callable[[str], None] | None = print,
    label: str = "",
) -> tuple[list[Measurement], list[Measurement]]:
    """Run ``ours(r)`` and ``reference(r)`` once per round ``r``, alternating which goes first.

    Each callable times its own critical section (setup such as building a vocabulary stays
    outside) and returns a :class:`Measurement`. Returns the two lists, one entry per round.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
    mine: list[Measurement] = []
    theirs: list[Measurement] = []
    for r in range(rounds):
        # Alternating the order cancels what running second costs or gains (caches, turbo, heat).
        order = [(ours, mine), (reference, theirs)] if r % 2 == 0 else [(reference, theirs), (ours, mine)]
        for fn, out in order:
            out.append(fn(r))
        if log is not None:
            log(f"  {label} round {r + 1}/{rounds}: ours {fmt_rate(mine[-1].rate)}, "
                f"reference {fmt_rate(theirs[-1].rate)} ({mine[-1].rate / theirs[-1].rate:.2f}x)")
    return mine, theirs


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for a ``with`` block, then back to what it was (even on error)."""
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be an integer >= 1, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def all_threads(n: int) -> Iterator[None]:
    """:func:`torch_threads` and, where threadpoolctl is installed, every BLAS and OpenMP pool in the
    process (NumPy's OpenBLAS, faiss's, scikit-learn's) limited to ``n`` threads for the block:
    both sides of a comparison then run on the same number of cores, whichever library they call."""
    with torch_threads(n), contextlib.ExitStack() as stack:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            pass
        else:
            stack.enter_context(threadpool_limits(limits=n))
        yield


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    """min / median / max of the values that were measured (all None when none was)."""
    got = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not got:
        return {"min": None, "median": None, "max": None, "runs": list(values)}
    return {"min": min(got), "median": statistics.median(got), "max": max(got), "runs": [float(v) for v in got]}


def row(
    setting: str,
    unit: str,
    ours_name: str,
    reference_name: str,
    ours: Sequence[Measurement],
    reference: Sequence[Measurement],
    *,
    quality_higher_is_better: dict[str, bool],
    note: str = "",
    goal: float | None = None,
) -> dict[str, Any]:
    """One line of the results table: speed of both, ratio of medians, quality of both.

    ``quality_higher_is_better`` names the quality figures (keys of ``Measurement.quality``)
    and their direction: a faster result that is worse is not a win, so the page shows both.
    ``goal``: the speed ratio this setting is meant to reach (ours ÷ reference, at the quality
    the note states); the stored result then says whether this measurement met it, so a re-run
    of ``make bench`` on an idle machine re-checks the goal instead of quoting it.
    """
    if goal is not None and not (isinstance(goal, (int, float)) and math.isfinite(goal) and goal > 0):
        raise ValueError(f"goal must be a positive ratio, got {goal!r}")
    if len(ours) != len(reference) or not ours:
        raise ValueError(f"need one measurement of each per round, got {len(ours)} and {len(reference)}")
    o, r = summary([m.rate for m in ours]), summary([m.rate for m in reference])
    quality = []
    for metric, higher in quality_higher_is_better.items():
        quality.append({
            "metric": metric,
            "higher_is_better": higher,
            "ours": summary([m.quality.get(metric) for m in ours]),
            "reference": summary([m.quality.get(metric) for m in reference]),
        })
    ratio = o["median"] / r["median"]
    return {
        "setting": setting,
        "unit": unit,
        "ours": {"name": ours_name, **o},
        "reference": {"name": reference_name, **r},
        "ratio": ratio,  # > 1: ours is faster
        "round_ratios": [a.rate / b.rate for a, b in zip(ours, reference)],  # same round, same conditions
        "quality": quality,
        "note": note,
        "goal": None if goal is None else {"ratio_at_least": float(goal), "met": bool(ratio >= goal)},
    }


# ---------------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def git_commit() -> str | None:
    """The commit measured, with ``-dirty`` when the tree had uncommitted changes."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("-dirty" if dirty else "")


def describe_machine(device) -> dict[str, Any]:
    """Where a benchmark ran: CPU, SIMD level, cores, threads, device, versions, load, date."""
    import numpy as np
    import torch

    machine = {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "simd": torch.backends.cpu.get_cpu_capability(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),  # the default; each row says what it used
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if getattr(device, "type", "") == "cuda" else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "os": platform.platform(),
        # The load when the run started: a busy machine slows both sides, but say so.
        "load_average_1_5_15": _load_average(),
    }
    return machine


def cpu_seconds() -> tuple[float, float] | None:
    """(CPU-seconds the whole machine has been busy, CPU-seconds of this process and its children).

    Read from /proc/stat (Linux; None elsewhere). The difference of two readings, minus our own
    share, is what other programs used meanwhile; unlike the load average it does not count the
    benchmark itself.
    """
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait (guest time is inside user)
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


def other_cpus(before: tuple[float, float] | None, after: tuple[float, float] | None, seconds: float) -> float | None:
    """How many CPUs other programs kept busy on average between two :func:`cpu_seconds` readings."""
    if before is None or after is None or seconds <= 0:
        return None
    return round(max(0.0, ((after[0] - before[0]) - (after[1] - before[1])) / seconds), 2)


def _load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages (None where the OS has none)."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_line(machine: dict[str, Any]) -> str:
    """The machine in one line, as the book prints it."""
    device = machine["device"] + (f" ({machine['gpu']})" if machine.get("gpu") else "")
    line = (f"{machine['cpu']} ({machine['arch']}, {machine['simd']}), {machine['usable_cpus']} usable CPUs, "
            f"device {device}, torch {machine['torch'].split('+')[0]}, Python {machine['python']}")
    start, end = machine.get("load_average_1_5_15"), machine.get("load_average_at_end")
    if start:
        line += f"; 1-minute load average {start[0]:.1f} at the start" + (f", {end[0]:.1f} at the end" if end else "")
    if machine.get("other_cpus") is not None:
        line += f"; other programs used {machine['other_cpus']:.2f} CPUs on average meanwhile"
    return line


# ---------------------------------------------------------------------------------------------
# Sources: what a result measured, to tell when it went stale
# ---------------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str | None:
    """sha256 of a file with CRLF read as LF (a Windows checkout is not a change); None if absent."""
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest() if path.is_file() else None


def source_hashes(paths: Sequence[str], root: Path = ROOT) -> dict[str, str | None]:
    """``{path: sha256}`` of the files a result depends on (relative to the repository root)."""
    return {p: sha256_of(root / p) for p in paths}


def changed_sources(result: dict[str, Any], root: Path = ROOT) -> list[str]:
    """The files a result measured that have changed (or gone) since: non-empty means stale."""
    return [p for p, h in result.get("sources", {}).items() if sha256_of(root / p) != h]


# ---------------------------------------------------------------------------------------------
# The result file
# ---------------------------------------------------------------------------------------------
REQUIRED = {
    "schema": int, "benchmark": str, "title": str, "tiny": bool, "rounds": int, "measured": str,
    "machine": dict, "versions": dict, "sources": dict, "config": dict, "rows": list, "notes": str,
}
ROW_REQUIRED = {"setting": str, "unit": str, "ours": dict, "reference": dict, "ratio": float,
                "round_ratios": list, "quality": list, "note": str}
SIDE_REQUIRED = ("name", "min", "median", "max", "runs")


def check_result(result: dict[str, Any]) -> list[str]:
    """What is wrong with a result's layout (empty when it is well-formed)."""
    problems = []
    for key, kind in REQUIRED.items():
        if not isinstance(result.get(key), kind):
            problems.append(f"{key}: expected {kind.__name__}, got {type(result.get(key)).__name__}")
    if problems:
        return problems
    if result["schema"] != SCHEMA:
        problems.append(f"schema {result['schema']}, this code reads {SCHEMA}")
    try:
        dt.datetime.fromisoformat(result["measured"])
    except ValueError:
        problems.append(f"measured: not an ISO date: {result['measured']!r}")
    for key in ("cpu", "arch", "simd", "usable_cpus", "device", "python", "torch"):
        if key not in result["machine"]:
            problems.append(f"machine: no {key}")
    if not result["rows"]:
        problems.append("rows: empty")
    for i, r in enumerate(result["rows"]):
        for key, kind in ROW_REQUIRED.items():
            if not isinstance(r.get(key), kind):
                problems.append(f"rows[{i}].{key}: expected {kind.__name__}, got {type(r.get(key)).__name__}")
        for side in ("ours", "reference"):
            if isinstance(r.get(side), dict):
                problems += [f"rows[{i}].{side}: no {k}" for k in SIDE_REQUIRED if k not in r[side]]
                if len(r[side].get("runs", [])) != result["rounds"]:
                    problems.append(f"rows[{i}].{side}: {len(r[side].get('runs', []))} runs, not {result['rounds']}")
        goal = r.get("goal")
        if goal is not None and not (isinstance(goal, dict) and isinstance(goal.get("ratio_at_least"), float)
                                     and isinstance(goal.get("met"), bool)):
            problems.append(f"rows[{i}].goal: expected {{'ratio_at_least': float, 'met': bool}}, got {goal!r}")
        elif (goal is not None and isinstance(r.get("ratio"), float)
              and goal["met"] != (r["ratio"] >= goal["ratio_at_least"])):
            problems.append(f"rows[{i}].goal: 'met' is {goal['met']} but the ratio is {r['ratio']:.3f}")
        for q in r.get("quality") or []:
            if not {"metric", "higher_is_better", "ours", "reference"} <= set(q):
                problems.append(f"rows[{i}].quality: incomplete entry {sorted(q)}")
    if not result["tiny"] and result["rounds"] < MIN_ROUNDS:
        problems.append(f"rounds: a full-size result needs >= {MIN_ROUNDS}, got {result['rounds']}")
    return problems


def load_result(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# The command line every benchmark shares
# ---------------------------------------------------------------------------------------------
def fmt_rate(x: float | None) -> str:
    """Three significant digits with k / M: 533k, 17.3k, 1.25M."""
    if x is None or not math.isfinite(x):
        return "n/a"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def parse_args(argv: Sequence[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tiny", action="store_true",
                        help="a smoke run at a tiny size (seconds; what `make test` runs). Never a measurement.")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for the JSON result (default {RESULTS_DIR.relative_to(ROOT)}/; "
                             "required with --tiny)")
    args = parser.parse_args(argv)
    if args.tiny and args.out is None:
        # A tiny run in results/ would replace a real measurement with a smoke test.
        parser.error("--tiny needs --out (tiny runs never go to benchmarks/results/)")
    return args


def main(
    file: str,
    argv: Sequence[str] | None,
    configs: tuple[Any, Any],
    measure: Callable[[Any, Any], list[dict[str, Any]]],
    *,
    sources: Sequence[str],
    versions: Callable[[], dict[str, str]] = dict,
    notes: str = "",
) -> Path:
    """Run one benchmark and write its JSON; returns the file written.

    file: the benchmark's ``__file__`` (its name and title come from it); configs: ``(full, tiny)``
    dataclass instances, each with a ``rounds`` field; measure: ``(config, device) -> rows`` (from
    :func:`row`); sources: the files of the code under test, relative to the repository root (the
    script and this harness are added): when one changes, the page marks the result stale.
    """
    from embedlab.utils import get_device

    path = Path(file).resolve()
    name = path.stem[len(PREFIX) :]
    title = title_of(path)
    args = parse_args(argv, title)
    config = configs[1] if args.tiny else configs[0]
    if not args.tiny and config.rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be >= {MIN_ROUNDS} for a measurement, got {config.rounds}")
    device = get_device()  # the course's code path: CUDA or MPS when present, else the CPU
    machine = describe_machine(device)
    measured = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    print(f"{title} ({'tiny smoke run' if args.tiny else 'full size'})\n  {machine_line(machine)}")
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    rows = measure(config, device)
    # What else ran meanwhile: other programs slow multi-threaded code far more than they slow
    # single-threaded code (its threads wait for each other), so the ratio depends on it.
    machine["other_cpus"] = other_cpus(cpu_before, cpu_seconds(), time.perf_counter() - wall_before)
    machine["load_average_at_end"] = _load_average()
    own = [str(path.relative_to(ROOT)), str(Path(__file__).resolve().relative_to(ROOT))]
    result = {
        "schema": SCHEMA,
        "benchmark": name,
        "title": title,
        "tiny": bool(args.tiny),
        "rounds": config.rounds,
        "measured": measured,
        "commit": git_commit(),
        "machine": machine,
        "versions": versions(),
        "sources": source_hashes([*own, *sources]),
        "config": dataclasses.asdict(config),
        "rows": rows,
        "notes": notes,
    }
    problems = check_result(result)
    if problems:
        raise ValueError(f"{name}: malformed result: {problems}")
    out_dir = args.out or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.json"
    out.write_text(json.dumps(result, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    for r in rows:
        print(f"  {r['setting']}: ours {fmt_rate(r['ours']['median'])} vs {fmt_rate(r['reference']['median'])} "
              f"{r['unit']} (medians of {config.rounds}): {r['ratio']:.2f}x")
    print(f"  wrote {out}")
    return out
