"""WordNet synsets and the reverse-dictionary retrieval task built from them.

Taught in chapter 10 (retrieval). A *reverse dictionary* is semantic search with a judged
answer: the query is a definition (WordNet's gloss, "a domesticated carnivorous mammal ..."),
the documents are words, and the correct documents are the lemmas of the definition's synset
("dog", "domestic dog"). Nothing is shipped: the files are WordNet 3.0's database files
``data.{noun,verb,adj,adv}`` (Princeton's licence, which allows redistribution), read by a parser
written here. NLTK's reader is not used, because it does not read Debian's copy; NLTK's
*files* are read, by the same parser.

**Where the files are found** (:func:`find_wordnet`), in this order:

1. the folder named by the ``root`` argument, if given;
2. else the folder named by the environment variable ``EMBEDLAB_WORDNET``, if set;
3. else Debian's ``wordnet-base`` package, ``/usr/share/wordnet`` (what the chapters were run with);
4. else NLTK's download, ``corpora/wordnet/`` and then the zip archive ``corpora/wordnet.zip``
   (whose files sit in ``wordnet/``; NLTK's downloader leaves WordNet zipped) under each of
   NLTK's data roots in NLTK's own order (``nltk.data.path``, computed here without importing
   NLTK): every folder in ``$NLTK_DATA``, ``~/nltk_data``, ``nltk_data``, ``share/nltk_data`` and
   ``lib/nltk_data`` under ``sys.prefix``, then ``/usr/share/nltk_data``,
   ``/usr/local/share/nltk_data``, ``/usr/lib/nltk_data``, ``/usr/local/lib/nltk_data`` (on Windows
   ``%APPDATA%\\nltk_data``, ``C:\\nltk_data``, ``D:\\nltk_data``, ``E:\\nltk_data`` instead).

A folder named by the argument or the variable may hold the data files themselves (Debian's
layout), or be an ``nltk_data`` folder (its ``corpora/wordnet/`` or ``corpora/wordnet.zip`` is
read), or be NLTK's ``wordnet.zip`` itself. A place that is named but holds no WordNet is an error,
never a reason to look elsewhere. The first place that holds every requested file is used, and
its files must be WordNet 3.0: a file whose licence header names another version (Homebrew's
``wordnet`` is 3.1, with other offsets and counts) is refused. When nothing is found, the error
lists the places searched and one install command per platform (:data:`INSTALL`).

**The file format** (WordNet's ``wndb(5)``). Lines that start with two spaces are the licence.
A data line is::

    offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] [frames] | gloss

``w_cnt`` is two *hexadecimal* digits, ``p_cnt`` three decimal ones, a pointer is four fields
(``@ 00001740 n 0000``); verbs add frames after the pointers, which are skipped because the
gloss follows the first ``" | "``. Lemmas write spaces as ``_`` and adjectives may carry a
syntactic marker, ``(a)``, ``(p)`` or ``(ip)``, which is dropped. Offsets are unique within one
file only, so a synset is identified by ``(pos, offset)``.

**The definition** is the gloss up to the first example: the first ``;`` or ``:`` followed by a
double quote (``accurate and to the point; "a dead-on feel for ..."``). WordNet mostly writes
``; "``; 49 glosses use ``: "``. A few glosses run an example on with no separator and keep it.

**The task** (:func:`reverse_dictionary`): synsets whose lemmas are all single words (and, given a
``vocabulary``, all in it) are shuffled by ``seed`` and dealt into test, validation and
training synsets, so the three never share a definition. Definitions that contain one of their
own answers as a word are dropped first ("a bakery is a workplace where *bakery* goods are made"
would be answered by string matching); about 5% of noun definitions do. With GloVe's 400,000
words as the vocabulary (chapter 10's choice, so that every candidate word has a vector),
29,465 noun synsets pass the word filters, 1,577 of them (5.4%) are dropped for containing an
answer, and the 5,000 test queries (seed 0) have 1.36 correct words each among 6,141 candidates.

**Relations** (chapter 11, limits of the map). Each synset keeps its lexicographer file
(``noun.animal``, ``noun.food``, ...: a coarse semantic class no embedding was trained on) and
its hypernym pointers (``@``: "dog" is a kind of "canine"). :func:`hypernym_pairs` turns them
into directed word pairs, :func:`sense_counts` counts the senses of each word (its polysemy).

One module of about 470 lines, past the house's 400: finding, parsing and the tasks built on
the synsets are one dataset's loader, as for the other datasets of :mod:`embedlab.data`.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab._checks import flag, integer, number
from embedlab.data import DataError

__all__ = ["POS", "LEXNAMES", "ENV_VAR", "INSTALL", "Synset", "nltk_data_roots", "wordnet_search_path",
           "find_wordnet", "load_wordnet", "contains_answer", "Split", "ReverseDictionary", "reverse_dictionary",
           "hypernym_pairs", "sense_counts"]

POS = ("noun", "verb", "adj", "adv")  # the four data files, data.<pos>
ENV_VAR = "EMBEDLAB_WORDNET"  # a folder (or NLTK's wordnet.zip) the reader names
DEBIAN = Path("/usr/share/wordnet")  # Debian's and Ubuntu's wordnet-base
# NLTK's system-wide data roots after those under sys.prefix (nltk.data.path, NLTK 3.x).
NLTK_SYSTEM_ROOTS = ("/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data",
                     "/usr/local/lib/nltk_data")
NLTK_WINDOWS_ROOTS = (r"C:\nltk_data", r"D:\nltk_data", r"E:\nltk_data")
_ZIP_DIR = "wordnet/"  # where NLTK's corpora/wordnet.zip keeps the files
# One command per platform that installs WordNet 3.0's files where find_wordnet looks. Debian's package
# is wordnet-base; NLTK's downloader puts WordNet into ~/nltk_data (%APPDATA%\nltk_data on Windows).
# Not Homebrew's `wordnet` formula: it installs WordNet 3.1, whose offsets and counts differ.
INSTALL = {
    "Debian/Ubuntu": "sudo apt-get install wordnet-base",
    "Colab": "!apt-get -qq install wordnet-base",
    "Binder": "!pip install -q nltk && python -m nltk.downloader wordnet",
    "macOS": "python3 -m pip install nltk && python3 -m nltk.downloader wordnet",
    "Windows": "py -m pip install nltk && py -m nltk.downloader wordnet",
}
_VERSION = re.compile(r"WordNet (\d+(?:\.\d+)*) Copyright")  # in the licence header of every data file
_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # adjective markers: attributive, predicative, immediately postnominal
_EXAMPLE = re.compile(r"[;:]\s*\"")  # where the first example starts
# The lexicographer files by number (WordNet's lexnames(5); Debian does not ship the lexnames file).
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition "
    "noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape "
    "noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl"
).split()


@dataclass(frozen=True)
class Synset:
    """One WordNet synset: a sense shared by its lemmas.

    ``pos``: the file it came from (``"noun"``, ``"verb"``, ``"adj"``, ``"adv"``); ``offset``: its
    byte offset in that file (its id within the file); ``lemmas``: lower-case, spaces for ``_``,
    adjective markers removed, duplicates (``Ash`` and ``ash``) removed in order; ``gloss``: the
    definition, without the examples; ``examples``: the quoted usage examples; ``lexname``: its
    lexicographer file (:data:`LEXNAMES`); ``hypernyms``: the offsets of its hypernyms (``@``
    pointers, same part of speech).
    """

    pos: str
    offset: int
    lemmas: tuple[str, ...]
    gloss: str
    examples: tuple[str, ...] = ()
    lexname: str = ""
    hypernyms: tuple[int, ...] = ()


def nltk_data_roots() -> list[Path]:
    """NLTK's data roots (``nltk.data.path`` as NLTK builds it), in NLTK's order, without importing NLTK.

    Each folder in ``$NLTK_DATA`` (``os.pathsep``-separated), ``~/nltk_data``, then ``nltk_data``,
    ``share/nltk_data`` and ``lib/nltk_data`` under ``sys.prefix``, then :data:`NLTK_SYSTEM_ROOTS`
    (on Windows: ``%APPDATA%\\nltk_data`` and :data:`NLTK_WINDOWS_ROOTS` instead). NLTK's
    downloader writes to the first of these that exists and is writable, else to ``~/nltk_data``
    (``%APPDATA%\\nltk_data`` on Windows).
    """
    roots = [Path(os.path.expanduser(d)) for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    if os.path.expanduser("~/") != "~/":  # a home folder is known
        roots.append(Path(os.path.expanduser("~/nltk_data")))
    prefix = Path(sys.prefix)
    roots += [prefix / "nltk_data", prefix / "share" / "nltk_data", prefix / "lib" / "nltk_data"]
    if os.name == "nt":
        roots.append(Path(os.environ.get("APPDATA", "C:\\")) / "nltk_data")
        roots += [Path(r) for r in NLTK_WINDOWS_ROOTS]
    else:
        roots += [Path(r) for r in NLTK_SYSTEM_ROOTS]
    return list(dict.fromkeys(roots))


def wordnet_search_path() -> list[Path]:
    """Where :func:`find_wordnet` looks when neither ``root`` nor ``EMBEDLAB_WORDNET`` names a place.

    Debian's folder first, then for each of :func:`nltk_data_roots` its ``corpora/wordnet``
    folder and its ``corpora/wordnet.zip``. A ``.zip`` entry is NLTK's archive (files in ``wordnet/``).
    """
    out = [DEBIAN]
    for root in nltk_data_roots():
        out += [root / "corpora" / "wordnet", root / "corpora" / "wordnet.zip"]
    return out


def _named(place: Path) -> list[Path]:
    """The candidates a folder named by the reader stands for: itself, or the layouts of an nltk_data folder."""
    if place.suffix == ".zip":
        return [place]
    return [place, place / "corpora" / "wordnet", place / "corpora" / "wordnet.zip"]


def _members(candidate: Path) -> set[str] | None:
    """The file names a candidate holds (``data.noun`` ...), or None if it is not there."""
    if candidate.suffix == ".zip":
        if not candidate.is_file():
            return None
        try:
            with zipfile.ZipFile(candidate) as z:
                names = z.namelist()
        except (OSError, zipfile.BadZipFile) as e:
            raise DataError(f"cannot read the zip archive {candidate}: {e}") from e
        return {n[len(_ZIP_DIR) :] for n in names if n.startswith(_ZIP_DIR) and "/" not in n[len(_ZIP_DIR) :]}
    if not candidate.is_dir():
        return None
    return {p.name for p in candidate.iterdir() if p.is_file()}


def _not_found(names: Sequence[str], searched: Sequence[Path], named: str | None) -> DataError:
    files = ", ".join(f"data.{n}" for n in names)
    where = "\n".join(f"  {p}" for p in searched)
    if named:
        head = f"WordNet's {files} not found in the place {named} names; looked in:\n{where}\n"
    else:
        head = f"WordNet 3.0's {files} not found; searched, in this order:\n{where}\n"
    commands = "\n".join(f"  {platform + ':':<15}{command}" for platform, command in INSTALL.items())
    return DataError(
        f"{head}Install WordNet 3.0 with the command for your platform:\n{commands}\n"
        "(run pip in the Python environment that runs the course, e.g. after `source .venv/bin/activate`), "
        f"or set {ENV_VAR} (or pass root=) to a folder that holds the data files (data.noun ...), an "
        "nltk_data folder, or NLTK's wordnet.zip. Not Homebrew's wordnet formula: it is WordNet 3.1."
    )


def find_wordnet(pos: Sequence[str] | str = POS, root: str | Path | None = None) -> Path:
    """The folder, or NLTK's zip archive, that :func:`load_wordnet` reads ``data.<pos>`` from.

    The order is the module's (see its docstring): ``root`` if given, else ``$EMBEDLAB_WORDNET`` if
    set, else :func:`wordnet_search_path`; the first candidate that holds every requested file.
    A named place (``root`` or the variable) is either the folder holding the files, an
    ``nltk_data`` folder, or a ``.zip`` archive laid out as NLTK's (files in ``wordnet/``).

    Raises:
        ValueError: for an unknown part of speech.
        DataError: when no candidate holds the files (the message lists the places searched and
            an install command per platform), or a zip archive cannot be read.
    """
    names = _pos_names(pos)
    if root is not None:
        named, candidates = f"root={str(root)!r}", _named(Path(root))
    elif os.environ.get(ENV_VAR):
        named, candidates = f"{ENV_VAR}={os.environ[ENV_VAR]!r}", _named(Path(os.environ[ENV_VAR]))
    else:
        named, candidates = None, wordnet_search_path()
    for candidate in candidates:
        held = _members(candidate)
        if held is not None and all(f"data.{n}" in held for n in names):
            return candidate
    raise _not_found(names, candidates, named)


def _pos_names(pos: Sequence[str] | str) -> tuple[str, ...]:
    names = (pos,) if isinstance(pos, str) else tuple(pos)
    if not names or any(p not in POS for p in names):
        raise ValueError(f"pos must name parts of speech from {POS}, got {pos!r}")
    return tuple(dict.fromkeys(names))  # each file once, in the order given


def _read(source: Path, name: str) -> tuple[str, str]:
    """``(text, shown path)`` of ``data.<name>`` in a folder or in NLTK's zip archive."""
    if source.suffix == ".zip":
        shown = f"{source}/{_ZIP_DIR}data.{name}"
        try:
            with zipfile.ZipFile(source) as z:
                return z.read(f"{_ZIP_DIR}data.{name}").decode("utf-8"), shown
        except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise DataError(f"cannot read {shown}: {e}") from e
    path = source / f"data.{name}"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e


