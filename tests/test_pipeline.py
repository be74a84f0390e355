"""The Pipeline on the random tiny model (max 61 characters per model call): outputs are
random but must be structurally sound, with offsets into the original string."""

import subprocess
import sys

import pytest
import torch

import zhnlp
from zhnlp import shipped
from zhnlp.document import Document
from zhnlp.errors import ZhnlpError
from zhnlp.model import MultiTaskModel
from zhnlp.text import normalize

ALL = ["cws", "pos", "ner", "dep", "srl"]


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


def check_document(doc: Document) -> None:
    """Structure every document must have, whatever the model predicts."""
    text = doc.text
    previous_end = 0
    for sentence in doc.sentences:
        assert text[sentence.start : sentence.end] == sentence.text
        assert sentence.start >= previous_end
        previous_end = sentence.end
        if "cws" in doc.tasks or sentence.tokens:
            covered = "".join(t.text for t in sentence.tokens)
            assert "".join(covered.split()) == "".join(sentence.text.split())
        for i, token in enumerate(sentence.tokens, 1):
            assert token.id == i and text[token.start : token.end] == token.text
            assert sentence.start <= token.start < token.end <= sentence.end
        if "dep" in doc.tasks:
            heads = [t.head for t in sentence.tokens]
            assert heads.count(0) == 1
            assert all(0 <= h <= len(heads) and h != i for i, h in enumerate(heads, 1))
            assert_tree(heads)
        for entity in sentence.entities:
            assert text[entity.start : entity.end] == entity.text
        for predicate in sentence.predicates:
            assert sentence.tokens[predicate.id - 1].text == predicate.text
            for argument in predicate.arguments:
                assert sentence.tokens[argument.id - 1].start == argument.start
                assert 0 <= argument.span[0] < argument.id <= argument.span[1] <= len(
                    sentence.tokens)  # the span holds its head word


def assert_tree(heads: list[int]) -> None:
    for i in range(1, len(heads) + 1):  # every token reaches the root without a cycle
        seen, node = set(), i
        while node:
            assert node not in seen
            seen.add(node)
            node = heads[node - 1]


def test_str_gives_a_document_and_list_gives_documents(nlp):
    doc = nlp("他叫汤姆去拿外衣。北京大学的李白！")
    assert isinstance(doc, Document) and doc.tasks == tuple(ALL)
    assert [(s.start, s.end) for s in doc.sentences] == [(0, 9), (9, 17)]
    check_document(doc)
    token = doc.sentences[0].tokens[0]
    assert token.upos and token.xpos and token.pku and token.deprel and token.head is not None
    docs = nlp(["他叫汤姆。", "", "  \u200b "])
    assert [len(d.sentences) for d in docs] == [1, 0, 0]
    assert nlp([]) == []


def test_offsets_index_traditional_and_full_width_input(nlp):
    traditional = "他說：「ＩＢＭ在臺灣」。　iPhone12 好！"
    doc = nlp(traditional)
    check_document(doc)
    simplified = nlp(normalize(traditional))  # the model reads the normalised form
    assert [(t.start, t.end) for t in doc.tokens] == [(t.start, t.end) for t in simplified.tokens]
    assert [t.upos for t in doc.tokens] == [t.upos for t in simplified.tokens]
    assert "".join(t.text for t in doc.tokens).split() == ["".join(traditional.split())] or (
        "".join("".join(t.text.split()) for t in doc.tokens) == "".join(traditional.split()))


def test_only_the_asked_tasks_are_run(nlp):
    doc = nlp("他叫汤姆去拿外衣。", tasks=["cws"])
    assert doc.tasks == ("cws",) and doc.tokens and doc.entities == []
    assert all(t.upos is None and t.head is None for t in doc.tokens)
    doc = nlp("他叫汤姆去拿外衣。", tasks="pos")  # pos needs cws
    assert doc.tasks == ("cws", "pos") and doc.tokens[0].upos and doc.tokens[0].head is None
    doc = nlp("他叫汤姆去拿外衣。", tasks=["ner"])  # ner does not
    assert doc.tasks == ("ner",) and doc.tokens == [] and doc.sentences
    check_document(doc)


@pytest.mark.parametrize("tasks, message", [
    (["cws", "parse"], "unknown task 'parse'"),
    ([], "no task given"),
    (5, "tasks must be"),
])
def test_unknown_tasks_are_errors(nlp, tasks, message):
    with pytest.raises(ZhnlpError, match=message):
        nlp("他叫汤姆。", tasks=tasks)


