"""zhnlp as a spaCy tokenizer (`zhnlp/spacy.py`) on the random tiny model: every spaCy
annotation is checked against the zhnlp Document it came from."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

spacy = pytest.importorskip("spacy", reason="spaCy is an optional extra: pip install "
                            "'zhnlp[spacy]'")
displacy = pytest.importorskip("spacy.displacy")

import zhnlp  # noqa: E402
import zhnlp.spacy as zspacy  # noqa: E402
from zhnlp.errors import ZhnlpError  # noqa: E402
from zhnlp.interop import entity_words  # noqa: E402

SNIPPET = "北京大学的李白教授昨天在上海发表了演讲。他叫汤姆去拿外衣。"


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return spacy.blank("zh", config={"nlp": {"tokenizer": {
        "@tokenizers": "zhnlp.PipelineAsTokenizer.v1", "model": str(tiny_model_dir),
        "threads": 1}}})


@pytest.fixture(scope="module")
def zh(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


def words_of(doc) -> list[tuple]:
    return [(t.text, t.whitespace_, t.pos_, t.tag_, t.dep_, t.head.i, t.is_sent_start,
             t.ent_iob_, t.ent_type_, t._.pku) for t in doc]


def test_the_snippet_matches_the_zhnlp_document(nlp, zh):
    doc, document = nlp(SNIPPET), zh(SNIPPET)
    assert doc.text == SNIPPET
    tokens = document.tokens
    assert [t.text for t in doc] == [t.text for t in tokens]
    assert [t.pos_ for t in doc] == [t.upos for t in tokens]
    assert [t.tag_ for t in doc] == [t.xpos for t in tokens]
    assert [t._.pku for t in doc] == [t.pku for t in tokens]
    assert [t.dep_ for t in doc] == [t.deprel for t in tokens]
    # heads: zhnlp's ids count from 1 per sentence (0: root); spaCy's are Doc indices
    offset = 0
    for sentence in document.sentences:
        for token in sentence.tokens:
            spacy_token = doc[offset + token.id - 1]
            expected = spacy_token.i if token.head == 0 else offset + token.head - 1
            assert spacy_token.head.i == expected
        offset += len(sentence.tokens)
    sentences = list(doc.sents)
    assert [s.text for s in sentences] == ["北京大学的李白教授昨天在上海发表了演讲。",
                                           "他叫汤姆去拿外衣。"]
    assert [t.is_sent_start for t in doc].count(True) == 2
    expected_ents = set()
    for sentence in document.sentences:
        first = sum(len(s.tokens) for s in document.sentences[:document.sentences.index(
            sentence)])
        for entity in sentence.entities:
            start, end = entity_words(sentence, entity)
            expected_ents.add((first + start, first + end, entity.label))
    kept = {(e.start, e.end, e.label_) for e in doc.ents}
    assert kept <= expected_ents and (kept or not expected_ents)
    for start, end, _ in expected_ents - kept:  # dropped only where it overlaps a kept one
        assert any(a < end and start < b for a, b, _ in kept)


def test_semantic_roles_in_a_doc_extension(nlp, zh):
    doc, document = nlp(SNIPPET), zh(SNIPPET)
    expected, offset = [], 0
    for sentence in document.sentences:
        for predicate in sentence.predicates:
            expected.append({"predicate": offset + predicate.id - 1, "arguments": [
                {"role": a.role, "head": offset + a.id - 1,
                 "span": (offset + a.id - 1, offset + a.id)} for a in predicate.arguments]})
        offset += len(sentence.tokens)
    assert doc._.srl == expected
    for frame in doc._.srl:
        assert doc[frame["predicate"]].text in [p.text for s in document.sentences
                                                for p in s.predicates]


def test_doc_text_is_the_input_whitespace_and_line_breaks_included(nlp):
    for text in ["  他叫汤姆 去拿外衣。\n\n北京大学 ", "他叫汤姆\t\t去", " ", "", "\n李白\n",
                 "北京  大学 李白"]:
        doc = nlp(text)
        assert doc.text == text
        for token in doc:
            if not token.text.strip():  # whitespace tokens are spaCy's SPACE
                assert token.pos_ == "SPACE" and token.tag_ == "_SP"
                assert token.head.sent == token.sent
    doc = nlp("他叫汤姆 去拿外衣。")
    assert [t.whitespace_ for t in doc if t.text == "汤姆"] == [" "]  # one space: whitespace_


def test_tasks_standard_and_bad_settings(tiny_model_dir):
    nlp = zspacy.load_pipeline(tiny_model_dir, tasks=["cws", "ner"], standard="pku",
                               threads=1)
    doc = nlp(SNIPPET)
    assert doc.text == SNIPPET and not doc.has_annotation("DEP")
    assert not doc.has_annotation("POS") and doc._.srl is None
    assert len(list(doc.sents)) == 2  # boundaries without a parse
    with pytest.raises(ZhnlpError, match="unknown task"):
        zspacy.load_pipeline(tiny_model_dir, tasks=["cws", "con"])
    with pytest.raises(ZhnlpError, match="standard"):
        zspacy.load_pipeline(tiny_model_dir, standard="msr")
    with pytest.raises(ZhnlpError, match="batch_size"):
        list(nlp.pipe(["李白"], batch_size=0))


def test_pipe_batches_through_zhnlp_and_gives_the_same_docs(nlp, monkeypatch):
    texts = [SNIPPET, "他叫汤姆去拿外衣。", "北京大学 的李白\n", "", "李白"] * 3
    one_by_one = [words_of(nlp(text)) for text in texts]
    calls: list[int] = []
    process = nlp.tokenizer.pipeline.process

    def counting(batch, *args, **kwargs):
        calls.append(len(batch))
        return process(batch, *args, **kwargs)

    monkeypatch.setattr(nlp.tokenizer.pipeline, "process", counting)
    piped = [words_of(doc) for doc in nlp.pipe(texts, batch_size=4)]
    assert piped == one_by_one
    assert calls == [4, 4, 4, 3]  # groups of batch_size texts, one zhnlp call each
    calls.clear()
    contexts = list(nlp.pipe([(text, n) for n, text in enumerate(texts)], as_tuples=True,
                             batch_size=8))
    assert [n for _, n in contexts] == list(range(len(texts)))
    assert [words_of(doc) for doc, _ in contexts] == one_by_one and calls == [8, 7]
    given = nlp("李白")  # Docs given to pipe pass through untouched
    calls.clear()
    assert list(nlp.pipe([given, "李白"]))[0] is given and calls == [1]


def test_pipe_runs_later_components(nlp):
    nlp = spacy.blank("zh", config=nlp.config)
    nlp.add_pipe("sentencizer")  # any component: it receives our Docs
    docs = list(nlp.pipe([SNIPPET, "李白"], batch_size=2))
    assert [d.text for d in docs] == [SNIPPET, "李白"]


def test_displacy_renders_dependencies_and_entities(nlp, tmp_path):
    doc = nlp(SNIPPET)
    svg = displacy.render(doc, style="dep", jupyter=False)
    assert svg.startswith("<svg") and svg.count("displacy-arc") >= len(doc) - 2
    assert all(token.text in svg for token in doc)
    html = displacy.render(doc, style="ent", jupyter=False)
    assert all(entity.text in html and entity.label_ in html for entity in doc.ents)
    (tmp_path / "dep.svg").write_text(svg, encoding="utf-8")


def test_save_and_load_from_disk(nlp, tmp_path):
    nlp.to_disk(tmp_path / "nlp")
    loaded = spacy.load(tmp_path / "nlp")
    assert words_of(loaded(SNIPPET)) == words_of(nlp(SNIPPET))


def test_the_entry_point_is_declared():
    found = [point for point in entry_points(group="spacy_tokenizers")
             if point.name == zspacy.TOKENIZER]
    if not found:
        pytest.skip("zhnlp was installed before its spacy_tokenizers entry point: "
                    "pip install -e . again")
    assert found[0].load() is zspacy.create_tokenizer
