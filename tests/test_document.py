"""Document serialisations, built by hand (no model): the shapes other tools read back."""

import json

from zhnlp.corpora import read_conll
from zhnlp.document import Argument, Document, Predicate, Sentence, Span, Token
from zhnlp.evaluate import sentence_from_json


def sample_document() -> Document:
    text = "他叫湯姆 去。好！"
    first = Sentence(text="他叫湯姆 去。", start=0, end=7, tokens=[
        Token(1, "他", 0, 1, "PRON", "PN", "r", 2, "nsubj"),
        Token(2, "叫", 1, 2, "VERB", "VV", "v", 0, "root"),
        Token(3, "湯姆", 2, 4, "PROPN", "NR", "nr", 2, "dobj"),
        Token(4, "去", 5, 6, "VERB", "VV", "v", 2, "xcomp"),
        Token(5, "。", 6, 7, "PUNCT", "PU", "w", 2, "punct"),
    ], entities=[Span("湯姆", "PER", 2, 4)], predicates=[
        Predicate(2, "叫", 1, 2, [Argument(1, "他", 0, 1, "A0"),  # span: the head alone
                                  Argument(3, "湯姆", 2, 4, "A1", (2, 4), "湯姆 去")]),
        Predicate(4, "去", 5, 6, [Argument(3, "湯姆", 2, 4, "A0")]),
    ])
    second = Sentence(text="好！", start=7, end=9, tokens=[
        Token(1, "好", 7, 8, "ADJ", "VA", "a", 0, "root"),
        Token(2, "！", 8, 9, "PUNCT", "PU", "w", 1, "punct"),
    ])
    return Document(text=text, sentences=[first, second],
                    tasks=("cws", "pos", "ner", "dep", "srl"))


def test_offsets_index_the_document_text():
    doc = sample_document()
    for token in doc.tokens:
        assert doc.text[token.start : token.end] == token.text
    for sentence in doc.sentences:
        assert doc.text[sentence.start : sentence.end] == sentence.text
    assert doc.entities == [Span("湯姆", "PER", 2, 4)]


def test_to_dict_has_the_json_shape_and_evaluate_reads_it():
    record = json.loads(json.dumps(sample_document().to_dict(), ensure_ascii=False))
    assert set(record) == {"text", "sentences", "entities"}
    sentence = record["sentences"][0]
    assert set(sentence) == {"start", "end", "tokens", "predicates"}
    assert set(sentence["tokens"][0]) == {"id", "text", "start", "end", "upos", "xpos", "head",
                                          "deprel", "pku"}
    assert sentence["predicates"][0] == {
        "id": 2, "text": "叫", "start": 1, "end": 2,
        "arguments": [{"id": 1, "text": "他", "start": 0, "end": 1, "role": "A0",
                       "span": [0, 1], "span_text": "他"},
                      {"id": 3, "text": "湯姆", "start": 2, "end": 4, "role": "A1",
                       "span": [2, 4], "span_text": "湯姆 去"}]}
    assert record["entities"] == [{"text": "湯姆", "label": "PER", "start": 2, "end": 4}]
    read = sentence_from_json(record)
    assert read.words == ["他", "叫", "湯姆", "去", "。", "好", "！"]
    assert read.heads == [2, 0, 2, 2, 2, 0, 6]  # renumbered to the whole line
    assert [(p.index, p.arguments, p.spans) for p in read.predicates] == [
        (1, [(0, "A0"), (2, "A1")], [(0, 1), (2, 4)]), (3, [(2, "A0")], [(2, 3)])]


def test_from_dict_round_trip_keeps_spans_and_defaults_them():
    doc = sample_document()
    back = Document.from_dict(json.loads(json.dumps(doc.to_dict(), ensure_ascii=False)))
    assert back.sentences[0].predicates == doc.sentences[0].predicates
    assert back.to_dict() == doc.to_dict()
    record = doc.to_dict()  # a hand-written file: no span_text, or no span at all
    arguments = record["sentences"][0]["predicates"][0]["arguments"]
    del arguments[1]["span_text"]
    del arguments[0]["span"], arguments[0]["span_text"]
    read = Document.from_dict(record).sentences[0].predicates[0].arguments
    assert [(a.span, a.span_text) for a in read] == [((0, 1), "他"), ((2, 4), "湯姆 去")]


def test_to_conllu_blocks_columns_and_misc():
    conllu = sample_document().to_conllu()
    blocks = conllu.split("\n\n")
    assert blocks[-1] == "" and len(blocks) == 3  # one block per sentence
    lines = blocks[0].split("\n")
    assert lines[:3] == ["# sent_id = 1", "# text = 他叫湯姆 去。", "# entities = PER=2:4"]
    assert blocks[1].split("\n")[:2] == ["# sent_id = 2", "# text = 好！"]
    rows = [line.split("\t") for line in lines[3:]]
    assert all(len(row) == 10 for row in rows)
    assert rows[1][:8] == ["2", "叫", "_", "VERB", "VV", "_", "0", "root"]
    assert rows[0][9] == "PKU=r|SRL=2:A0|SRLSpan=2:1-1|SpaceAfter=No|TokenRange=0:1"
    assert rows[1][9] == "PKU=v|Pred=Yes|SpaceAfter=No|TokenRange=1:2"
    # space after 湯姆; its span as A1 of 叫 is tokens 3-4, as A0 of 去 itself alone
    assert rows[2][9] == "PKU=nr|SRL=2:A1,4:A0|SRLSpan=2:3-4,4:3-3|TokenRange=2:4"
    sentences = list(read_conll(conllu.split("\n")))
    assert [s.words for s in sentences] == [["他", "叫", "湯姆", "去", "。"], ["好", "！"]]
    assert sentences[0].heads == [2, 0, 2, 2, 2] and sentences[1].upos == ["ADJ", "PUNCT"]
    # the roles and spans read back (0-based words, end exclusive), as from the JSON
    assert [(p.index, p.arguments, p.spans) for p in sentences[0].predicates] == [
        (1, [(0, "A0"), (2, "A1")], [(0, 1), (2, 4)]), (3, [(2, "A0")], [(2, 3)])]
    assert sentences[1].predicates is None  # no SRL in that block
    json_read = sentence_from_json(sample_document().to_dict())
    assert json_read.predicates == sentences[0].predicates  # CoNLL-U and JSON agree


def test_missing_layers_are_underscores_and_forms_have_no_whitespace():
    doc = Document(text="汤 姆\n走", tasks=("cws",), sentences=[
        Sentence(text="汤 姆\n走", start=0, end=5,
                 tokens=[Token(1, "汤 姆", 0, 3), Token(2, "走", 4, 5)])])
    lines = doc.to_conllu("7").split("\n")
    assert lines[:2] == ["# sent_id = 7-1", "# text = 汤姆 走"]  # what FORM and MISC spell
    assert lines[2].split("\t") == ["1", "汤姆", "_", "_", "_", "_", "_", "_", "_",
                                    "SpacesAfter=\\n|TokenRange=0:3"]
    assert doc.to_text() == "汤姆 走"
    assert doc.to_dict()["sentences"][0]["tokens"][0]["upos"] is None


def test_to_text_with_tags_and_empty_document():
    assert sample_document().to_text() == "他/PN 叫/VV 湯姆/NR 去/VV 。/PU 好/VA ！/PU"
    assert sample_document().to_text(tags=False) == "他 叫 湯姆 去 。 好 ！"
    empty = Document(text="")
    assert empty.to_text() == "" and empty.to_conllu() == ""
    assert empty.to_dict() == {"text": "", "sentences": [], "entities": []}
