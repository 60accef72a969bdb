"""The benchmarks (benchmarks/) and the page that shows their results (book/benchmarks.md).

Every benchmark runs once at its tiny size here (seconds each), so that none rots between the
occasions someone runs `make bench`; its JSON must have the layout the renderer reads. Nothing
here asserts a speed: a timed pass/fail on machines that drift 2-3x would only be noise.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import _harness as harness  # pyproject.toml puts the repository root on pytest's path
from tools import render_benchmarks as render

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = harness.registry()


def _load(name: str):
    return importlib.import_module(f"benchmarks.{BENCHMARKS[name].stem}")


def test_the_first_rows_are_registered():
    assert {"sgns", "transformer", "topk"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_runs_at_tiny_size_and_writes_a_well_formed_result(name, tmp_path):
    module = _load(name)
    for path in module.SOURCES:  # what a result is marked stale against must exist
        assert (ROOT / path).is_file(), f"bench_{name}.py: SOURCES names {path}, which does not exist"
    out = module.main(["--tiny", "--out", str(tmp_path)])
    assert out == tmp_path / f"{name}.json"
    result = harness.load_result(out)
    assert harness.check_result(result) == []
    assert result["tiny"] is True and result["benchmark"] == name
    assert set(result["sources"]) >= {f"benchmarks/bench_{name}.py", "benchmarks/_harness.py", *module.SOURCES}
    for row in result["rows"]:
        assert row["quality"], f"{row['setting']}: a speed figure needs a quality figure next to it"
        assert len(row["round_ratios"]) == result["rounds"]
    # A tiny run is never shown as a measurement.
    entry = next(e for e in render.collect(results_dir=tmp_path) if e.name == name)
    assert entry.status == "not measured" and "tiny" in entry.detail


def test_a_tiny_run_cannot_overwrite_the_stored_results():
    module = _load("topk")
    with pytest.raises(SystemExit):
        module.main(["--tiny"])  # argparse: --tiny needs --out


def test_stored_results_are_full_size_and_well_formed():
    for path in sorted(harness.RESULTS_DIR.glob("*.json")):
        result = harness.load_result(path)
        assert harness.check_result(result) == [], path.name
        assert not result["tiny"], f"{path.name} is a tiny smoke run; results/ holds measurements only"
        assert path.stem in BENCHMARKS, f"{path.name} has no benchmarks/bench_{path.stem}.py"
        assert result["rounds"] >= harness.MIN_ROUNDS


def test_benchmark_page_is_current():
    stored = render.PAGE.read_text(encoding="utf-8")
    expected = render.page_text(render.collect(), render.FIGURE.relative_to(render.PAGE.parent).as_posix())
    assert stored == expected, "book/benchmarks.md is stale: run `python -m tools.render_benchmarks`"
    if "{figure}" in stored:
        assert render.FIGURE.is_file(), f"{render.FIGURE} is missing: run `python -m tools.render_benchmarks`"


# ---------------------------------------------------------------------------------------------
# The harness and the renderer, on made-up results
# ---------------------------------------------------------------------------------------------
def test_interleave_alternates_who_goes_first():
    calls = []

    def side(name):
        def run(r):
            calls.append((name, r))
            return harness.Measurement(1.0)

        return run

    harness.interleave(side("ours"), side("ref"), 3, log=None)
    assert calls == [("ours", 0), ("ref", 0), ("ref", 1), ("ours", 1), ("ours", 2), ("ref", 2)]
    with pytest.raises(ValueError, match="rounds"):
        harness.interleave(side("ours"), side("ref"), 0)


def test_row_reports_min_median_max_and_the_ratio_of_medians():
    ours = [harness.Measurement(x, {"q": 0.5}) for x in (300.0, 100.0, 200.0)]
    ref = [harness.Measurement(x, {"q": None}) for x in (100.0, 50.0, 400.0)]
    r = harness.row("1 thread", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={"q": True})
    assert (r["ours"]["min"], r["ours"]["median"], r["ours"]["max"]) == (100.0, 200.0, 300.0)
    assert r["ratio"] == 2.0
    assert r["round_ratios"] == [3.0, 2.0, 0.5]
    assert r["quality"][0]["reference"]["median"] is None  # not measurable is not invented
    with pytest.raises(ValueError, match="per round"):
        harness.row("x", "items/s", "ours", "ref", ours, ref[:2], quality_higher_is_better={})


def test_a_goal_is_stored_with_whether_this_measurement_met_it_and_shown_on_the_page():
    ours = [harness.Measurement(x, {}) for x in (90.0, 80.0, 100.0)]
    ref = [harness.Measurement(100.0, {}) for _ in range(3)]
    met = harness.row("a", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={}, goal=0.9)
    missed = harness.row("b", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={}, goal=np.float64(0.95))
    assert met["goal"] == {"ratio_at_least": 0.9, "met": True} and missed["goal"]["met"] is False
    assert harness.row("c", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={})["goal"] is None
    for bad in (0, -1.0, float("nan"), "0.9"):
        with pytest.raises(ValueError, match="goal"):
            harness.row("d", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={}, goal=bad)
    assert render._goal(met) == " (goal ≥ 0.9×: met)" and "**not met**" in render._goal(missed)
    # a stored result whose verdict disagrees with its own ratio is refused, not rendered
    result = _fake_result("x", Path("."))
    result["rows"] = [dict(missed, goal={"ratio_at_least": 0.95, "met": True})]
    assert any("goal" in p for p in harness.check_result(result))
    result["rows"] = [met, missed]
    assert not [p for p in harness.check_result(result) if "goal" in p]


def test_a_missed_goal_says_what_was_measured_about_why_and_a_met_one_says_nothing():
    ours = [harness.Measurement(x, {}) for x in (80.0, 80.0, 80.0)]
    ref = [harness.Measurement(100.0, {}) for _ in range(3)]
    missed = harness.row("d = 128", "queries/s", "ours", "ref", ours, ref, quality_higher_is_better={}, goal=0.9)
    text = render.limit({**missed, "gflops": {"ours": 60.0, "reference": 75.0, "matmul": 80.0}})
    assert "0.80×" in text and "75% of a plain matrix product" in text and "the reference at 94%" in text
    assert render.limit({**missed, "limit": "160 steps of 4.3 ms"}).endswith("160 steps of 4.3 ms")
    met = harness.row("d = 50", "queries/s", "ours", "ref", ref, ours, quality_higher_is_better={}, goal=0.9)
    assert render.limit({**met, "gflops": {"ours": 1.0, "reference": 1.0, "matmul": 1.0}, "limit": "x"}) == ""
    assert render.limit(harness.row("x", "items/s", "ours", "ref", ours, ref, quality_higher_is_better={})) == ""


def _fake_result(name: str, root: Path, *, tiny: bool = False) -> dict:
    ours = [harness.Measurement(x, {"score": 0.3}) for x in (2.0, 3.0, 4.0)]
    ref = [harness.Measurement(x, {"score": 0.2}) for x in (1.0, 1.5, 2.0)]
    return {
        "schema": harness.SCHEMA, "benchmark": name, "title": f"{name.upper()} vs ref", "tiny": tiny,
        "rounds": 3, "measured": "2026-01-02T03:04:05+00:00", "commit": "abc1234",
        "machine": {"cpu": "Test CPU", "arch": "x86_64", "simd": "AVX2", "usable_cpus": 2, "device": "cpu",
                    "python": "3.11.0", "torch": "2.13.0"},
        "versions": {"ref": "1.0"}, "sources": harness.source_hashes([f"{name}_code.py"], root),
        "config": {"threads": [1, 2]},
        "rows": [harness.row("1 thread", "items/s", "ours", "ref", ours, ref,
                             quality_higher_is_better={"score": True})],
        "notes": "",
    }


def test_renderer_shows_missing_stale_tiny_and_current_results_as_such(tmp_path):
    bench, results = tmp_path / "benchmarks", tmp_path / "results"
    bench.mkdir()
    results.mkdir()
    for name in ("fresh", "stale", "missing", "tiny", "broken"):
        (bench / f"bench_{name}.py").write_text(f'"""{name.upper()} vs ref."""\n', encoding="utf-8")
        (tmp_path / f"{name}_code.py").write_text("x = 1\n", encoding="utf-8")
    for name in ("fresh", "stale", "tiny"):
        result = _fake_result(name, tmp_path, tiny=name == "tiny")
        (results / f"{name}.json").write_text(json.dumps(result), encoding="utf-8")
    (results / "broken.json").write_text('{"schema": 1}', encoding="utf-8")
    (tmp_path / "stale_code.py").write_text("x = 2\n", encoding="utf-8")  # the measured code changed since

    entries = {e.name: e for e in render.collect(bench, results, tmp_path)}
    assert {n: e.status for n, e in entries.items()} == {
        "fresh": "measured", "stale": "stale", "missing": "not measured", "tiny": "not measured",
        "broken": "not measured",
    }
    assert "stale_code.py" in entries["stale"].detail
    page = render.page_text(list(entries.values()))
    lines = {name: next(line for line in page.splitlines() if line.startswith(f"| {name.upper()} vs ref"))
             for name in entries}
    assert "2026-01-02" in lines["fresh"] and "2.00×" in lines["fresh"] and "stale" not in lines["fresh"]
    assert "**stale** (2026-01-02" in lines["stale"]
    for name in ("missing", "tiny", "broken"):
        assert "**not measured**" in lines[name] and "×" not in lines[name], lines[name]
    assert "score ↑ 0.3 vs 0.2" in lines["fresh"]  # quality next to speed
    assert "busy" not in lines["fresh"]  # no load recorded: no warning invented
    render.draw(list(entries.values()), tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 1000


def test_renderer_with_no_results_at_all_says_so(tmp_path):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "bench_a.py").write_text('"""A vs ref."""\n', encoding="utf-8")
    page = render.page_text(render.collect(bench, tmp_path / "none", tmp_path))
    assert "**not measured**" in page and "{figure}" not in page


def test_renderer_says_when_the_machine_was_busy():
    assert render.busy({"usable_cpus": 2, "other_cpus": 0.3}) == ""
    assert render.busy({"usable_cpus": 2, "other_cpus": 0.9}) == "busy machine: other programs used 0.9 of 2 CPUs"
    assert render.busy({"usable_cpus": 2, "other_cpus": None}) == ""  # not measurable (not Linux): nothing said


def test_other_cpus_subtracts_our_own_cpu_time():
    # 10 s of wall time: the machine was busy for 15 CPU-seconds, 12 of them ours.
    assert harness.other_cpus((100.0, 40.0), (115.0, 52.0), 10.0) == 0.3
    assert harness.other_cpus(None, (1.0, 1.0), 10.0) is None
    reading = harness.cpu_seconds()
    if reading is not None:  # Linux
        busy, ours = reading
        assert busy > 0 and ours > 0


def test_a_multi_threaded_row_is_marked_busy_when_other_programs_held_a_core():
    from benchmarks._load import Load, mark, row_busy

    assert row_busy({"threads": 2, "other_cpus": 0.6}) and not row_busy({"threads": 1, "other_cpus": 1.5})
    assert not row_busy({"threads": 2, "other_cpus": 0.2}) and not row_busy({"threads": 2, "other_cpus": None})
    assert not row_busy({"setting": "stored before rows had threads"})
    with Load() as load:
        pass
    row = mark({"setting": "2 threads"}, 2, load)
    assert row["threads"] == 2 and (load.other_cpus is None or load.other_cpus >= 0)
    result = _fake_result("x", Path("."))
    result["rows"] = [mark(r, 2, load) | {"other_cpus": other} for r in result["rows"] for other in (0.9, 0.1)]
    text = render.table([render.Entry(name="x", title="X vs ref", result=result, status="measured")])
    assert text.count("(**busy machine**)") == 1
