"""Numeric-aware comparison of a chapter's stored outputs with a fresh run (used under nbval).

nbval compares outputs as strings, so a number whose last digit moves on another CPU (other SIMD
kernels round sums in another order) fails a chapter that is right. Here text still compares
exactly, but every number is compared as a number:

- the text between the numbers must be identical (a word in a neighbour list, a shape, a label);
- integers (``154``, ``(64, 32)``) must be equal;
- a decimal (``0.850``, ``3.1e-08``) may differ by one unit in its last printed place: two values
  a hair apart can round either way, and that is all such a difference can mean;
- a cell whose numbers come out of training or sampling declares a wider tolerance, sized from the
  spread measured across kernel settings (``tools/kernel_spread.py``), with the reason::

      "metadata": {"embedlab": {"tolerance": {"atol": 0.03, "why": "probe accuracy after training;
                   spread 0.822-0.850 across native/avx2/portable"}}}

  Keys: ``atol`` and ``rtol`` (a decimal passes when ``|a - b| <= atol + rtol * max(|a|, |b|)``),
  ``integers`` (``true``: integers get the same tolerance; for counts out of training), ``why``
  (required).

No digits are blanked: a probe accuracy 0.850 -> 0.700 or a changed shape still fails.

``install()`` hooks this into nbval's ``IPyNbCell.compare_outputs`` (the root ``conftest.py`` calls
it when pytest runs with ``--nbval``): outputs that agree within tolerance are made identical, and
nbval's own exact comparison and report do the rest.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

# A number not glued to a word on its left: "ch04" and "x86_64" are text, "d=32" holds a number.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
# Outputs compared as text; images and widget models are not compared (nbval skips them too).
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}
IGNORE_MARKERS = ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP", "# PYTEST_VALIDATE_IGNORE_OUTPUT")


@dataclass(frozen=True)
class Tolerance:
    atol: float = 0.0
    rtol: float = 0.0
    integers: bool = False
    why: str = ""

    @classmethod
    def from_metadata(cls, metadata: dict) -> Tolerance:
        """The cell's ``metadata.embedlab.tolerance``, or the default (one unit in the last place)."""
        spec = (metadata or {}).get("embedlab", {}).get("tolerance")
        if spec is None:
            return cls()
        if not isinstance(spec, dict):
            raise ValueError(f"metadata.embedlab.tolerance must be a mapping, got {spec!r}")
        unknown = set(spec) - {"atol", "rtol", "integers", "why"}
        if unknown:
            raise ValueError(f"metadata.embedlab.tolerance has unknown keys {sorted(unknown)}")
        if not str(spec.get("why", "")).strip():
            raise ValueError("metadata.embedlab.tolerance needs a 'why': the spread it was sized from")
        atol, rtol = spec.get("atol", 0.0), spec.get("rtol", 0.0)
        for name, value in (("atol", atol), ("rtol", rtol)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise ValueError(f"metadata.embedlab.tolerance.{name} must be a number >= 0, got {value!r}")
        if not isinstance(spec.get("integers", False), bool):
            raise ValueError("metadata.embedlab.tolerance.integers must be true or false")
        return cls(float(atol), float(rtol), spec.get("integers", False), str(spec["why"]))


def _split(text: str) -> tuple[list[str], list[str]]:
    """Text between the numbers, and the numbers, as printed."""
    return NUMBER.split(text), NUMBER.findall(text)


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def _last_place(token: str) -> float:
    """One unit in the last printed place: 0.001 for '0.850', 1e-09 for '3.1e-08', 1 for '12'."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def number_difference(ref: str, test: str, tol: Tolerance) -> str | None:
    """Why two printed numbers disagree beyond ``tol``, or None when they agree."""
    a, b = float(ref), float(test)
    if _is_integer(ref) and _is_integer(test) and not tol.integers:
        return None if a == b else f"{ref} vs {test} (integers compare exactly)"
    if math.isnan(a) or math.isnan(b):
        return None if math.isnan(a) and math.isnan(b) else f"{ref} vs {test}"
    allowed = tol.atol + tol.rtol * max(abs(a), abs(b))
    if not (_is_integer(ref) and _is_integer(test)):
        allowed = max(allowed, _last_place(ref), _last_place(test))
    if abs(a - b) <= allowed * (1 + 1e-9):  # the 1e-9: the decimal tokens themselves are rounded
        return None
    return f"{ref} vs {test}: |diff| {abs(a - b):.3g} > allowed {allowed:.3g}"


def text_difference(ref: str, test: str, tol: Tolerance) -> str | None:
    """Why two outputs differ (text or a number beyond tolerance), or None when they agree."""
    if ref == test:
        return None
    ref_text, ref_nums = _split(ref)
    test_text, test_nums = _split(test)
    if ref_text != test_text:
        for line_ref, line_test in zip(ref.splitlines(), test.splitlines()):
            if NUMBER.split(line_ref) != NUMBER.split(line_test):
                return f"text differs: {line_ref.strip()!r} vs {line_test.strip()!r}"
        return f"text differs ({len(ref.splitlines())} vs {len(test.splitlines())} lines)"
    for r, t in zip(ref_nums, test_nums):
        why = number_difference(r, t, tol)
        if why:
            return why
    return None


def spread(ref: str, test: str, tol: Tolerance) -> str | None:
    """For sizing a tolerance: every number beyond ``tol``, summarised as the largest differences."""
    ref_text, ref_nums = _split(ref)
    test_text, test_nums = _split(test)
    if ref_text != test_text:
        return None
    moved = [(r, t) for r, t in zip(ref_nums, test_nums) if number_difference(r, t, tol)]
    if not moved:
        return None
    worst_abs = max(moved, key=lambda p: abs(float(p[0]) - float(p[1])))
    worst_rel = max(moved, key=lambda p: abs(float(p[0]) - float(p[1])) / max(abs(float(p[0])), 1e-300))
    ints = sum(_is_integer(r) and _is_integer(t) for r, t in moved)
    return (f"{len(moved)} numbers moved ({ints} integers); largest |diff| {worst_abs[0]} vs {worst_abs[1]}; "
            f"largest relative {worst_rel[0]} vs {worst_rel[1]}")


def _text_fields(outputs: Iterable[dict]) -> dict[str, list[tuple[dict, str]]]:
    """Where each compared text lives: {key: [(container, field), ...]} in output order."""
    fields: dict[str, list[tuple[dict, str]]] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            fields.setdefault(f"stream:{out['name']}", []).append((out, "text"))
        for mime in TEXT_MIMES:
            if mime in out.get("data", {}):
                fields.setdefault(mime, []).append((out["data"], mime))
    return fields


def _as_text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def reconcile(
    test: list[dict], ref: list[dict], tol: Tolerance, sanitize: Callable[[str], str] = str
) -> list[str]:
    """Make each text of ``test`` that agrees with ``ref`` within ``tol`` identical to it.

    Returns the reasons for the texts that still differ (empty when all agree). Outputs are
    paired by kind in order, as nbval pairs them; a missing or extra output is left for nbval.
    """
    problems = []
    test_fields, ref_fields = _text_fields(test), _text_fields(ref)
    for key, ref_list in ref_fields.items():
        for (t_box, t_field), (r_box, r_field) in zip(test_fields.get(key, []), ref_list):
            r_raw, t_raw = _as_text(r_box[r_field]), _as_text(t_box[t_field])
            why = text_difference(sanitize(r_raw), sanitize(t_raw), tol)
            if why is None:
                t_box[t_field] = r_box[r_field]
            else:
                problems.append(f"{key}: {why}")
    return problems


def ignores_output(cell: dict) -> bool:
    tags = set(cell.get("metadata", {}).get("tags", []))
    source = _as_text(cell.get("source", ""))
    return bool(tags & IGNORE_TAGS) or any(m in source for m in IGNORE_MARKERS)


def load_sanitizers(path: Path) -> Callable[[str], str]:
    """The regex replacements of an nbval sanitize file, as one function."""
    pairs = re.findall(r"^regex: (.*)$\n^replace: (.*)$", Path(path).read_text(), flags=re.M)

    def sanitize(text: str) -> str:
        for regex, replace in pairs:
            text = re.sub(regex, replace, text)
        return text

    return sanitize


def cell_differences(cell: dict, fresh_outputs: list[dict], sanitize: Callable[[str], str]) -> list[str]:
    """What nbval (with :func:`install`) would report for ``cell`` against ``fresh_outputs``."""
    from nbval.plugin import coalesce_streams

    ref = coalesce_streams(copy.deepcopy(cell["outputs"]))
    test = coalesce_streams(copy.deepcopy(fresh_outputs))
    tol = Tolerance.from_metadata(cell.get("metadata", {}))
    problems = []
    for key, ref_list in _text_fields(ref).items():
        for (t_box, t_field), (r_box, r_field) in zip(_text_fields(test).get(key, []), ref_list):
            r_txt, t_txt = sanitize(_as_text(r_box[r_field])), sanitize(_as_text(t_box[t_field]))
            why = text_difference(r_txt, t_txt, tol)
            if why:
                problems.append(f"{key}: {spread(r_txt, t_txt, tol) or why}")
    counts = {k: len(v) for k, v in _text_fields(ref).items()}
    fresh_counts = {k: len(v) for k, v in _text_fields(test).items()}
    if counts != fresh_counts:
        problems.append(f"outputs differ in kind or number: {counts} vs {fresh_counts}")
    return problems


def install() -> None:
    """Route nbval's output comparison through :func:`reconcile` (idempotent)."""
    from nbval.plugin import IPyNbCell

    original = IPyNbCell.compare_outputs
    if getattr(original, "_embedlab_numeric", False):
        return

    def compare_outputs(self, test, ref, skip_compare=None):
        tol = Tolerance.from_metadata(self.cell.metadata)
        problems = reconcile(test, ref, tol, self.sanitize)
        same = original(self, test, ref, skip_compare)
        if not same and problems:
            extra = f" (cell tolerance: {tol.why})" if tol.why else " (default: one unit in the last place)"
            self.comparison_traceback.append("embedlab numeric comparison" + extra + ":")
            self.comparison_traceback.extend(f"  {p}" for p in problems)
        return same

    compare_outputs._embedlab_numeric = True  # type: ignore[attr-defined]
    IPyNbCell.compare_outputs = compare_outputs
