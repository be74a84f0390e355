"""The torch-free segmenter: its feature kernel against the plain-Python twin, training,
storage, the Pipeline on it, and that it never imports torch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zhnlp
from zhnlp.corpora import Sentence
from zhnlp.errors import ZhnlpError
from zhnlp.linear_cws import (
    LinearSegmenter,
    _dictionary_lengths,
    _feature_rows,
    dictionary_hashes,
    encode_sentences,
    feature_emissions,
    feature_rows_reference,
    sentence_codes,
)
from zhnlp.pipeline import Pipeline
from zhnlp.train.linear_cws import train

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["北京", "北京大学", "大学", "学生", "外衣", "汤姆"]
TRAIN = ["他 叫 汤姆 去 拿 外衣 。", "北京大学 的 学生 在 北京 。", "我 爱 北京 。",
         "汤姆 是 学生 。", "2026年 12月 ， 他 去 北京 。", "哈哈哈 ， 好 好 学习 。"]


def sentences(lines):
    return [Sentence(text=line.replace(" ", ""), words=line.split()) for line in lines]


@pytest.fixture(scope="module")
def trained():
    data = sentences(TRAIN)
    return train({"ctb": data, "pku": data}, {"ctb": data}, WORDS, epochs=6, bits=16,
                 log=open("/dev/null", "w"))


def test_feature_kernel_matches_its_python_twin():
    words = {tuple(sentence_codes(word)[0].tolist()) for word in WORDS}
    dictionary = dictionary_hashes(WORDS)
    for text in ["北京大学的学生", "a", "哈哈，2026年ABC!北京", "汤姆去北京大学学习外衣"]:
        codes, starts, _ = encode_sentences([text])
        lexicon = np.zeros((len(codes), 3), np.int64)
        _dictionary_lengths(codes, 0, len(codes), dictionary, lexicon)
        for i in range(len(codes)):
            for standard, copies in ((0, 1), (2, 2)):
                rows = np.zeros(40, np.int64)
                n = _feature_rows(codes, 0, len(codes), i, standard, copies, np.uint64(64 - 16),
                                  lexicon, rows)
                assert rows[:n].tolist() == feature_rows_reference(
                    codes.tolist(), i, standard, copies, 16, words)


def test_emissions_are_the_sums_of_the_feature_rows():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(1 << 12, 4)).astype(np.float32)
    words = {tuple(sentence_codes(word)[0].tolist()) for word in WORDS}
    codes, starts, _ = encode_sentences(["北京大学", "的学生在北京"])
    out = np.zeros((len(codes), 4), np.float32)
    feature_emissions(codes, starts, np.array([0, 1]), dictionary_hashes(WORDS), weights,
                      np.float32(0.5), 2, np.uint64(64 - 12), out)
    for b in range(2):
        sentence = codes[starts[b] : starts[b + 1]].tolist()
        for i in range(len(sentence)):
            rows = feature_rows_reference(sentence, i, b, 2, 12, words)
            np.testing.assert_allclose(out[starts[b] + i], 0.5 * weights[rows].sum(0),
                                       rtol=1e-5)


def test_the_perceptron_learns_its_training_sentences(trained):
    texts = [s.text for s in sentences(TRAIN)]
    nlp = Pipeline(trained)
    assert [doc.words for doc in nlp(texts, split=False)] == [line.split() for line in TRAIN]
    assert trained.meta["dev"]["ctb"] == 100.0


def test_spaces_and_invisible_characters_are_skipped_offsets_kept(trained):
    nlp = Pipeline(trained)
    text = "他 叫汤\u200b姆去拿外衣。"
    doc = nlp(text, split=False)
    assert all(text[t.start : t.end] == t.text for t in doc.sentences[0].tokens)
    assert "".join(doc.words).replace(" ", "").replace("\u200b", "") == "他叫汤姆去拿外衣。"
    assert nlp("", split=False).sentences == [] and nlp("   ").sentences == []


def test_a_sentence_does_not_depend_on_its_batch(trained):
    nlp = Pipeline(trained)
    alone = nlp("汤姆是学生。").words
    batched = nlp(["北京大学的学生在北京。" * 30, "汤姆是学生。", "我爱北京。" * 50])
    assert batched[1].words == alone


def test_user_words_and_standards(trained):
    nlp = Pipeline(trained)
    nlp.add_words(["是学"])
    assert "是学" in nlp("汤姆是学生。").words
    assert nlp.standards == ["ctb", "pku"]
    assert "".join(nlp("汤姆是学生。", standard="pku").words) == "汤姆是学生。"
    with pytest.raises(ZhnlpError, match="no segmentation standard 'ud'"):
        nlp("汤姆是学生。", standard="ud")
    with pytest.raises(ZhnlpError, match="has no pos head"):
        nlp("汤姆是学生。", tasks=["cws", "pos"])


def test_save_load_round_trip_is_int8_and_keeps_the_words(trained, tmp_path):
    trained.save(tmp_path)
    loaded = zhnlp.load(tmp_path)
    assert isinstance(loaded.model, LinearSegmenter) and loaded.model.weights.dtype == np.int8
    texts = [s.text for s in sentences(TRAIN)]
    original = Pipeline(trained)
    assert [d.words for d in loaded(texts)] == [d.words for d in original(texts)]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "zhnlp-linear-cws" and config["standards"] == ["ctb", "pku"]
    with pytest.raises(ZhnlpError, match="CPU only"):
        zhnlp.load(tmp_path, device="cuda")
    (tmp_path / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(ZhnlpError, match="missing or damaged"):
        zhnlp.load(tmp_path)


def test_it_loads_and_runs_without_torch(trained, tmp_path):
    trained.save(tmp_path)
    code = ("import sys, zhnlp; nlp = zhnlp.load(sys.argv[1]); print(' '.join(nlp('汤姆是学生。')"
            ".words)); assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "汤姆 是 学生 。"
    tagged = subprocess.run([sys.executable, "-m", "zhnlp", "tag", "--model", str(tmp_path),
                             "--format", "text"], input="汤姆是学生。\n", capture_output=True,
                            text=True, cwd=ROOT)
    assert tagged.returncode == 0, tagged.stderr
    assert tagged.stdout == "汤姆 是 学生 。\n"


def test_the_shipped_cws_fast_is_linear():
    nlp = zhnlp.load("cws-fast")
    assert isinstance(nlp.model, LinearSegmenter) and nlp.standards[0] == "ctb"
    assert nlp("李强在北京大学读书。").words == ["李强", "在", "北京", "大学", "读书", "。"]