def load_wordnet(pos: Sequence[str] | str = ("noun",), root: str | Path | None = None) -> list[Synset]:
    """Every synset of the parts of speech ``pos`` (names from :data:`POS`), in file order.

    ``root``: where the files are (see :func:`find_wordnet`); by default ``$EMBEDLAB_WORDNET``,
    then Debian's ``/usr/share/wordnet``, then NLTK's download. WordNet 3.0 has 82,115 noun,
    13,767 verb, 18,156 adjective and 3,621 adverb synsets.

    Raises:
        ValueError: for an unknown part of speech.
        DataError: when the files are not found (the message says how to install them), are not
            WordNet 3.0, or a line is malformed (the message names the file and line).
    """
    names = _pos_names(pos)
    source = find_wordnet(names, root)
    out: list[Synset] = []
    for name in names:
        text, shown = _read(source, name)
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.startswith("  ") or not line.strip():  # the licence header
                version = _VERSION.search(line)
                if version and version.group(1) != "3.0":
                    raise DataError(f"{shown} is WordNet {version.group(1)}; the course needs WordNet 3.0 "
                                    "(other versions have other offsets and counts)")  # fmt: skip
                continue
            try:
                out.append(_parse(line, name))
            except (ValueError, IndexError) as e:
                raise DataError(f"malformed line {line_no} of {shown}: {e}: {line[:80]!r}") from None
    return out