def test_standards(nlp):
    assert nlp.standards == ["ctb", "pku"]
    check_document(nlp("他叫汤姆去拿外衣。", standard="pku"))
    with pytest.raises(ZhnlpError, match="no segmentation standard 'msr'; it has ctb, pku"):
        nlp("他叫汤姆。", standard="msr")


@pytest.mark.parametrize("inputs, kwargs", [
    (5, {}), (b"bytes", {}), (["ok", None], {}), ([["a"]], {}),
    ("他叫汤姆", {"pretokenized": True}), ([["他"], "叫"], {"pretokenized": True}),
    ("他", {"batch_size": 0}), ("他", {"standard": 3}),
])
def test_wrong_types_are_errors(nlp, inputs, kwargs):
    with pytest.raises(ZhnlpError):
        nlp(inputs, **kwargs)


def test_user_dictionary(nlp):
    text = "他叫汤姆去拿外衣。"
    before = [t.text for t in nlp(text, tasks=["cws"]).tokens]
    nlp.add_words(["汤姆去", "外衣"])
    try:
        words = [t.text for t in nlp(text, tasks=["cws"]).tokens]
        assert "汤姆去" in words and "外衣" in words
        # matching is on the normalised text: traditional and full-width forms match too
        nlp.add_words("ＩＢＭ在臺")
        words = [t.text for t in nlp("他说IBM在台湾。", tasks=["cws"]).tokens]
        assert "IBM在台" in words
    finally:
        nlp.clear_words()
    assert [t.text for t in nlp(text, tasks=["cws"]).tokens] == before
    with pytest.raises(ZhnlpError, match="whitespace"):
        nlp.add_words(["汤 姆"])


def test_dictionary_matches_forward_maximum(nlp):
    nlp.add_words(["北京", "北京大学", "大学生", "学生"])
    try:
        assert nlp.dictionary_matches("北京大学生在北京") == [(0, 4), (6, 8)]
        assert nlp.dictionary_matches("在北京大學") == [(1, 5)]
    finally:
        nlp.clear_words()
    assert nlp.dictionary_matches("北京") == []


def test_pretokenized(nlp):
    words = ["他", "叫", "湯姆", "去", "拿", "外衣", "。"]
    doc = nlp(words, pretokenized=True)
    assert [t.text for t in doc.tokens] == words and doc.text == "他叫湯姆去拿外衣。"
    assert "cws" not in doc.tasks and [t.start for t in doc.tokens] == [0, 1, 2, 4, 5, 6, 8]
    check_document(doc)
    docs = nlp([words, ["好"], []], pretokenized=True, tasks=["cws"])
    assert [d.words for d in docs] == [words, ["好"], []]
    with pytest.raises(ZhnlpError, match="empty or blank"):
        nlp(["他", " "], pretokenized=True)


def test_long_pretokenized_sentence_is_cut_at_words_and_stitched(nlp):
    words = ["他", "叫", "汤姆", "去", "拿", "外衣", "，"] * 30  # 270 characters
    doc = nlp(words, pretokenized=True)
    assert len(doc.sentences) == 1 and doc.words == words
    check_document(doc)
    with pytest.raises(ZhnlpError, match="longer than"):
        nlp(["他" * 100], pretokenized=True)


@pytest.mark.parametrize("text", [
    "他叫汤姆去拿外衣，北京大学的李白、" * 20,  # clauses, no sentence end
    "北京大学的李白" * 40,  # no boundary at all: hard cuts
], ids=["clauses", "no-boundary"])
def test_long_sentences_are_split_and_stitched(nlp, text):
    assert len(text) > 4 * nlp.piece_chars
    for split in (True, False):
        doc = nlp(text, split=split)
        assert len(doc.sentences) == 1  # one sentence, one tree
        check_document(doc)
        assert "".join(doc.words) == text


def test_sentences_longer_than_piece_chars_are_analysed_in_pieces(tiny_model_dir, tmp_path):
    """piece_chars (saved with the model) bounds what the encoder sees at once: longer
    sentences are cut at clause boundaries, a longer pretokenized word goes alone."""
    model = MultiTaskModel.load(tiny_model_dir)
    model.piece_chars = 10
    model.save(tmp_path / "model")
    local = zhnlp.load(tmp_path / "model")
    assert local.piece_chars == 10 < local.model.window_chars
    seen = []
    predict = local.model.predict

    def recording_predict(strings, *args, **options):
        seen.extend(strings)
        return predict(strings, *args, **options)

    local.model.predict = recording_predict
    text = "他叫汤姆去拿外衣，北京大学的李白、" * 2
    doc = local(text)
    assert len(doc.sentences) == 1 and "".join(doc.words) == text
    assert seen and max(map(len, seen)) <= 10 and sum(map(len, seen)) == len(text)
    words = ["北京大学的李白北京大学", "好"]  # an 11-character word
    assert local(words, pretokenized=True).words == words


