"""embedlab.data.movielens: MovieLens-100K from RecBole's copy or a checked archive, splits, synthetic ratings.

GroupLens's terms forbid redistributing MovieLens, so every archive these tests build from
RecBole's copy lives in pytest's tmp_path and nothing derived from it is written into the repo.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import scipy.stats

from embedlab.data import DataError
from embedlab.data import movielens as ml

RECBOLE = ml._recbole_dir()  # looked up before any test monkeypatches the lookup away
needs_recbole = pytest.mark.skipif(
    RECBOLE is None,
    reason="RecBole's MovieLens-100K copy is not installed (pip install --no-deps recbole==1.2.1)",
)


@pytest.fixture(scope="module")
def movielens() -> ml.Ratings:
    return ml.load_movielens100k()


@pytest.fixture(scope="module")
def synthetic() -> tuple[ml.Ratings, ml.SyntheticTruth]:
    return ml.synthetic_ratings()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _grouplens_zip(path: Path, r: ml.Ratings, *, change_one_rating: bool = False) -> Path:
    """An archive in GroupLens's layout, built from RecBole's copy: u.data (tab-separated, no
    header; rows shuffled, since the loader's row order must not depend on the file's) and u.item
    (latin-1, pipe-separated, 19 genre flags)."""
    lines = (RECBOLE / "ml-100k.inter").read_text(encoding="utf-8").splitlines()[1:]
    lines = [lines[i] for i in np.random.default_rng(0).permutation(len(lines))]
    if change_one_rating:
        u, i, rating, t = lines[0].split("\t")
        lines[0] = "\t".join([u, i, str(6 - int(rating)), t])
    items = [
        "|".join([str(i + 1), title, "01-Jan-1995", "", "http://example.invalid/", *map(str, flags.astype(int))])
        for i, (title, flags) in enumerate(zip(r.titles, r.genres))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ml-100k/u.data", "\n".join(lines) + "\n")
        z.writestr("ml-100k/u.item", ("\n".join(items) + "\n").encode("latin-1"))
    return path


@pytest.fixture
def no_recbole(monkeypatch):
    monkeypatch.setattr(ml, "_recbole_dir", lambda: None)


# ------------------------------------------------------------------------------- loading


@needs_recbole
def test_recbole_copy_loads_with_the_recorded_content_hash(movielens):
    r = movielens
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1_682)
    assert r.source == "MovieLens-100K (recbole 1.2.1 copy)"
    assert r.user.dtype == r.item.dtype == r.timestamp.dtype == np.int64 and r.rating.dtype == np.float32
    assert set(np.unique(r.rating)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert np.bincount(r.user).min() >= 20 and np.bincount(r.item, minlength=r.n_items).min() >= 1
    assert r.content_sha256() == ml.CONTENT_SHA256
    # The definition pinned independently of the loader: RecBole's rows, ids minus 1, as sorted int64.
    text = (RECBOLE / "ml-100k.inter").read_text().splitlines()[1:]
    rows = np.array(sorted(tuple(int(x) - (j < 2) for j, x in enumerate(line.split("\t"))) for line in text))
    assert hashlib.sha256(rows.astype("<i8").tobytes()).hexdigest() == ml.CONTENT_SHA256


@needs_recbole
def test_titles_and_genres_read_as_grouplens_writes_them(movielens):
    r = movielens
    assert r.titles[0] == "Toy Story (1995)" and len(r.titles) == 1_682
    # GroupLens's own texts of RecBole's two irregular rows (its year column holds "V" and "unkonwn").
    assert r.titles[1411] == "Land Before Time III: The Time of the Great Giving (1995) (V)"
    assert r.titles[266] == "unknown"
    assert r.genre_names == ml.GENRES and r.genres.shape == (1_682, 19)
    assert [r.genre_names[g] for g in np.flatnonzero(r.genres[0])] == ["Animation", "Children's", "Comedy"]
    assert r.genres[:, 0].sum() == 2 and r.genres.sum(axis=1).min() == 1  # every item has a genre


@needs_recbole
def test_download_path_on_a_local_archive_agrees_with_recbole(movielens, tmp_path, no_recbole):
    src = _grouplens_zip(tmp_path / "src" / "ml-100k.zip", movielens)
    cache = tmp_path / "cache"
    r = ml.load_movielens100k(download=True, cache_dir=cache, url=src.as_uri(), md5=_md5(src))
    assert r.source == "MovieLens-100K (download, md5 verified)"
    assert r.content_sha256() == ml.CONTENT_SHA256 == movielens.content_sha256()
    assert r.titles == movielens.titles and np.array_equal(r.genres, movielens.genres)
    for name in ("user", "item", "rating", "timestamp"):  # the canonical row order: equal arrays
        assert np.array_equal(getattr(r, name), getattr(movielens, name)), name
    assert sorted(p.name for p in cache.iterdir()) == ["ml-100k.zip"]
    again = ml.load_movielens100k(cache_dir=cache, md5=_md5(src))  # from the cache, no download
    assert again.source == "MovieLens-100K (cached, md5 verified)" and again.content_sha256() == ml.CONTENT_SHA256


@needs_recbole
def test_cache_dir_defaults_to_embedlab_data(movielens, tmp_path, no_recbole, monkeypatch):
    src = _grouplens_zip(tmp_path / "ml-100k.zip", movielens)
    monkeypatch.setenv("EMBEDLAB_DATA", str(tmp_path))
    assert ml.load_movielens100k(md5=_md5(src)).source == "MovieLens-100K (cached, md5 verified)"


@needs_recbole
def test_a_changed_rating_is_refused_and_nothing_lands(movielens, tmp_path, no_recbole):
    src = _grouplens_zip(tmp_path / "src" / "ml-100k.zip", movielens, change_one_rating=True)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="content hash mismatch"):
        ml.load_movielens100k(download=True, cache_dir=cache, url=src.as_uri(), md5=_md5(src))
    assert not cache.exists() or not list(cache.iterdir())
    # The same archive already in the cache is reported, not deleted (it is the reader's file).
    cached = cache / "ml-100k.zip"
    cached.parent.mkdir(exist_ok=True)
    cached.write_bytes(src.read_bytes())
    with pytest.raises(DataError, match="content hash mismatch.*delete it and retry"):
        ml.load_movielens100k(cache_dir=cache, md5=_md5(src))
    assert cached.exists()


@needs_recbole
def test_a_wrong_md5_is_refused_and_nothing_lands(movielens, tmp_path, no_recbole):
    src = _grouplens_zip(tmp_path / "src" / "ml-100k.zip", movielens)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="checksum mismatch.*md5"):
        ml.load_movielens100k(download=True, cache_dir=cache, url=src.as_uri())  # GroupLens's md5: not this zip
    assert not list(cache.iterdir())


def test_corrupt_archives_give_data_errors(tmp_path, no_recbole):
    cache = tmp_path / "cache"
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n" * 2000)
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995||x" + "|0" * 19 + "\n")
    flipped = bytearray(good.getvalue())
    flipped[50] ^= 0xFF  # inside the compressed u.data (its header ends at byte 44): CRC or inflate fails
    no_item = io.BytesIO()
    with zipfile.ZipFile(no_item, "w") as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n")
    bad_item = io.BytesIO()
    with zipfile.ZipFile(bad_item, "w") as z:
        z.writestr("ml-100k/u.data", "1\t1\t5\t881250949\n")
        z.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995||x|0|1\n")
    cases = {
        "truncated": good.getvalue()[: len(good.getvalue()) // 2],
        "not a zip": b"<html>404</html>",
        "flipped byte": bytes(flipped),
        "no u.item": no_item.getvalue(),
        "bad u.item": bad_item.getvalue(),
    }
    for name, payload in cases.items():
        src = tmp_path / f"{name}.zip"
        src.write_bytes(payload)
        with pytest.raises(DataError, match="not a readable MovieLens-100K archive|malformed"):
            ml.load_movielens100k(download=True, cache_dir=cache, url=src.as_uri(), md5=_md5(src))
        assert not list(cache.iterdir()), name
    # The well-formed toy archive parses, then fails the content hash: it is not MovieLens.
    src = tmp_path / "toy.zip"
    src.write_bytes(good.getvalue())
    with pytest.raises(DataError, match="content hash mismatch"):
        ml.load_movielens100k(download=True, cache_dir=cache, url=src.as_uri(), md5=_md5(src))


def test_no_source_says_how_to_get_one(tmp_path, no_recbole):
    with pytest.raises(DataError) as e:
        ml.load_movielens100k(cache_dir=tmp_path)
    message = str(e.value)
    assert "pip install --no-deps recbole==1.2.1" in message
    assert "load_movielens100k(download=True)" in message and "Colab" in message
    assert "redistribut" in message
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="download must be True or False"):
        ml.load_movielens100k(download="yes", cache_dir=tmp_path)


def test_recbole_is_located_not_imported():
    # Importing RecBole would pull in torch and its many dependencies, installed --no-deps here.
    import sys

    if importlib.util.find_spec("recbole") is not None:
        ml._recbole_dir()
    assert sys.modules.get("recbole") is None  # absent (or blocked, as when RecBole is hidden)


# -------------------------------------------------------------------------------- Ratings


def test_ratings_methods(synthetic):
    r, _ = synthetic
    m = r.matrix()
    assert isinstance(m, scipy.sparse.csr_matrix) and m.shape == (300, 500) and m.nnz == len(r) == 9_000
    assert set(np.unique(m.data)) == {1.0}
    assert r.matrix(binary=False)[r.user[5], r.item[5]] == r.rating[5]
    lists = r.per_user()
    assert len(lists) == 300 and all(len(a) == 30 for a in lists)
    assert set(lists[7].tolist()) == set(r.item[r.user == 7].tolist())
    mask = r.user < 10
    sub = r.subset(mask)
    assert len(sub) == 300 and (sub.n_users, sub.n_items, sub.titles) == (r.n_users, r.n_items, r.titles)
    assert np.array_equal(r.subset(np.flatnonzero(mask)).item, sub.item)
    assert np.array_equal(r.subset(np.array([], dtype=np.int64)).user, [])
    assert np.array_equal(sub.per_user()[20], [])  # users without rows still have a (empty) list


def test_ratings_reject_bad_input(synthetic):
    r, _ = synthetic
    fields = dict(user=[0, 1], item=[0, 2], rating=[4.0, 5.0], timestamp=[1, 2], n_users=2, n_items=3,
                  titles=("a", "b", "c"), genres=np.zeros((3, 1), bool), genre_names=("g",), source="test")  # fmt: skip
    assert len(ml.Ratings(**{**fields, "n_users": np.int64(2)})) == 2
    for change, match in [
        ({"item": [0, 3]}, "item ids must lie in 0..2"),
        ({"user": [-1, 0]}, "user ids must lie in 0..1"),
        ({"rating": [4.0]}, "rating has 1 rows but user has 2"),
        ({"user": [0.0, 1.0]}, "user must hold integers"),
        ({"n_items": 0}, "n_items must be an integer >= 1"),
        ({"titles": ("a",)}, "titles has 1 entries"),
        ({"genres": np.zeros((3, 2), bool)}, "genres must have shape"),
    ]:
        with pytest.raises(ValueError, match=match):
            ml.Ratings(**{**fields, **change})
    with pytest.raises(ValueError, match="bool index must have shape"):
        r.subset(np.ones(3, bool))
    with pytest.raises(ValueError, match="index must be a bool mask or integer"):
        r.subset(np.array([0.5]))
    twice = ml.Ratings(**{**fields, "user": [0, 0], "item": [1, 1]})
    assert twice.matrix().nnz == 1
    with pytest.raises(ValueError, match="rated twice"):
        twice.matrix(binary=False)


# --------------------------------------------------------------------------------- splits


def _assert_partition(r, train, test):
    assert len(train) + len(test) == len(r)
    key = lambda x: set(zip(x.user.tolist(), x.item.tolist(), x.timestamp.tolist()))  # noqa: E731
    assert key(train).isdisjoint(key(test)) and key(train) | key(test) == key(r)


@pytest.mark.parametrize("data", ["synthetic", "movielens"])
def test_temporal_split_holds_out_each_users_latest_ratings(data, request):
    if data == "movielens" and RECBOLE is None:
        pytest.skip("RecBole's MovieLens-100K copy is not installed")
    r = request.getfixturevalue(data)
    r = r[0] if isinstance(r, tuple) else r
    train, test = ml.temporal_split(r, np.float64(0.2))
    _assert_partition(r, train, test)
    n, n_test = np.bincount(r.user, minlength=r.n_users), np.bincount(test.user, minlength=r.n_users)
    assert np.array_equal(n_test, np.floor(0.2 * n + 0.5)) and n_test.min() >= 1
    first_test = np.full(r.n_users, np.iinfo(np.int64).max)
    np.minimum.at(first_test, test.user, test.timestamp)
    last_train = np.full(r.n_users, np.iinfo(np.int64).min)
    np.maximum.at(last_train, train.user, train.timestamp)
    assert np.all(first_test >= last_train)  # no test rating is older than a train rating of its user
    again = ml.temporal_split(r, 0.2)[1]
    assert np.array_equal(again.item, test.item)


def test_temporal_split_breaks_timestamp_ties_by_row_order_and_keeps_one_each_side():
    # User 0: four ratings at one instant; user 1: two ratings; user 2: one (stays in train).
    r = ml.Ratings(user=[0, 0, 0, 0, 1, 1, 2], item=[3, 1, 2, 0, 0, 1, 0], rating=[3] * 7,
                   timestamp=[5, 5, 5, 5, 9, 1, 4], n_users=3, n_items=4, titles=("a", "b", "c", "d"),
                   genres=np.zeros((4, 0), bool), genre_names=(), source="test")  # fmt: skip
    train, test = ml.temporal_split(r, 0.5)
    assert list(zip(test.user.tolist(), test.item.tolist())) == [(0, 2), (0, 0), (1, 0)]
    assert 2 in train.user and 2 not in test.user
    _, test = ml.temporal_split(r, 0.01)  # rounds to 0, but every user with 2+ ratings gets 1
    assert test.user.tolist() == [0, 1]
    _, test = ml.temporal_split(r, 0.99)  # and keeps at least 1 in train
    assert np.bincount(test.user, minlength=3).tolist() == [3, 1, 0]


def test_random_split(synthetic):
    r, _ = synthetic
    train, test = ml.random_split(r, 0.2, seed=np.int64(3))
    _assert_partition(r, train, test)
    assert np.all(np.bincount(test.user) == 6)
    assert np.array_equal(ml.random_split(r, 0.2, seed=3)[1].item, test.item)
    assert not np.array_equal(ml.random_split(r, 0.2, seed=4)[1].item, test.item)
    latest = ml.temporal_split(r, 0.2)[1]
    assert not np.array_equal(latest.item, test.item)  # random, not the latest


def test_kfold_partitions_the_rows(synthetic):
    r, _ = synthetic
    folds = ml.kfold(r, np.int64(4), seed=1)
    assert len(folds) == 4
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(r)))  # each row in exactly one test fold
    for train, test in folds:
        assert len(test) == len(r) // 4 and np.array_equal(np.union1d(train, test), np.arange(len(r)))
        assert np.intersect1d(train, test).size == 0
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, ml.kfold(r, 4, seed=1)))
    assert not np.array_equal(folds[0][1], ml.kfold(r, 4, seed=2)[0][1])
    assert [len(te) for _, te in ml.kfold(r.subset(np.arange(7)), 3)] == [3, 2, 2]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "0.2", None])
def test_splits_reject_a_bad_fraction(synthetic, fraction):
    r, _ = synthetic
    for split in (ml.temporal_split, ml.random_split):
        with pytest.raises(ValueError, match="^fraction must be (a number|> 0 and < 1)"):
            split(r, fraction)


def test_bad_k_and_seed(synthetic):
    r, _ = synthetic
    for k in (1, 2.0, True, "5"):
        with pytest.raises(ValueError, match="^k must be an integer"):
            ml.kfold(r, k)
    with pytest.raises(ValueError, match="k must be at most the number of ratings"):
        ml.kfold(r.subset(np.arange(3)), 4)
    for split in (ml.kfold, ml.random_split):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            split(r, seed=-1)


# ------------------------------------------------------------------------------ synthetic


def test_synthetic_shapes_and_determinism(synthetic):
    r, truth = synthetic
    assert (len(r), r.n_users, r.n_items) == (9_000, 300, 500) and r.source == "synthetic (NOT MovieLens)"
    assert truth.user_factors.shape == (300, 8) and truth.item_factors.shape == (500, 8)
    assert truth.item_bias.shape == (500,) and truth.logits().shape == (300, 500)
    assert r.titles[:2] == ("item 0", "item 1") and r.genres.shape == (500, 19)
    assert set(np.unique(r.rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0} and len(np.unique(r.rating)) >= 4
    assert all(len(np.unique(items)) == 30 for items in r.per_user())  # distinct items per user
    r2, truth2 = ml.synthetic_ratings(seed=np.int64(0))
    assert r2.content_sha256() == r.content_sha256() and np.array_equal(truth2.logits(), truth.logits())
    assert ml.synthetic_ratings(seed=1)[0].content_sha256() != r.content_sha256()
    small, t = ml.synthetic_ratings(n_users=5, n_items=7, dim=2, per_user=7)
    assert len(small) == 35 and t.item_factors.shape == (7, 2)


def test_synthetic_popular_items_are_drawn_more_often(synthetic):
    r, truth = synthetic
    counts = np.bincount(r.item, minlength=r.n_items)
    rho = scipy.stats.spearmanr(truth.item_bias, counts).statistic
    assert rho > 0.5, rho


def test_synthetic_ratings_rise_with_the_logit(synthetic):
    r, truth = synthetic
    logit = truth.logits()[r.user, r.item]
    assert scipy.stats.spearmanr(logit, r.rating).statistic > 0.5


def test_synthetic_truth_ranks_held_out_items(synthetic):
    # The oracle logits, scored against each user's unrated items, put held-out items near the
    # top (AUC), far above chance (0.5): the truth is recoverable from the data's direction.
    r, truth = synthetic
    train, test = ml.temporal_split(r, 0.2)
    logits = truth.logits()
    seen = train.matrix().toarray().astype(bool)
    aucs = []
    for u, held in enumerate(test.per_user()):
        candidates = ~seen[u]
        candidates[held] = False
        aucs.append((logits[u, held][:, None] > logits[u, candidates][None, :]).mean())
    assert np.mean(aucs) > 0.7, np.mean(aucs)
    # Ratings tie to timestamps: each user's timestamps increase in draw order.
    assert np.all(np.diff(np.sort(r.timestamp[r.user == 0])) > 0)


def test_synthetic_rejects_bad_sizes():
    for kwargs, match in [
        ({"n_users": 0}, "n_users must be an integer >= 1"),
        ({"n_items": 2.5}, "n_items must be an integer, got 2.5"),
        ({"dim": True}, "dim must be an integer, got True"),
        ({"per_user": 0}, "per_user must be an integer >= 1"),
        ({"n_items": 5, "per_user": 6}, "per_user must be at most n_items"),
        ({"seed": "0"}, "seed must be an integer, got .0."),
    ]:
        with pytest.raises(ValueError, match=match):
            ml.synthetic_ratings(**kwargs)
