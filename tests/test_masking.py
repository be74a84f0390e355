import json
from collections import Counter

import numpy as np
import pytest

from zhnlp.pretrain.masking import KEEP, RANDOM, SIMILAR, WordTable, corrupt, word_bounds
from zhnlp.tokenizer import CharTokenizer, build_vocab, count_chars

WORDS = ["中国", "北京", "上海", "经济", "发展", "的", "了", "人", "我们", "他们",
         "天安门", "长江", "黄河", "学习", "工作", "科学技术", "研究", "大学", "在", "是"]
SIMILAR_TABLE = {"北京": ["上海", "中国"], "上海": ["北京"], "的": ["了"], "天安门": ["科学院"],
                 "经济": ["发展"]}


@pytest.fixture(scope="module")
def setup():
    tokenizer = CharTokenizer(build_vocab(count_chars(WORDS + ["科学院"]), min_count=1))
    return tokenizer, WordTable(tokenizer, SIMILAR_TABLE)


def random_sequence(tokenizer, rng, n_words):
    words = [WORDS[i] for i in rng.integers(len(WORDS), size=n_words)]
    ids = np.array(tokenizer.char_ids("".join(words)), dtype=np.int64)
    starts = np.zeros(len(ids), dtype=np.uint8)
    starts[np.cumsum([0] + [len(w) for w in words[:-1]])] = 1
    return words, ids, starts


def test_word_table_loads_json(setup, tmp_path):
    tokenizer, _ = setup
    path = tmp_path / "similar.json"
    path.write_text(json.dumps(SIMILAR_TABLE, ensure_ascii=False), encoding="utf-8")
    table = WordTable.load(tokenizer, path)
    rng = np.random.default_rng(0)
    beijing = np.array(tokenizer.char_ids("北京"))
    assert table.word(table.similar_word(beijing, rng)) in {"上海", "中国"}
    assert len(table.random_word(2, rng)) == 2 and len(table.random_word(7, rng)) == 7


def test_proportions(setup):
    tokenizer, table = setup
    rng = np.random.default_rng(1234)
    n_selected = n_words = 0
    span_lengths, actions = Counter(), Counter()
    for _ in range(300):
        _, ids, starts = random_sequence(tokenizer, rng, 400)
        out = corrupt(ids, starts, table, rng)
        n_words += len(word_bounds(starts))
        for _first, n, action in out.spans:
            n_selected += n
            span_lengths[n] += 1
            actions[action] += 1
    assert n_selected / n_words == pytest.approx(0.15, abs=0.005)
    spans = sum(span_lengths.values())
    for n, expected in zip([1, 2, 3, 4], [0.4, 0.3, 0.2, 0.1]):
        assert span_lengths[n] / spans == pytest.approx(expected, abs=0.03)
    for action, expected in [(SIMILAR, 0.8), (RANDOM, 0.1), (KEEP, 0.1)]:
        assert actions[action] / spans == pytest.approx(expected, abs=0.02)


def test_whole_words_and_alignment(setup):
    tokenizer, table = setup
    rng = np.random.default_rng(7)
    for _ in range(100):
        words, ids, starts = random_sequence(tokenizer, rng, 60)
        out = corrupt(ids, starts, table, rng)
        assert out.input_ids.shape == ids.shape
        assert tokenizer.mask_id not in out.input_ids
        # outside the selection nothing changes
        assert (out.input_ids[~out.selected] == ids[~out.selected]).all()
        # every word is either wholly selected or not at all
        for start, end in word_bounds(starts):
            assert out.selected[start:end].all() or not out.selected[start:end].any()
        bounds = word_bounds(starts)
        for first, n, action in out.spans:
            for start, end in bounds[first : first + n]:
                original = table.word(ids[start:end])
                replaced = table.word(out.input_ids[start:end])
                if action == KEEP:
                    assert replaced == original
                elif action == SIMILAR and original in SIMILAR_TABLE:
                    assert replaced in SIMILAR_TABLE[original]


def test_short_and_empty_sequences(setup):
    tokenizer, table = setup
    rng = np.random.default_rng(0)
    empty = corrupt(np.zeros(0, np.int64), np.zeros(0, np.uint8), table, rng)
    assert empty.selected.sum() == 0
    _, ids, starts = random_sequence(tokenizer, rng, 2)
    assert corrupt(ids, starts, table, rng).selected.any()  # at least one word


def test_fixed_seed_is_deterministic(setup):
    tokenizer, table = setup
    _, ids, starts = random_sequence(tokenizer, np.random.default_rng(3), 80)
    a = corrupt(ids, starts, table, np.random.default_rng(5))
    b = corrupt(ids, starts, table, np.random.default_rng(5))
    assert (a.input_ids == b.input_ids).all() and a.spans == b.spans
