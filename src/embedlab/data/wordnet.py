"""WordNet synsets and the reverse-dictionary retrieval task built from them.

Taught in chapter 10 (retrieval). A *reverse dictionary* is semantic search with a judged
answer: the query is a definition (WordNet's gloss, "a domesticated carnivorous mammal ..."),
the documents are words, and the correct documents are the lemmas of the definition's synset
("dog", "domestic dog"). Nothing is shipped: the files come from Debian's ``wordnet-base``
package (WordNet 3.0, Princeton's licence, which allows redistribution), read from
``/usr/share/wordnet/data.{noun,verb,adj,adv}`` by a parser written here. NLTK's reader is not
used because it does not read Debian's copy.

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
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedlab.data import DataError

__all__ = ["POS", "LEXNAMES", "Synset", "load_wordnet", "contains_answer", "Split", "ReverseDictionary",
           "reverse_dictionary", "hypernym_pairs", "sense_counts"]

POS = ("noun", "verb", "adj", "adv")  # the four data files, data.<pos>
_INSTALL = "install Debian's WordNet files: apt-get install wordnet-base (on Colab: !apt-get -qq install wordnet-base)"
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


def load_wordnet(pos: Sequence[str] | str = ("noun",), root: str | Path = "/usr/share/wordnet") -> list[Synset]:
    """Every synset of the parts of speech ``pos`` (names from :data:`POS`), in file order.

    WordNet 3.0 has 82,115 noun, 13,767 verb, 18,156 adjective and 3,621 adverb synsets.

    Raises:
        ValueError: for an unknown part of speech.
        DataError: when a file is missing (the message says how to install it) or a line is
            malformed (the message names the file and line).
    """
    names = (pos,) if isinstance(pos, str) else tuple(pos)
    if not names or any(p not in POS for p in names):
        raise ValueError(f"pos must name parts of speech from {POS}, got {pos!r}")
    out: list[Synset] = []
    for name in dict.fromkeys(names):  # each file once, in the order given
        path = Path(root) / f"data.{name}"
        if not path.is_file():
            raise DataError(f"WordNet file {path} not found; {_INSTALL}")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read {path}: {e}") from e
        for number, line in enumerate(lines, start=1):
            if line.startswith("  ") or not line.strip():  # the licence header
                continue
            try:
                out.append(_parse(line, name))
            except (ValueError, IndexError) as e:
                raise DataError(f"malformed line {number} of {path}: {e}: {line[:80]!r}") from None
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


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


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
    n_queries, n_valid = _count("n_queries", n_queries, 1), _count("n_valid", n_valid, 0)
    seed = _count("seed", seed, 0)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real) or not 0 <= train_fraction <= 1:
        raise ValueError(f"train_fraction must be a number in [0, 1], got {train_fraction!r}")
    if not isinstance(single_word, (bool, np.bool_)):
        raise ValueError(f"single_word must be True or False, got {single_word!r}")
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

    pairs = set()
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
