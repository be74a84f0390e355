import json

import pytest

from tests.conftest import SAMPLES, needs_corpora
from zhnlp.corpora import (
    Entity,
    get_dataset,
    load_manifest,
    open_text,
    read_char_tags,
    read_cluener,
    read_conll,
    read_iob2_words,
    read_propositions,
    read_segmented,
    read_word_tag,
    tags_to_spans,
    verify_split,
)
from zhnlp.errors import ZhnlpError


def sample(name, reader, **options):
    return list(reader(open_text(SAMPLES / name), **options))


def test_segmented_accepts_one_two_and_fullwidth_spaces_and_skips_empty_lines():
    sentences = sample("segmented.txt", read_segmented)
    assert [s.words for s in sentences] == [
        ["上海", "浦东", "开发", "与", "法制", "建设"],
        ["新华社", "上海", "二月", "十日", "电"],
    ]
    assert sentences[0].text == "上海浦东开发与法制建设"


def test_segmented_strips_compound_brackets():
    (sentence,) = sample("pd_bracketed.txt", read_segmented, strip_brackets=True)
    assert sentence.words == ["在", "北京", "电视台", "与", "南非", "华人"]


def test_word_tag_people_daily_and_ctb():
    first, second = sample("pd_word_tag.txt", read_word_tag)
    assert first.words[:3] == ["迈向", "充满", "希望"] and first.xpos[:3] == ["v", "v", "n"]
    assert second.words[0] == "１２月" and second.xpos[-1] == "v"
    (ctb,) = sample("ctb_word_tag.txt", read_word_tag, separator="_")
    assert ctb.words == ["第一", "章", "妖逝"] and ctb.xpos == ["OD", "M", "VV"]


def test_conllu_skips_ranges_and_empty_nodes():
    first, second = sample("sample.conllu", read_conll)
    assert first.words == ["他", "叫", "汤姆", "去", "拿", "外衣", "。"]
    assert first.heads == [2, 0, 2, 2, 4, 5, 2]
    assert first.upos[2] == "PROPN" and first.xpos[2] == "NNP" and first.deprels[1] == "root"
    assert first.arcs is None
    assert second.words == ["不", "是", "好"] and second.heads == [2, 0, 2]


def test_conllx_semantic_graph_keeps_every_arc():
    (sentence,) = sample("semantic_graph.conll", read_conll)
    assert sentence.words == ["城建", "成为", "外商"]
    assert sentence.arcs == [(1, 2, "Exp"), (2, 0, "Root"), (3, 2, "Datv"), (3, 1, "Poss")]


def test_universal_propositions():
    (sentence,) = sample("propositions.conllu", read_propositions)
    assert sentence.words[2] == "湯姆"  # FORM (traditional); LEMMA holds the simplified form
    call, take = sentence.predicates
    assert (call.index, call.sense, call.arguments) == (1, "call.01", [(0, "A0"), (2, "A1")])
    assert (take.index, take.sense, take.arguments) == (4, "take.01", [(2, "A0"), (5, "A1")])


def test_char_tags_bio_bmes_weibo_and_cws():
    first, second = sample("ner.bio", read_char_tags)
    assert first.text == "中国队在北京"
    assert first.entities == [Entity("ORG", 0, 3), Entity("LOC", 4, 6)]
    assert second.entities == [Entity("PER", 0, 2)]
    (bmes,) = sample("ner.bmes", read_char_tags, separator=" ")
    assert bmes.entities == [Entity("NAME", 0, 3), Entity("LOC", 5, 6)]
    (weibo,) = sample("weibo.conll", read_char_tags, position_suffix=True)
    assert weibo.text == "李白p3" and weibo.entities == [Entity("PER.NAM", 0, 2)]
    (cws,) = sample("cws.bies", read_char_tags)
    assert cws.words == ["有限", "公司", "好"] and cws.entities is None


def test_iob2_words_gives_character_spans():
    (sentence,) = sample("uner.iob2", read_iob2_words)
    assert sentence.words == ["李白", "去", "北京", "大学"]
    assert sentence.entities == [Entity("PER", 0, 2), Entity("ORG", 3, 7)]


def test_cluener_end_is_made_exclusive():
    (sentence,) = sample("cluener.json", read_cluener)
    assert sentence.entities == [Entity("name", 0, 3), Entity("address", 5, 7)]
    record = json.loads((SAMPLES / "cluener.json").read_text(encoding="utf-8"))
    assert sentence.text[0:3] == "彭小军" and sentence.text[5:7] == "台湾" == "台湾"
    assert record["label"]["address"]["台湾"] == [[5, 6]]


@pytest.mark.parametrize("tags, spans", [
    (["B-X", "I-X", "O", "B-Y"], [("X", 0, 2), ("Y", 3, 4)]),
    (["I-X", "I-X", "B-X", "E-X", "S-Y"], [("X", 0, 2), ("X", 2, 4), ("Y", 4, 5)]),
    (["B", "M", "E", "S", "B", "E"], [("", 0, 3), ("", 3, 4), ("", 4, 6)]),
    (["B-X", "I-Y"], [("X", 0, 1), ("Y", 1, 2)]),
    ([], []),
])
def test_tags_to_spans(tags, spans):
    assert tags_to_spans(tags) == spans


def test_unknown_dataset_and_split_are_clear_errors():
    with pytest.raises(ZhnlpError, match="unknown dataset"):
        get_dataset("nope")
    with pytest.raises(ZhnlpError, match="no 'train' split"):
        get_dataset("sighan_pku").read("train")


def test_missing_corpora_give_one_sentence_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHNLP_CORPORA", str(tmp_path))
    dataset = get_dataset("ctb6")
    problem = verify_split(dataset, dataset.splits["test"])
    assert "ctb6.test.seg is missing" in problem and "ZHNLP_CORPORA" in problem
    with pytest.raises(ZhnlpError, match="missing"):
        dataset.read("test")


def test_altered_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHNLP_CORPORA", str(tmp_path))
    dataset = get_dataset("ctb6")
    (tmp_path / "ctb6_cws").mkdir()
    (tmp_path / "ctb6_cws" / "ctb6.test.seg").write_text("改 过\n", encoding="utf-8")
    assert "sha256 mismatch" in verify_split(dataset, dataset.splits["test"])


@needs_corpora
def test_manifest_matches_the_shared_corpora():
    problems = [verify_split(dataset, split) for dataset in load_manifest().values()
                for split in dataset.splits.values()]
    assert [p for p in problems if p] == []


@needs_corpora
def test_real_corpus_counts_match_sources_md():
    msra = get_dataset("msra")
    assert sum(len(s.entities) for s in msra.read("test")) == 6181
    up = get_dataset("up").read("test")
    assert sum(len(s.predicates) for s in up) == 1265
    ud = get_dataset("ud14_simp").read("dev")
    assert sum(len(s.words) for s in ud) == 12663
