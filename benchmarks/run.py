"""Run benchmarks (all of them, or those named), each in a fresh process, then re-render the page.

    python -m benchmarks.run                 # every benchmarks/bench_*.py, at full size (make bench)
    python -m benchmarks.run sgns topk       # some of them (make bench BENCH="sgns topk")
    python -m benchmarks.run --tiny --out /tmp/bench   # the smoke run, written elsewhere

A fresh process per benchmark: thread settings, allocator state and imported libraries of one do
not leak into the next. Full-size results go to benchmarks/results/<name>.json; then
tools/render_benchmarks.py rewrites book/benchmarks.md and its figure (commit all three).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from . import _harness as harness


def main(argv: list[str] | None = None) -> int:
    known = harness.registry()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(known)})")
    parser.add_argument("--tiny", action="store_true", help="smoke runs at a tiny size (needs --out)")
    parser.add_argument("--out", default=None, help="folder for the JSON results (default benchmarks/results/)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(known)}")
    if args.tiny and args.out is None:
        parser.error("--tiny needs --out (tiny runs never go to benchmarks/results/)")
    extra = (["--tiny"] if args.tiny else []) + (["--out", args.out] if args.out else [])
    failed = []
    for name in args.names or list(known):
        start = time.perf_counter()
        # OpenMP threads sleep rather than spin while they wait (as in make test and the chapters): with
        # another program on a core, spinning made PyTorch at 2 threads 7-30x slower (CONTRIBUTING.md).
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        module = f"benchmarks.{known[name].stem}"  # run as a module: it imports benchmarks._harness
        code = subprocess.run([sys.executable, "-m", module, *extra], cwd=harness.ROOT, env=env).returncode
        print(f"== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - start:.0f} s\n")
        if code:
            failed.append(name)
    if args.out is None:  # the stored results changed: the page shows them
        subprocess.run([sys.executable, "-m", "tools.render_benchmarks"], cwd=harness.ROOT, check=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
