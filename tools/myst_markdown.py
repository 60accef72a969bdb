"""Turn the MyST Markdown of a chapter into plain Markdown that Jupyter and Colab render.

The book is written in MyST: exercises are ```` ```{exercise} ```` directives, notes are
```` ```{admonition} ````, citations are ``{footcite:p}`key``` roles. Jupyter Book renders them;
JupyterLab and Colab do not, and show a raw code block with ``:label:`` lines instead of the
exercise. The student notebooks (``tools/student_notebooks.py``) are opened in Jupyter and Colab,
so their markdown goes through :func:`plain_markdown`:

* an exercise becomes a bold heading ``**Exercise N.k: title**`` followed by its text, numbered per
  chapter in the order of the notebook (``{exercise-start}``/``{exercise-end}`` likewise);
* an admonition (``{note}``, ``{admonition} Title``, ...) becomes a blockquote with a bold title;
* ``{math}`` roles and directives become ``$...$`` and ``$$...$$`` (Jupyter renders those, as it
  renders the ``$...$`` maths the text already uses, which is left alone);
* citations become "Author (year)" / "(Author, year)", and ``{footbibliography}`` the list of the
  works cited so far, from ``book/references.bib``;
* ``{ref}`` to an exercise becomes "Exercise N.k"; other roles become their text.

A ``{solution}`` directive is an error here: solutions must be taken out before (a silent
conversion would hand them to the students).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*?)[ \t]*$")
_OPTION = re.compile(r"^[ \t]*:([\w-]+):[ \t]*(.*)$")
_ROLE = re.compile(r"(?P<pre>\b[Ee]xercise\s+)?\{(?P<name>[\w:+-]+)\}`(?P<body>[^`]*)`")
_TARGET = re.compile(r"^[ \t]*\([\w.:-]+\)=[ \t]*$")  # a MyST label line: (my-label)=
_COMMENT = re.compile(r"^[ \t]*%")  # a MyST comment line
_EQ_LABEL = re.compile(r"\$\$[ \t]*\([\w.:-]+\)[ \t]*$", flags=re.M)  # $$ (label) after display maths
_ADMONITIONS = {
    "note": "Note", "warning": "Warning", "tip": "Tip", "hint": "Hint", "important": "Important",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
    "seealso": "See also", "admonition": "Note",
}
_CODE = {"code", "code-block", "sourcecode", "code-cell"}
_SOLUTIONS = {"solution", "solution-start", "solution-end"}


@dataclass
class Bibliography:
    """The works in a BibTeX file, formatted as plain Markdown (``pybtex``, as the book's ``sphinxcontrib-bibtex``)."""

    path: Path
    _db: object = field(init=False, default=None, repr=False)

    def _entries(self):
        if self._db is None:
            from pybtex.database import parse_file

            self._db = parse_file(str(self.path))
        return self._db.entries  # type: ignore[attr-defined]

    def _names(self, key: str) -> str:
        entry = self._entries().get(key)
        if entry is None:
            return key
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [_latex_text(" ".join(p.last_names)) for p in people]
        if not last:
            return _latex_text(entry.fields.get("title", key))
        if len(last) == 1:
            return last[0]
        if len(last) == 2:
            return f"{last[0]} and {last[1]}"
        return f"{last[0]} et al."

    def _year(self, key: str) -> str:
        entry = self._entries().get(key)
        return entry.fields.get("year", "n.d.") if entry is not None else "n.d."

    def textual(self, key: str) -> str:
        """``{footcite:t}``: Bengio et al. (2003)."""
        return f"{self._names(key)} ({self._year(key)})"

    def parenthetical(self, keys: list[str]) -> str:
        """``{footcite:p}``: (Bengio et al., 2003; Mikolov et al., 2013)."""
        return "(" + "; ".join(f"{self._names(k)}, {self._year(k)}" for k in keys) + ")"

    def reference_list(self, keys: list[str]) -> str:
        """The works ``keys``, one Markdown list item each, in the order given."""
        from pybtex.plugin import find_plugin

        known = [k for k in keys if k in self._entries()]
        if not known:
            return ""
        style = find_plugin("pybtex.style.formatting", "plain")()
        backend = find_plugin("pybtex.backends", "markdown")()
        entries = [self._entries()[k] for k in known]
        items = [_latex_text(e.text.render(backend)) for e in style.format_entries(entries)]
        # pybtex escapes every punctuation mark ("www\\.example\\.org"); some renderers show the
        # backslashes in link text. These marks mean nothing inside a list item's text.
        items = [re.sub(r"\\([.\-()!+:/,;?])", r"\1", item) for item in items]
        return "\n".join("- " + " ".join(item.split()) for item in items)


def _latex_text(text: str) -> str:
    """BibTeX's accents and braces as Unicode text: ``R{\\'e}jean`` -> ``Réjean``."""
    try:
        from pylatexenc.latex2text import LatexNodes2Text  # type: ignore[import-not-found]

        return LatexNodes2Text().latex_to_text(text)
    except ImportError:
        accents = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "~": "\u0303", "c": "\u0327"}

        def accent(m: re.Match) -> str:
            return m.group(2) + accents[m.group(1)]

        import unicodedata

        text = re.sub(r"\\(['`\"^~c])\s*\{?\\?([A-Za-z])\}?", accent, text)
        return unicodedata.normalize("NFC", text.replace("{", "").replace("}", "").replace("\\&", "&"))


