"""Write ``book/benchmarks.md`` and its figure from the stored results in ``benchmarks/results/``.

Nothing here measures: the page shows the JSON files the benchmarks wrote (``make bench``), as
they are. A benchmark without a usable result is listed as "not measured"; a result whose script
or measured code changed since it ran (``sources`` in the JSON) is shown as stale, with the date it
was measured. Both files are committed; ``make bench`` re-renders them after measuring and
``tests/test_benchmarks.py`` fails when the committed page differs from what this script writes.

    python -m tools.render_benchmarks
"""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import _harness as harness  # registry, schema, formatting
from benchmarks._load import row_busy

ROOT = Path(__file__).resolve().parents[1]

PAGE = ROOT / "book" / "benchmarks.md"
FIGURE = ROOT / "book" / "_static" / "benchmarks.png"


@dataclass
class Entry:
    """One benchmark as the page shows it."""

    name: str
    title: str
    result: dict[str, Any] | None  # None: nothing usable stored
    status: str  # "measured", "stale" or "not measured"
    detail: str = ""  # why it is stale or not measured

    @property
    def date(self) -> str:
        return self.result["measured"][:10] if self.result else ""


def collect(bench_dir: Path = harness.BENCH_DIR, results_dir: Path = harness.RESULTS_DIR,
            root: Path = harness.ROOT) -> list[Entry]:
    """Every registered benchmark and every stored result, with its status."""
    scripts = harness.registry(bench_dir)
    stored = {p.stem: p for p in sorted(results_dir.glob("*.json"))} if results_dir.is_dir() else {}
    entries = []
    for name in sorted(set(scripts) | set(stored)):
        # The script's current title; a result whose script is gone keeps the title it was stored with.
        title = harness.title_of(scripts[name]) if name in scripts else name
        if name not in stored:
            entries.append(Entry(name, title, None, "not measured"))
            continue
        try:
            result = harness.load_result(stored[name])
            title = title if name in scripts else str(result.get("title", name))
        except (OSError, ValueError, AttributeError) as e:
            entries.append(Entry(name, title, None, "not measured", f"the stored result is unreadable ({e})"))
            continue
        problems = harness.check_result(result)
        if problems:
            entries.append(Entry(name, title, None, "not measured",
                                 f"the stored result is malformed ({'; '.join(problems[:3])})"))
        elif result["tiny"]:
            entries.append(Entry(name, title, None, "not measured", "only a tiny smoke run is stored"))
        else:
            changed = harness.changed_sources(result, root)
            if changed:
                entries.append(Entry(name, title, result, "stale",
                                     f"{', '.join(f'`{p}`' for p in changed)} changed since"))
            else:
                entries.append(Entry(name, title, result, "measured"))
    return entries


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------
def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _speed(side: dict[str, Any], unit: str, *, spread: bool = False) -> str:
    """The median rate; with ``spread``, also [min–max] over rounds (the details keep those, so that
    the summary table fits a page without scrolling)."""
    text = f"{harness.fmt_rate(side['median'])} {unit}"
    if spread:
        text += f" [{harness.fmt_rate(side['min'])}–{harness.fmt_rate(side['max'])}]"
    return text


def _quality(row: dict[str, Any]) -> str:
    parts = []
    for q in row["quality"]:
        arrow = "↑" if q["higher_is_better"] else "↓"
        parts.append(f"{q['metric']} {arrow} {_num(q['ours']['median'])} vs {_num(q['reference']['median'])}")
    return "; ".join(parts) or "—"


def busy(machine: dict[str, Any]) -> str:
    """A warning when other programs used the machine while it was measured, else ''.

    Busy means other programs kept more than a quarter of the usable CPUs busy on average during
    the run (``other_cpus``, measured by the harness from /proc/stat minus the benchmark's own CPU
    time). Then both sides compete for cores, and multi-threaded code can lose far more than
    single-threaded code (its threads wait for each other), so the ratio is less trustworthy.
    """
    other, cpus = machine.get("other_cpus"), machine.get("usable_cpus") or 1
    if other is not None and other > cpus / 4:
        return f"busy machine: other programs used {other:.1f} of {cpus} CPUs"
    return ""


def _when(entry: Entry) -> str:
    when = f"**stale** ({entry.date}; see below)" if entry.status == "stale" else entry.date
    warning = busy(entry.result["machine"]) if entry.result else ""
    return f"{when} (**{warning}**)" if warning else when


def _goal(row: dict[str, Any]) -> str:
    """' (goal ≥ 0.9×: met)' or ' (goal ≥ 0.9×: **not met**)' for a row that has a goal, else ''."""
    goal = row.get("goal")
    if not goal:
        return ""
    return f" (goal ≥ {goal['ratio_at_least']:g}×: {'met' if goal['met'] else '**not met**'})"