def _parse(line: str, pos: str) -> Synset:
    head, bar, gloss = line.partition(" | ")
    if not bar:
        raise ValueError("no ' | ' before the gloss")
    fields = head.split()
    n_words = int(fields[3], 16)  # w_cnt is hexadecimal
    if n_words < 1:
        raise ValueError("w_cnt is 0")
    n_pointers = int(fields[4 + 2 * n_words])  # p_cnt follows the lemmas: a wrong w_cnt fails here...
    if len(fields) < 5 + 2 * n_words + 4 * n_pointers:  # ... or here, with too few pointer fields
        raise ValueError(f"{n_pointers} pointers announced, fewer found")
    lemmas = (_MARKER.sub("", fields[4 + 2 * i]).replace("_", " ").lower() for i in range(n_words))
    gloss = gloss.strip()
    cut = _EXAMPLE.search(gloss)
    definition = (gloss if cut is None else gloss[: cut.start()]).strip().rstrip(";").strip()
    examples = tuple(re.findall(r'"([^"]*)"', gloss[cut.start() :])) if cut else ()
    pointers = fields[5 + 2 * n_words : 5 + 2 * n_words + 4 * n_pointers]  # (symbol, offset, pos, source/target)*
    hypernyms = tuple(int(pointers[i + 1]) for i in range(0, len(pointers), 4) if pointers[i] == "@")
    return Synset(pos, int(fields[0]), tuple(dict.fromkeys(lemmas)), definition, examples,
                  LEXNAMES[int(fields[1])], hypernyms)


