from hypothesis import given
from hypothesis import strategies as st

from zhnlp.text import normalize, normalize_char, split_long, split_sentences


def test_fullwidth_ascii_to_halfwidth():
    assert normalize("ＡＢＣ１２３，！　ｘ") == "ABC123,! x"


def test_traditional_to_simplified_char_by_char():
    assert normalize("簡單的說，發展軟體") == "简单的说,发展软体"


def test_mixed_string_keeps_length_and_offsets():
    text = "他說：「ＩＢＭ在臺灣」ok"
    normalised = normalize(text)
    assert len(normalised) == len(text)
    assert normalised[2] == ":" and normalised[4:7] == "IBM" and normalised[8:10] == "台湾"
    assert normalised[-2:] == "ok"


@given(st.text())
def test_normalize_is_length_preserving_and_idempotent(text):
    normalised = normalize(text)
    assert len(normalised) == len(text)
    assert normalize(normalised) == normalised


def test_normalize_char_always_one_char():
    assert all(len(normalize_char(chr(code))) == 1 for code in range(0x4E00, 0x4E00 + 3000))


def test_split_sentences_offsets_index_the_original():
    text = "  他來了。你呢？「好！」然後走了 \n第二行"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["他來了。", "你呢？", "「好！」", "然後走了", "第二行"]


def test_split_sentences_keeps_decimals_and_empty_text():
    assert split_sentences("价格是3.5元.") == [(0, 8)]
    assert split_sentences("   ") == []


def test_split_long_prefers_clause_boundaries_and_covers_everything():
    text = "一二三，四五六七，八九十一二三四五六七八九十"
    pieces = split_long(text, 0, len(text), max_chars=8)
    assert pieces == [(0, 4), (4, 9), (9, 17), (17, 22)]
    assert "".join(text[s:e] for s, e in pieces) == text