def limit(row: dict[str, Any]) -> str:
    """What a row that missed its goal says about why, from what the benchmark measured ('' otherwise).

    A benchmark may store ``limit`` (its own account, with its figures); an exact search stores the
    GFLOP/s of both sides and of a plain matrix product of the same shape, which bounds any exact
    search, so the share of that bound each side reaches is the measured limit.
    """
    goal = row.get("goal")
    if not goal or goal["met"]:
        return ""
    parts = [f"goal ≥ {goal['ratio_at_least']:g}× **not met** in this run ({row['ratio']:.2f}×)"]
    g = row.get("gflops") or {}
    if all(isinstance(g.get(k), (int, float)) and g[k] > 0 for k in ("ours", "reference", "matmul")):
        parts.append(f"ours ran at {g['ours'] / g['matmul']:.0%} of a plain matrix product of the same shape "
                     f"({g['matmul']:.1f} GFLOP/s), the reference at {g['reference'] / g['matmul']:.0%}. Ours is that "
                     "product plus a pass that picks the top k from each block of scores (and the first touch of the "
                     "block's buffer), so it stays below the product; the reference ranks small tiles of scores while "
                     "they are still in cache, with its own BLAS, which can outrun the product measured here (a share "
                     "above 100%)")
    if row.get("limit"):
        parts.append(str(row["limit"]))
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(entries: list[Entry]) -> str:
    lines = [
        "| comparison (when measured) | setting | speed: ours ÷ reference | quality: ours vs reference |",
        "|---|---|---|---|",
    ]
    for e in entries:
        if e.result is None:
            why = f" ({e.detail})" if e.detail else ""
            lines.append(f"| {_cell(e.title)} | | **not measured**{_cell(why)} | |")
            continue
        for i, r in enumerate(e.result["rows"]):
            # Four columns, so that the table fits the page: the date (and any stale / busy warning)
            # sits under the comparison's name, the absolute rates are in the details below.
            first = f"{_cell(e.title)}<br>({_cell(_when(e))})" if i == 0 else ""
            setting = f"{r['setting']} (**busy machine**)" if row_busy(r) else r["setting"]
            lines.append(f"| {first} | {setting} | **{r['ratio']:.2f}×**{_goal(r)} | {_cell(_quality(r))} |")
    return "\n".join(lines)