# --------------------------------------------------------------------------- the reverse dictionary


@dataclass(frozen=True, eq=False)  # == on tuples of arrays is ambiguous: compare fields
class Split:
    """Definitions as queries and words as documents.

    queries: (n,) definitions; words: the candidate documents, every lemma of this split's
    synsets, sorted and unique; relevant: (n,) int64 arrays of ids into ``words`` (a query's
    synset lemmas); synsets: (n,) the ``(pos, offset)`` of each query.
    """

    queries: tuple[str, ...]
    words: tuple[str, ...]
    relevant: tuple[np.ndarray, ...]
    synsets: tuple[tuple[str, int], ...]

    def __len__(self) -> int:
        return len(self.queries)


@dataclass(frozen=True, eq=False)
class ReverseDictionary:
    """The task of :func:`reverse_dictionary`: three splits with disjoint synsets.

    ``test`` is the benchmark (its fields are also this object's ``queries``, ``words`` and
    ``relevant``); ``valid`` is for choosing settings and fitting calibration without touching
    the test; ``train`` holds the pairs a model learns from. A word may be a candidate in more
    than one split when it has several senses; its definitions differ. ``n_filtered`` counts the
    definitions dropped for containing one of their own answers, ``n_synsets`` the synsets that
    passed the other filters (before that one).
    """

    test: Split
    valid: Split
    train: Split
    n_filtered: int
    n_synsets: int

    @property
    def queries(self) -> tuple[str, ...]:
        return self.test.queries

    @property
    def words(self) -> tuple[str, ...]:
        return self.test.words

    @property
    def relevant(self) -> tuple[np.ndarray, ...]:
        return self.test.relevant