@dataclass
class Converter:
    """Converts the markdown cells of one notebook, in order (numbering and citations carry over).

    ``chapter``: the chapter number N of "Exercise N.k" (None: "Exercise k").
    ``labels``: exercise label -> its number "N.k", for ``{ref}`` (found by :func:`exercise_labels`).
    """

    chapter: int | None
    labels: dict[str, str]
    bibliography: Bibliography | None = None
    count: int = 0
    cited: list[str] = field(default_factory=list)
    listed: int = 0  # how many of ``cited`` a {footbibliography} has listed already

    def number(self) -> str:
        self.count += 1
        return f"{self.chapter}.{self.count}" if self.chapter is not None else str(self.count)

    def convert(self, text: str) -> str:
        """The plain Markdown of one cell's MyST source."""
        out = self._blocks(text.split("\n"))
        text = "\n".join(out)
        text = _EQ_LABEL.sub("$$", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip("\n")

    def _blocks(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        plain_fence: str | None = None  # inside a plain ``` code block: copy verbatim
        while i < len(lines):
            line = lines[i]
            if plain_fence is not None:
                out.append(line)
                if line.strip().startswith(plain_fence) and not line.strip().strip(plain_fence[0]):
                    plain_fence = None
                i += 1
                continue
            m = _FENCE.match(line)
            if m is None:
                fence = re.match(r"^[ \t]*(`{3,}|~{3,})", line)
                if fence:
                    plain_fence = fence.group(1)
                    out.append(line)
                elif not (_TARGET.match(line) or _COMMENT.match(line)):
                    out.append(self._roles(line))
                i += 1
                continue
            fence, name, arg = m.group("fence"), m.group("name"), m.group("arg")
            i += 1
            options: dict[str, str] = {}
            if i < len(lines) and lines[i].strip() == "---":  # YAML options block
                i += 1
                while i < len(lines) and lines[i].strip() != "---":
                    key, _, value = lines[i].partition(":")
                    options[key.strip()] = value.strip()
                    i += 1
                i += 1
            while i < len(lines) and (o := _OPTION.match(lines[i])):
                options[o.group(1)] = o.group(2)
                i += 1
            body: list[str] = []
            # The closing fence: the same character, at least as long (a nested directive uses a
            # longer fence around it, as in MyST and CommonMark).
            while i < len(lines):
                s = lines[i].strip()
                if s and s[0] == fence[0] and not s.strip(fence[0]) and len(s) >= len(fence):
                    break
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence
            out.extend(self._directive(name, arg, options, body))
        return out

    def _directive(self, name: str, arg: str, options: dict[str, str], body: list[str]) -> list[str]:
        if name in _SOLUTIONS:
            raise ValueError(f"a {{{name}}} directive is left: take the solutions out first")
        if name in ("exercise", "exercise-start"):
            title = self._roles(arg)
            heading = f"**Exercise {self.number()}: {title}**" if title else f"**Exercise {self.number()}**"
            return ["", heading, "", *self._blocks(body), ""]
        if name == "exercise-end":
            return []
        if name == "math":
            return ["", "$$", *body, "$$", ""]
        if name in _CODE:
            language = arg.split()[0] if arg else ""
            return ["", f"```{language}", *body, "```", ""]
        if name == "footbibliography":
            return self._bibliography()
        if name in ("figure", "image"):
            alt = options.get("alt", "")
            return ["", f"![{alt}]({arg})", "", *self._blocks(body), ""]
        if name in ("toctree", "tableofcontents", "glue", "glue:figure", "bibliography"):
            return []
        title = self._roles(arg) if name == "admonition" and arg else _ADMONITIONS.get(name, name.capitalize())
        inner = "\n".join(self._blocks(body)).strip("\n").split("\n")
        quoted = [f"> {line}" if line.strip() else ">" for line in inner]
        return ["", f"> **{title}**", ">", *quoted, ""]

    def _bibliography(self) -> list[str]:
        keys, self.listed = self.cited[self.listed:], len(self.cited)
        if self.bibliography is None or not keys:
            return []
        return ["", self.bibliography.reference_list(keys), ""]

    def _roles(self, line: str) -> str:
        return _ROLE.sub(self._role, line)

    def _role(self, m: re.Match) -> str:
        pre, name, body = m.group("pre") or "", m.group("name"), m.group("body")
        return pre + self._role_text(name, body, bare=bool(pre))

    def _role_text(self, name: str, body: str, bare: bool) -> str:
        """The plain text of role ``name`` on ``body``; ``bare``: after the word "exercise"."""
        text, target = body, body
        explicit = re.match(r"^(.*?)\s*<([^>]+)>$", body, flags=re.S)
        if explicit:
            text, target = explicit.group(1), explicit.group(2)
        if name == "math":
            return f"${body}$"
        if name.startswith("footcite") or name.startswith("cite"):
            keys = [k.strip() for k in body.split(",") if k.strip()]
            self.cited.extend(k for k in keys if k not in self.cited)
            if self.bibliography is None:
                return "[" + "; ".join(keys) + "]"
            if name.endswith(":t"):
                return "; ".join(self.bibliography.textual(k) for k in keys)
            return self.bibliography.parenthetical(keys)
        if name in ("ref", "numref"):
            if explicit:
                return text.replace("%s", self.labels.get(target, target))
            if target in self.labels:
                return self.labels[target] if bare else f"Exercise {self.labels[target]}"
            return target
        if name == "eq":
            return f"({target})"
        if name == "doc":
            return text if explicit else Path(target).name
        return text


def exercise_titles(sources: list[str]) -> dict[str, str]:
    """Exercise label -> its title ("" if none), for the exercise directives of ``sources`` in order."""
    titles: dict[str, str] = {}
    for text in sources:
        lines = text.split("\n")
        for i, line in enumerate(lines):
            m = _FENCE.match(line)
            if m and m.group("name") in ("exercise", "exercise-start"):
                for option in lines[i + 1:]:
                    o = _OPTION.match(option)
                    if o is None:
                        break
                    if o.group(1) == "label":
                        titles[o.group(2).strip()] = m.group("arg")
    return titles


def exercise_labels(sources: list[str], chapter: int | None) -> dict[str, str]:
    """Exercise label -> "N.k", numbering the exercise directives of ``sources`` in order."""
    return {label: f"{chapter}.{k}" if chapter is not None else str(k)
            for k, label in enumerate(exercise_titles(sources), 1)}


def plain_markdown(nb: dict, chapter: int | None, bibliography: Bibliography | None = None) -> dict:
    """``nb`` with every markdown cell converted to plain Markdown (in place; returns ``nb``)."""
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    converter = Converter(chapter, exercise_labels(sources, chapter), bibliography)
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = converter.convert("".join(cell["source"]))
    return nb