def _config_line(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={'/'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in config.items())


def details(e: Entry) -> str:
    """The section of one benchmark: what ran, where, and every round."""
    out = [f"### {e.title}", "", f"Script: `benchmarks/bench_{e.name}.py`. "]
    if e.result is None:
        out[-1] += f"Not measured{': ' + e.detail if e.detail else ''}. Run `make bench BENCH={e.name}`."
        return "\n".join(out) + "\n"
    res = e.result
    status = (f"**Stale**: measured {e.date}, and {e.detail}; run `make bench BENCH={e.name}` to measure again."
              if e.status == "stale" else f"Measured {e.date}.")
    versions = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
    out[-1] += status
    if busy(res["machine"]):
        out[-1] += (f" Measured on a {busy(res['machine'])}: other programs competed for the cores, "
                    "so treat the ratios, above all the multi-threaded ones, with caution.")
    out += [
        "",
        f"- machine: {harness.machine_line(res['machine'])}",
        f"- commit {res.get('commit') or 'unknown'}; {res['rounds']} interleaved rounds"
        + (f"; {versions}" if versions else ""),
        f"- settings: {_config_line(res['config'])}",
    ]
    if res["notes"]:
        out.append(f"- {res['notes']}")
    for r in res["rows"]:
        rounds = ", ".join(f"{x:.2f}×" for x in r["round_ratios"])
        if row_busy(r):
            out.append(f"- {r['setting']} was measured while other programs used {r['other_cpus']:.1f} CPUs "
                       f"(**busy machine**): its {r['threads']} threads waited for cores, so its ratio says little.")
        out.append(f"- {r['setting']}: {r['ours']['name']} vs {r['reference']['name']}; "
                   f"ours ÷ reference per round {rounds}" + (f"; {r['note']}" if r["note"] else ""))
        out.append(f"  - speed (median [min–max] over rounds): ours {_speed(r['ours'], r['unit'], spread=True)}, "
                   f"reference {_speed(r['reference'], r['unit'], spread=True)}")
        if limit(r):
            out.append(f"  - {limit(r)}")
        for q in r["quality"]:
            o, t = q["ours"], q["reference"]
            out.append(f"  - {q['metric']} ({'higher' if q['higher_is_better'] else 'lower'} is better): "
                       f"ours {_num(o['median'])} [{_num(o['min'])}–{_num(o['max'])}], "
                       f"reference {_num(t['median'])} [{_num(t['min'])}–{_num(t['max'])}]")
    return "\n".join(out) + "\n"


def page_text(entries: list[Entry], figure: str = "_static/benchmarks.png") -> str:
    """The whole page (``figure``: the PNG's path relative to the page)."""
    intro = """\
% Generated by tools/render_benchmarks.py from benchmarks/results/*.json: edit those, not this page.

# Benchmarks

The course writes its own word2vec, transformer and nearest-neighbour search so that you can see
how they work. Is that toy code? This page compares each with a reference implementation that
people use in practice, on the same data with the same settings, and puts the quality of the
result next to the speed: a faster result that is worse is not a win.

How the numbers are taken (`benchmarks/`, one script per comparison; `make bench` runs them all,
`make bench BENCH=sgns` one): ours and the reference run in the same process, interleaved over at
least three rounds, because these machines drift 2–3× in speed within a day. The speed column is
the ratio of the medians (above 1: ours is faster); it carries over between machines far better
than the absolute figures, which the details below give (medians and [min–max] over rounds). Each section below
says which machine, threads and device ran it and when. A result whose script or measured code
changed after it ran is marked **stale** and keeps its date; one taken while other programs kept
more than a quarter of the CPUs busy says **busy machine**, and so does a multi-threaded row
during which other programs held half a core or more; a benchmark with no stored result says
**not measured**. A setting the course set itself a goal for carries it in the stored result, with
whether that run met it ("goal ≥ 0.9×: met"); where a run did not, its details say what the
benchmark measured about why. Nothing on this page is re-run when the book is built.
"""
    measured = [e for e in entries if e.result is not None]
    parts = [intro, table(entries), ""]
    if measured:
        parts += [
            f"```{{figure}} {figure}",
            ":alt: Speed of ours relative to the reference for each benchmark and setting, on a log scale",
            ":width: 100%",
            "",
            "Speed of ours ÷ reference: the bar is the ratio of the medians, the whisker the range of the "
            "ratios within a round. Right of the line, ours is faster.",
            "```",
            "",
        ]
    parts += ["## Details", ""] + [details(e) for e in entries]
    return "\n".join(parts).rstrip() + "\n"


def draw(entries: list[Entry], path: Path) -> None:
    """One line per benchmark setting: the ratio of medians (dot) and the per-round range (whisker),
    on a log scale; benchmarks without a usable result get a "not measured" line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from embedlab import plotting

    lines: list[tuple[str, dict[str, Any] | None, bool]] = []  # (label, row or None, stale)
    for e in entries:
        short = e.title.split(" vs ")[0]
        if e.result is None:
            lines.append((short, None, False))
        for r in e.result["rows"] if e.result else []:
            lines.append((f"{short}, {r['setting']}" + (" (stale)" if e.status == "stale" else ""), r,
                          e.status == "stale"))
    # Long settings ("clustered synthetic (2,000 clusters, d = 64): IVF, 1024 cells, nprobe 32") are
    # wrapped, so that the labels fit beside the axes instead of squeezing them to nothing.
    lines = [(textwrap.fill(label, 44), r, stale) for label, r, stale in lines]
    fig, ax = plotting.subplots(1, 1, figsize=(9.0, 0.55 * len(lines) + 1.3))
    ratios = [r["ratio"] for _, r, _ in lines if r is not None]
    lo, hi = min(ratios + [0.5]) / 1.6, max(ratios + [2.0]) * 1.6
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.axvline(1.0, color="C3", lw=1)
    for y, (_label, r, stale) in zip(range(len(lines) - 1, -1, -1), lines):
        if r is None:
            ax.text(1.0, y, "  not measured", va="center", ha="left", color="0.4", fontsize=9)
            continue
        color = "0.6" if stale else "C0"
        # The ratio of medians need not lie inside the per-round range: clamp the whisker at the dot.
        spread = [[max(0.0, r["ratio"] - min(r["round_ratios"]))], [max(0.0, max(r["round_ratios"]) - r["ratio"])]]
        ax.errorbar([r["ratio"]], [y], xerr=spread, fmt="o", color=color, ecolor=color, capsize=3)
        ax.annotate(f"{r['ratio']:.2f}×", (r["ratio"], y), xytext=(0, 7), textcoords="offset points",
                    ha="center", fontsize=9)
    ax.set_yticks(range(len(lines) - 1, -1, -1), [label for label, _, _ in lines])
    ax.set_ylim(-0.7, len(lines) - 0.3)
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo <= t <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:g}×"))
    ax.set_xlabel("speed: ours ÷ reference (log scale; > 1×: ours is faster)")
    ax.grid(axis="y", visible=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp: the same data, the same bytes
    plt.close(fig)


def write(page: Path = PAGE, figure: Path = FIGURE) -> str:
    """Regenerate the page and its figure from the stored results; returns the page text."""
    entries = collect()
    text = page_text(entries, figure.relative_to(page.parent).as_posix())
    if any(e.result is not None for e in entries):
        draw(entries, figure)
    else:
        figure.unlink(missing_ok=True)
    page.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    if sys.argv[1:]:
        raise SystemExit("usage: python -m tools.render_benchmarks   (no arguments)")
    print(json.dumps({e.name: e.status for e in collect()}))
    write()
    figure = f" and {FIGURE.relative_to(ROOT)}" if FIGURE.is_file() else " (no results, so no figure)"
    print(f"wrote {PAGE.relative_to(ROOT)}{figure}")