def test_batching_does_not_change_results(nlp):
    texts = ["他叫汤姆去拿外衣。", "北京大学的李白。", "好！", "iPhone12好"] * 3
    one = nlp(texts, batch_size=1, tasks=["cws", "pos"])
    many = nlp(texts, batch_size=64, tasks=["cws", "pos"])
    assert [d.words for d in one] == [d.words for d in many]


def test_load_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "shipped_root", lambda: None)
    with pytest.raises(ZhnlpError, match="shipped model 'small' is not installed"):
        zhnlp.load("small")
    with pytest.raises(ZhnlpError, match="does not exist"):
        zhnlp.load(tmp_path / "nothing")
    with pytest.raises(ZhnlpError, match="no zhnlp model"):
        zhnlp.load(tmp_path)
    with pytest.raises(ZhnlpError, match="str or Path"):
        zhnlp.load(42)
    with pytest.raises(ZhnlpError, match="threads"):
        zhnlp.load(tmp_path, threads=0)


def test_import_zhnlp_stays_cheap():
    code = "import sys, zhnlp; assert 'torch' not in sys.modules and callable(zhnlp.load)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_zhnlp_load_int8_quantizes_the_encoder(tiny_model_dir):
    quantized = zhnlp.load(tiny_model_dir, threads=1, int8=True)
    assert quantized.model.meta.get("int8") is True
    check_document(quantized("他叫汤姆去拿外衣。"))


LONG = "北京大学的李白叫汤姆去拿外衣，他说iPhone12好。" * 2  # neighbours that pad a batch


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_sentence_is_analysed_the_same_alone_and_beside_long_neighbours(tiny_model_dir,
                                                                         precision):
    """Batch invariance (issue 19): every task's output for a text is the same whether it
    is analysed alone or in one batch with long texts, in every precision."""
    nlp = zhnlp.load(tiny_model_dir, threads=1, precision=precision)
    texts = ["好！", "他叫汤姆。", "李白iPhone12好"]
    alone = [nlp(text).to_dict() for text in texts]
    batched = nlp([LONG, texts[0], LONG[:40], texts[1], LONG, texts[2]])
    assert [doc.to_dict() for doc in batched[1::2]] == alone
    # the decoded output of a tiny random model is robust; the encoder states are not
    model = nlp.model
    encodings = [model.tokenizer.encode(text) for text in (texts[1], LONG)]
    with torch.inference_mode():
        one = model.encode(model.make_batch(encodings[:1], None))
        two = model.encode(model.make_batch(encodings, None))
    assert torch.equal(one[0], two[0, : one.shape[1]])


def test_precision_and_device_errors(tiny_model_dir):
    with pytest.raises(ZhnlpError, match="precision"):
        zhnlp.load(tiny_model_dir, precision="fp16")
    with pytest.raises(ZhnlpError, match="device"):
        zhnlp.load(tiny_model_dir, device="tpu")


def test_default_precision_is_int8_on_the_cpu(tiny_model_dir):
    assert zhnlp.load(tiny_model_dir, threads=1).model.meta.get("int8") is True
    assert not zhnlp.load(tiny_model_dir, threads=1, precision="fp32").model.meta.get("int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cuda_gives_the_cpu_analysis(tiny_model_dir):
    texts = ["他叫汤姆去拿外衣。", "北京大学的李白。"]
    gpu = zhnlp.load(tiny_model_dir, device="cuda")
    cpu = zhnlp.load(tiny_model_dir, precision="fp32")
    assert gpu.model.device.type == "cuda"
    assert [d.words for d in gpu(texts)] == [d.words for d in cpu(texts)]


def test_shipped_models_load_by_name():
    for name in ("cws-fast", "zhnlp-cws-fast"):
        assert zhnlp.load(name, threads=1).tasks == ["cws"]
    with pytest.raises(ZhnlpError, match="does not exist"):
        zhnlp.load("no-such-model")
