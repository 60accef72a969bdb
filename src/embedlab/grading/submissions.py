"""Which notebook is whose: student ids from file names and download layouts, duplicates reported.

Used by :mod:`embedlab.grade` (book/instructors.md). Three layouts are read, entry by entry, so a
folder may mix them:

* **flat**: ``ana.diaz.ipynb`` directly in the folder is student ``ana.diaz``;
* **Canvas** (a flat download): ``lastfirst_12345_67890_anything.ipynb`` (or
  ``lastfirst_late_12345_67890_...``) is student ``lastfirst_12345``, the name and Canvas user id;
* **a subfolder per student** (Moodle's download, and any LMS that does the same): every notebook
  under ``Full Name_12345_assignsubmission_file_/`` is student ``Full Name_12345``; under any other
  subfolder, the student is the subfolder's name.

Ids are never mangled: a name is only Unicode-normalised (NFC, so that ``José`` typed on a Mac and
on Linux is one student) and stripped of surrounding spaces; an accented name stays accented, and
two names that differ by an accent stay two students. The notebook's metadata is ignored unless
``id_from_metadata`` asks for it (a notebook could otherwise claim a classmate's row).

**One notebook per student, by a stated rule.** When several notebooks have the same id (a
resubmission, two files in one student's folder, two spellings of one name in NFC and NFD), the
one modified last is graded (ties: the last path in sorted order) and the others are listed in a
note. Ids that look like one student's two tries (``rita`` and ``rita_v2``, ``bob-final``) are
graded separately and reported as a note too, since only a person can tell.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["Submission", "exercises_named", "find_submissions", "safe_file_name"]

_CHECK_CALL = re.compile(r"check\(\s*[\"'](ch\d\d\.\w+)[\"']")
_CANVAS = re.compile(r"^(?P<name>[^_]+)_(?:late_)?(?P<user>\d+)_\d+_.+\.ipynb$", re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.+)_(?P<user>\d+)_assignsubmission_\w*$")
# a try's suffix: "_v2", "-2", " final", " (1)", "v2" after a letter; never a student number ("s1234567")
_TRY = re.compile(r"[\s_.-]+(v\d+|\d{1,2}|final|copy|late|new|old|resubmit\w*)$|\s*\(\d+\)$|(?<=[a-z])v\d+$",
                  re.IGNORECASE)
_SKIP = (".ipynb_checkpoints", "__MACOSX")


@dataclass
class Submission:
    """One student's notebook: the id, the file, how it was found, and what was set aside for it."""

    student: str
    path: Path
    notebook: Any  # a NotebookNode, or the exception that stopped reading it
    layout: str  # "flat", "canvas" or "folder"
    modified: float  # the file's modification time (seconds since the epoch)
    superseded: list[Path] = field(default_factory=list)  # same id, older: not graded

    @property
    def submitted(self) -> str:
        """The modification time as an ISO 8601 UTC timestamp (what the gradebook records)."""
        return datetime.fromtimestamp(self.modified, tz=UTC).isoformat(timespec="seconds")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def safe_file_name(student: str) -> str:
    """A file name for a student's feedback: the id itself, but for characters no file name may
    hold (``/``, ``\\``, control characters) and a leading dot. Ids from file names are unchanged."""
    name = "".join("_" if ch in "/\\:" or unicodedata.category(ch).startswith("C") else ch for ch in student)
    return name.lstrip(".") or "unnamed"


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if p.is_file() and not any(s in p.parts for s in _SKIP))


def _candidates(folder: Path) -> list[tuple[str, str, Path]]:
    """``(id, layout, path)`` for every notebook in the folder, by the layout each entry follows."""
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in _SKIP:
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            canvas = _CANVAS.match(entry.name)
            if canvas:
                found.append((_nfc(f"{canvas['name']}_{canvas['user']}"), "canvas", entry))
            else:
                found.append((_nfc(entry.stem) or "unnamed", "flat", entry))
        elif entry.is_dir():
            moodle = _MOODLE.match(entry.name)
            student = _nfc(f"{moodle['name']}_{moodle['user']}" if moodle else entry.name)
            found += [(student, "folder", path) for path in _notebooks(entry)]
    return found


def _read(path: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 - a broken file loses its own points, nothing else
        return e


def find_submissions(folder: Path, *, id_from_metadata: bool = False) -> tuple[list[Submission], list[str]]:
    """One :class:`Submission` per student (sorted by id) and the notes an instructor must read:
    which notebooks were set aside as older duplicates, and which ids look like one student's.

    With ``id_from_metadata``, a notebook whose metadata has a non-empty string ``student`` field
    is that student's (NFC, stripped); the others keep the id of their layout.
    """
    by_id: dict[str, list[Submission]] = {}
    for student, layout, path in _candidates(Path(folder)):
        nb = _read(path)
        if id_from_metadata and not isinstance(nb, Exception):
            named = nb.metadata.get("student")
            if isinstance(named, str) and _nfc(named):
                student = _nfc(named)
        by_id.setdefault(student, []).append(Submission(student, path, nb, layout, path.stat().st_mtime))
    kept, notes = [], []
    for student in sorted(by_id):
        subs = sorted(by_id[student], key=lambda s: (s.modified, str(s.path)))
        chosen = subs[-1]
        chosen.superseded = [s.path for s in subs[:-1]]
        kept.append(chosen)
        if chosen.superseded:
            older = ", ".join(str(p.relative_to(folder)) for p in chosen.superseded)
            notes.append(f"{len(subs)} notebooks for student {student!r}: graded the one modified last, "
                         f"{chosen.path.relative_to(folder)} ({chosen.submitted}); not graded: {older}")
    stems: dict[str, list[str]] = {}
    for sub in kept:
        if sub.layout == "flat":
            base = sub.student.casefold()
            while (shorter := _TRY.sub("", base)) != base and shorter:
                base = shorter
            stems.setdefault(base, []).append(sub.student)
    for ids in stems.values():
        if len(ids) > 1:
            notes.append(f"ids that may be one student's tries, graded separately: {', '.join(ids)} "
                         "(remove the ones that should not count and grade again)")
    files: dict[str, str] = {}
    for sub in kept:
        name = safe_file_name(sub.student).casefold()  # one feedback file per student, even on macOS
        if name in files:
            notes.append(f"students {files[name]!r} and {sub.student!r} differ only in letter case or in characters "
                         "a file name cannot hold; their feedback files are told apart by a suffix")
        files[name] = sub.student
    return kept, notes


def exercises_named(nb: Any) -> set[str]:
    """Ids in ``check("chNN.name"`` calls anywhere in a notebook (markdown or code)."""
    return {m for cell in nb.cells for m in _CHECK_CALL.findall("".join(cell.get("source", "")))}