def contains_answer(definition: str, lemmas: Iterable[str]) -> bool:
    """True if one of ``lemmas`` occurs in ``definition`` as a whole word (case-insensitive).

    "Whole word" means not inside a longer run of letters and digits, so ``bake`` is not found in
    "baker", while ``dead-on`` and ``ice`` are found in "dead-on" and "ice-cold".
    """
    text = definition.lower()
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text) for w in lemmas)


def reverse_dictionary(
    synsets: Sequence[Synset],
    *,
    n_queries: int = 5000,
    n_valid: int = 2000,
    train_fraction: float = 1.0,
    single_word: bool = True,
    vocabulary: Collection[str] | None = None,
    seed: int = 0,
) -> ReverseDictionary:
    """Deal ``synsets`` into a test, validation and training reverse dictionary.

    Kept synsets: all of whose lemmas are single words (no space) when ``single_word``, all in
    ``vocabulary`` when one is given, and whose definition contains none of its lemmas
    (:func:`contains_answer`). They are ordered by ``(pos, offset)``, shuffled by ``seed``, and
    the first ``n_queries`` become the test, the next ``n_valid`` the validation split, and the
    first ``train_fraction`` of the rest the training split (all of it by default). The same
    inputs and seed give the same task.

    Raises:
        ValueError: on bad arguments, or when fewer than ``n_queries + n_valid`` synsets are kept.
    """
    n_queries, n_valid = integer(n_queries, "n_queries", low=1), integer(n_valid, "n_valid", low=0)
    seed = integer(seed, "seed", low=0)
    train_fraction = number(train_fraction, "train_fraction", low=0, high=1)
    single_word = flag(single_word, "single_word")
    if isinstance(vocabulary, str):
        raise ValueError("vocabulary must be a collection of words, not one string")
    vocab = None if vocabulary is None else (vocabulary if isinstance(vocabulary, (set, frozenset, dict))
                                             else set(vocabulary))  # fmt: skip
    if not all(isinstance(s, Synset) for s in synsets):
        bad = next(s for s in synsets if not isinstance(s, Synset))
        raise ValueError(f"synsets must hold Synset objects, got {type(bad).__name__}")
    kept, n_filtered = [], 0
    for s in sorted(synsets, key=lambda s: (s.pos, s.offset)):  # the order is part of the seed's meaning
        if single_word and any(" " in w for w in s.lemmas):
            continue
        if vocab is not None and any(w not in vocab for w in s.lemmas):
            continue
        if contains_answer(s.gloss, s.lemmas):
            n_filtered += 1
            continue
        kept.append(s)
    if len(kept) < n_queries + n_valid:
        raise ValueError(f"only {len(kept)} synsets pass the filters, fewer than n_queries + n_valid = "
                         f"{n_queries + n_valid}")  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(kept))
    rest = order[n_queries + n_valid :]
    parts = (order[:n_queries], order[n_queries : n_queries + n_valid], rest[: round(train_fraction * len(rest))])
    test, valid, train = (_split([kept[i] for i in part]) for part in parts)
    return ReverseDictionary(test, valid, train, n_filtered, len(kept) + n_filtered)


