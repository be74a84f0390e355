import numpy as np
import pytest
import torch

from tests.conftest import build_tiny_model
from zhnlp.lexicon import Lexicon
from zhnlp.model import MultiTaskModel

WORDS = ["汤姆", "外衣", "北京大学", "北京", "大学", "iPhone", "ｉｐ"]


def brute_force_features(lexicon: Lexicon, chars: list[str]) -> np.ndarray:
    """The definition, spelt out: every (start, length) match marks its start, end, inside."""
    m = lexicon.max_length
    expected = np.zeros((len(chars), lexicon.feature_count), np.float32)
    for start in range(len(chars)):
        for end in range(start + 1, min(start + m, len(chars))):
            if "".join(chars[start:end + 1]) in lexicon.words:
                length = end - start + 1
                expected[start, length - 2] = expected[end, m - 1 + length - 2] = 1
                for inside in range(start + 1, end):
                    expected[inside, -1] = 1
    return expected


@pytest.mark.parametrize("text", ["他叫汤姆去拿外衣。", "北京大学", "北", "", "ip北京大学生"])
def test_features_mark_starts_ends_and_insides_of_lexicon_words(text):
    lexicon = Lexicon(WORDS, max_length=4)
    features = lexicon.features(list(text))
    assert features.shape == (len(text), 7)
    assert (features == brute_force_features(lexicon, list(text))).all()


def test_words_take_the_tokenizer_form_and_respect_max_length():
    lexicon = Lexicon(WORDS, max_length=4)
    assert "ip" in lexicon.words  # full-width, upper case -> lookup form
    assert "iphone" not in lexicon.words  # longer than max_length
    assert lexicon.features(list("汤姆"))[:, [0, 3]].tolist() == [[1, 0], [0, 1]]


def test_a_new_lexicon_leaves_the_model_unchanged_and_survives_save_load(tmp_path):
    plain = build_tiny_model(seed=3)
    with_lexicon = build_tiny_model(seed=3, lexicon=Lexicon(WORDS))
    texts, tasks = ["他叫汤姆去拿外衣。", "北京大学"], ["cws", "pos", "ner", "dep", "srl"]
    assert with_lexicon.predict(texts, tasks) == plain.predict(texts, tasks)  # zero projection
    torch.nn.init.normal_(with_lexicon.lexicon_projection.weight)
    with_lexicon.save(tmp_path)
    loaded = MultiTaskModel.load(tmp_path)
    assert loaded.lexicon.words == with_lexicon.lexicon.words
    assert loaded.predict(texts, tasks) == with_lexicon.predict(texts, tasks)
    batch = loaded.make_batch([loaded.tokenizer.encode("北京大学")], None)
    assert batch.lexicon_features[0, 2:6].sum() > 0  # characters sit after [CLS] [standard]
