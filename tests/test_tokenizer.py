from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhnlp.text import normalize
from zhnlp.tokenizer import (
    ALWAYS_CHARS,
    DROPPED,
    RESERVED_TOKENS,
    SPECIAL_TOKENS,
    CharTokenizer,
    build_vocab,
    count_chars,
)

MODELS = Path(__file__).resolve().parents[1] / "models"
TEXTS = [
    "我爱北京天安门。iPhone12很好用，价格￥5999元！",
    "他说：“ＡＢＣ 测试 25℃ 3.5%”",
    "國務院發布《通知》，GDP增長7.8%。",
    "e-mail: test@163.com  网址 www.example.cn",
]


@pytest.fixture(scope="module")
def tokenizer() -> CharTokenizer:
    return CharTokenizer(build_vocab(count_chars(TEXTS * 3), min_count=1))


def test_vocab_layout(tokenizer):
    vocab = tokenizer.vocab
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert vocab[5:15] == RESERVED_TOKENS
    assert len(set(vocab)) == len(vocab)
    for char in "abcdefghijklmnopqrstuvwxyz0123456789":
        assert char in vocab and f"##{char}" in vocab
    assert "A" not in vocab  # lowercased
    body = vocab[len(SPECIAL_TOKENS) + len(RESERVED_TOKENS):]
    assert all(len(t) == 1 or (t.startswith("##") and len(t) == 3) for t in body)


def test_min_count_and_max_chars():
    counts = Counter({"的": 10, "是": 3, "龘": 1})
    vocab = build_vocab(counts, min_count=2)
    assert "的" in vocab and "是" in vocab and "龘" not in vocab
    small = build_vocab(counts, min_count=1, max_chars=len(ALWAYS_CHARS) + 1)
    assert "的" in small and "是" not in small


def test_one_token_per_character(tokenizer):
    text = "我爱iPhone12！"
    encoding = tokenizer.encode(text)
    assert len(encoding.ids) == len(text) + 2
    assert encoding.ids[0] == tokenizer.cls_id and encoding.ids[-1] == tokenizer.sep_id
    assert encoding.offsets[1:-1] == [(i, i + 1) for i in range(len(text))]
    tokens = [tokenizer.vocab[i] for i in encoding.ids[1:-1]]
    assert tokens == ["我", "爱", "i", "##p", "##h", "##o", "##n", "##e", "##1", "##2", "!"]


def test_whitespace_dropped_offsets_kept(tokenizer):
    text = "北京 天安门\u200b。"
    encoding = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(encoding.ids) == "北京天安门。"
    assert encoding.char_to_token == [0, 1, DROPPED, 2, 3, 4, DROPPED, 5]
    assert [text[s:e] for s, e in encoding.offsets] == list("北京天安门。")


def test_normalisation_and_unknown(tokenizer):
    assert tokenizer.char_ids("ＡＢＣ") == tokenizer.char_ids("abc")
    assert tokenizer.char_ids("國") == tokenizer.char_ids("国")
    assert tokenizer.char_ids("龘") == [tokenizer.unk_id]
    assert tokenizer.char_ids("[MASK]")[0] != tokenizer.mask_id


def test_max_length(tokenizer):
    encoding = tokenizer.encode("我爱北京天安门", max_length=5)
    assert len(encoding.ids) == 5 and encoding.char_to_token[3:] == [DROPPED] * 4


def test_hf_tokenizer_gives_the_same_ids_and_offsets(tokenizer, tmp_path, monkeypatch):
    """On raw text: the saved tokenizer.json normalises (full-width, traditional) as we do."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == tokenizer.vocab
    hf = AutoTokenizer.from_pretrained(tmp_path)
    for text in TEXTS:
        ours = tokenizer.encode(text)
        theirs = hf(text, return_offsets_mapping=True)
        assert theirs["input_ids"] == ours.ids, text
        assert [tuple(o) for o in theirs["offset_mapping"]] == ours.offsets
        assert hf(normalize(text))["input_ids"] == ours.ids
    assert len(hf("iPhone12")["input_ids"]) == 8 + 2
    assert CharTokenizer.from_pretrained(tmp_path).vocab == tokenizer.vocab


SHIPPED_TOKENIZERS = sorted(p.parent for p in MODELS.glob("*/tokenizer.json"))


@pytest.mark.parametrize("directory", SHIPPED_TOKENIZERS, ids=lambda p: p.name)
def test_shipped_hf_tokenizers_agree_on_full_width_and_traditional_text(directory, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    ours = CharTokenizer.from_pretrained(directory)
    hf = AutoTokenizer.from_pretrained(directory)
    for text in ["他说：“好，走吧！”", "我們在臺灣學習電腦軟體，覺得很難。", "ＡＢＣ１２３元"]:
        assert hf(text)["input_ids"] == ours.encode(text).ids, text
    assert ours.unk_id not in ours.encode("我們在臺灣學習電腦軟體，覺得很難。").ids


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="我爱北京abcXYZ019 ，。!\t\u3000Ａ國%", max_size=40))
def test_tokens_are_the_non_whitespace_characters(tokenizer, text):
    encoding = tokenizer.encode(text, add_special_tokens=False)
    kept = [i for i, char in enumerate(text) if not char.isspace()]
    assert [start for start, _ in encoding.offsets] == kept
    assert [encoding.char_to_token[i] for i in kept] == list(range(len(kept)))
    assert tokenizer.unk_id not in encoding.ids