def _split(synsets: list[Synset]) -> Split:
    words = tuple(sorted({w for s in synsets for w in s.lemmas}))
    index = {w: i for i, w in enumerate(words)}
    relevant = tuple(np.array(sorted(index[w] for w in s.lemmas), dtype=np.int64) for s in synsets)
    return Split(tuple(s.gloss for s in synsets), words, relevant, tuple((s.pos, s.offset) for s in synsets))


# --------------------------------------------------------------------------- relations (chapter 11)


def hypernym_pairs(synsets: Sequence[Synset], *, vocabulary: Collection[str] | None = None) -> list[tuple[str, str]]:
    """Directed ``(hyponym, hypernym)`` word pairs from the ``@`` pointers: ``("dog", "canine")``.

    Every single-word lemma of a synset is paired with every single-word lemma of each of its
    direct hypernyms (both in ``vocabulary`` when one is given), without a word paired with
    itself. A pair that also occurs reversed (two senses that point opposite ways) is dropped,
    since it has no direction to predict. Sorted, unique.
    """
    if isinstance(vocabulary, str):
        raise ValueError("vocabulary must be a collection of words, not one string")
    vocab = None if vocabulary is None else set(vocabulary)
    by_id = {(s.pos, s.offset): s for s in synsets}

    def ok(w: str) -> bool:
        return " " not in w and (vocab is None or w in vocab)

    pairs: set[tuple[str, str]] = set()  # (hyponym, hypernym)
    for s in synsets:
        for h in s.hypernyms:
            if (s.pos, h) not in by_id:
                raise ValueError(f"synset {s.pos} {s.offset} points to hypernym {h}, which is not among the synsets")
            pairs.update((a, b) for a in s.lemmas if ok(a) for b in by_id[s.pos, h].lemmas if ok(b) and b != a)
    return sorted(p for p in pairs if (p[1], p[0]) not in pairs)


def sense_counts(synsets: Iterable[Synset]) -> dict[str, int]:
    """How many of ``synsets`` each lemma belongs to: its number of senses (polysemy)."""
    counts: dict[str, int] = {}
    for s in synsets:
        for w in s.lemmas:
            counts[w] = counts.get(w, 0) + 1
    return counts
