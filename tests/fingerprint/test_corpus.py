"""The probe corpus and --corpus files."""

from __future__ import annotations

import pytest

from stcompat.errors import CorpusError, InputError
from stcompat.fingerprint.corpus import CorpusEntry, corpus_hash, load_corpus, parse_corpus


def test_builtin_corpus_covers_the_drift_exposing_kinds():
    corpus = load_corpus()
    assert 95 <= len(corpus.entries) <= 130
    tags = {t for e in corpus.entries for t in e.tags}
    for needed in ("short", "long", "zh", "multilingual", "code", "numbers", "emoji", "repeated",
                   "near-duplicate", "prompt", "case"):
        assert needed in tags, needed
    assert {e.prompt for e in corpus.entries if e.prompt} == {"query", "document"}
    # Longer than any max_seq_length in use (512 word pieces): the 20x paragraph has ~1000 words.
    assert max(len(e.text.split()) for e in corpus.entries) > 600
    assert corpus.source == "builtin"


def test_plain_text_file_one_text_a_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\nsecond text\n", encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.texts == ["first text", "second text"]
    assert corpus.entries[0] == CorpusEntry("first text")


def test_jsonl_file_keeps_tags_and_prompts(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text('{"text": "q", "tags": ["x"], "prompt": "query"}\n"bare string"\n', encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.entries == (CorpusEntry("q", ("x",), "query"), CorpusEntry("bare string"))


@pytest.mark.parametrize("content", ['{"text": 1}\n', '{"text": "a"\n', '{"text": "a", "tags": "x"}\n', "\n\n"])
def test_malformed_corpus_is_stc602(content):
    with pytest.raises(CorpusError) as info:
        parse_corpus(content, "c.jsonl")
    assert info.value.code == "STC602" and info.value.path == "c.jsonl"
    assert info.value.line == (None if content == "\n\n" else 1)


def test_missing_corpus_file_is_stc001(tmp_path):
    with pytest.raises(InputError) as info:
        load_corpus(tmp_path / "absent.txt")
    assert info.value.code == "STC001"


def test_hash_depends_on_text_tags_and_prompt():
    a = (CorpusEntry("x", ("t",), "query"),)
    assert corpus_hash(a) == corpus_hash([CorpusEntry("x", ("t",), "query")])
    assert corpus_hash(a) != corpus_hash((CorpusEntry("x", ("t",)),))
    assert corpus_hash(a) != corpus_hash((CorpusEntry("x ", ("t",), "query"),))


def test_a_corpus_over_the_bound_is_refused_before_any_model_loads(tmp_path):
    from stcompat.errors import CorpusError
    from stcompat.fingerprint import fingerprint
    from stcompat.fingerprint.header import MAX_ENTRIES

    big = tmp_path / "big.txt"
    big.write_text("".join(f"text {i}\n" for i in range(MAX_ENTRIES + 1)))
    with pytest.raises(CorpusError) as info:  # the model path does not exist: it is never reached
        fingerprint(tmp_path / "no-model", tmp_path / "x.fp", corpus=big)
    assert info.value.code == "STC602" and str(MAX_ENTRIES) in info.value.message
