import gzip
import json
from argparse import Namespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from zhnlp.errors import ZhnlpError
from zhnlp.pretrain import loop
from zhnlp.pretrain.config import DataConfig, TrainConfig, load_config
from zhnlp.pretrain.data import (
    EvalFilter,
    PreparedSplit,
    collate,
    make_blocks,
    make_example,
    prepare,
)
from zhnlp.pretrain.masking import WordTable
from zhnlp.tokenizer import CharTokenizer

WORDS = ("中国 北京 上海 经济 发展 的 了 人民 我们 他们 学习 工作 科学 技术 研究 大学 在 是 "
         "政府 公司 市场 城市 国家 历史 文化 今天 明天 非常 已经 开始 进行 提高 问题 "
         "产品 价格 服务 质量 电脑 手机 iPhone 2024年").split()
EVAL_SENTENCE = "这是一个评测句子不应该出现在预训练数据里。"
LAW_EVAL = "法律条文中的测试句子也要删除掉才行呢真的。"


def sentence(rng: np.random.Generator) -> str:
    return "".join(WORDS[i] for i in rng.integers(len(WORDS), size=rng.integers(4, 12))) + "。"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    rng = np.random.default_rng(0)
    lines = ["".join(sentence(rng) for _ in range(rng.integers(1, 5))) for _ in range(400)]
    lines[10] = EVAL_SENTENCE  # a whole line equal to an evaluation sentence
    lines[20] = sentence(rng) + EVAL_SENTENCE + sentence(rng)  # inside a paragraph
    lines[30] = lines[31]  # duplicate
    (root / "news.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    laws = ["第一条" + sentence(rng) for _ in range(400)] + [LAW_EVAL]
    with gzip.open(root / "laws_regulations.txt.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(laws) + "\n")
    return root


def write_config(tmp_path, corpus, objective="macbert", max_steps=6, extra=""):
    path = tmp_path / f"pretrain-{objective}.toml"
    path.write_text(f"""
name = "t-{objective}"
run_dir = "{tmp_path / ('run-' + objective)}"
cache_dir = "{tmp_path / 'cache'}"
[data]
raw_dir = "{corpus}"
labelled = []
sample = {{ laws_regulations = 0.5 }}
heldout_per_mille = 50
seq_length = 48
vocab_min_count = 1
w2v_dim = 16
w2v_min_count = 1
w2v_epochs = 1
[model]
hidden_size = 32
num_hidden_layers = 1
num_attention_heads = 2
intermediate_size = 64
max_position_embeddings = 64
[train]
objective = "{objective}"
batch_size = 4
warmup_steps = 2
max_steps = {max_steps}
log_every_steps = 2
eval_every_steps = 3
eval_blocks = 8
save_every_steps = 3
{extra}
""")
    return path


@pytest.fixture(scope="module")
def prepared(corpus, tmp_path_factory):
    # the word2vec stage needs gensim (the `pretrain` and `test` extras install it)
    pytest.importorskip("gensim", reason="gensim is not installed: pip install -e '.[pretrain]'")
    tmp_path = tmp_path_factory.mktemp("prep")
    config = load_config(write_config(tmp_path, corpus))
    stats = prepare(config.data, config.data_dir, eval_texts={EVAL_SENTENCE, LAW_EVAL})
    return config, stats


def test_eval_filter():
    texts = {"今天天气很好。我们去公园吧！", "短句。"}
    found = EvalFilter(texts)
    assert found.exact_match("今天天气很好。")  # one sentence of an evaluation text
    assert found.exact_match("今天天气很好。我们去公园吧!") is False  # not normalised here
    assert found.exact_match("短句。")
    long = "一二三四五六七八九十一二三四五六。"
    assert EvalFilter({long}).contains("前面" + long + "后面")
    assert not EvalFilter({"短句。"}).contains("前面短句。后面还有很多很多的字呢")


def test_make_blocks_respects_length_and_documents():
    offsets = np.cumsum([0, 10, 20, 30, 5, 5, 40, 60])
    docs = np.array([1, 1, 1, 2, 3, 3, 3])
    blocks = make_blocks(offsets, docs, 50, seed=0)
    assert (blocks[:, 2] - blocks[:, 0] <= 60).all()  # a single 60-char sentence stays whole
    assert blocks[0, 0] == 0 and blocks[-1, 2] == offsets[-1]
    assert (blocks[1:, 0] == blocks[:-1, 2]).all()  # contiguous, nothing lost
    starts = list(offsets)
    for start, cut, end, sop in blocks:
        assert start <= cut <= end and cut in starts
        if sop:  # both sides of the cut belong to one document
            i = starts.index(cut)
            assert docs[i] == docs[i - 1]


def test_prepare_removes_eval_sentences_and_writes_no_pickle(prepared):
    config, stats = prepared
    assert stats["removed_eval_exact"] == 2  # the line and the sentence inside a paragraph
    assert stats["removed_eval_exact"] + stats["removed_eval_contained"] >= 2
    assert stats["duplicates"] >= 1
    assert 0 < stats["sources"]["laws_regulations.txt.gz"]["lines"] < 401  # sampled
    files = {p.name for p in config.data_dir.rglob("*") if p.is_file()}
    assert {"train_ids.npy", "train_word_starts.npy", "train_blocks.npy", "heldout_ids.npy",
            "similar_words.json", "stats.json", "DONE", "vocab.txt"} <= files
    assert not any(name.endswith((".pkl", ".pickle")) for name in files)
    tokenizer = CharTokenizer.from_pretrained(config.data_dir / "tokenizer")
    train = PreparedSplit(config.data_dir, "train")
    text = tokenizer.decode(np.asarray(train.ids))
    assert "评测句子" not in text and "测试句子" not in text
    assert "这是一个" not in text
    heldout = PreparedSplit(config.data_dir, "heldout")
    assert len(heldout) > 0 and stats["heldout_sentences"] > 0
    assert tokenizer.decode(np.asarray(heldout.ids[:20])) not in text  # disjoint
    table = json.loads((config.data_dir / "similar_words.json").read_text(encoding="utf-8"))
    assert all(len(n) == len(w) for w, ns in table.items() for n in ns)
    # second call: cached
    assert prepare(config.data, config.data_dir, eval_texts=set()) == stats


def test_make_example_layout(prepared):
    config, _ = prepared
    tokenizer = CharTokenizer.from_pretrained(config.data_dir / "tokenizer")
    table = WordTable.load(tokenizer, config.data_dir / "similar_words.json")
    split = PreparedSplit(config.data_dir, "train")
    sop_block = int(np.flatnonzero(split.blocks[:, 3])[0])
    labels = set()
    for seed in range(20):
        example = make_example(split, sop_block, tokenizer, table, np.random.default_rng(seed))
        ids = example.original_ids
        assert ids[0] == tokenizer.cls_id and ids[-1] == tokenizer.sep_id
        assert (ids == tokenizer.sep_id).sum() == 2
        second = int(np.flatnonzero(ids == tokenizer.sep_id)[0]) + 1
        assert (example.token_type_ids[:second] == 0).all()
        assert (example.token_type_ids[second:] == 1).all()
        assert not example.selected[[0, second - 1, -1]].any()
        assert example.selected.any()
        labels.add(example.sop_label)
        start, cut, end, _ = split.blocks[sop_block]
        a, b = np.asarray(split.ids[start:cut]), np.asarray(split.ids[cut:end])
        body = np.concatenate([a, b] if example.sop_label == 0 else [b, a])
        assert (np.delete(ids, [0, second - 1, len(ids) - 1]) == body).all()
    assert labels == {0, 1}
    batch = collate([make_example(split, i, tokenizer, table, np.random.default_rng(i))
                     for i in range(3)])
    assert batch["input_ids"].shape == batch["selected"].shape == batch["attention_mask"].shape


def test_train_export_and_resume(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    raw_dir = prepared[0].data.raw_dir
    straight = tmp_path / "straight"
    straight.mkdir()
    assert loop.main(Namespace(config=str(write_config(straight, raw_dir)))) == 0
    run = straight / "run-macbert"
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6 and "heldout_corrupted_acc" in records[-1]
    assert any("heldout_mlm_acc" in r for r in records[:-1])
    assert any("mlm_acc" in r and "tokens_per_s" in r for r in records)
    state = json.loads((run / "checkpoint" / "trainer.json").read_text())
    assert state["step"] == 6 and state["cursor"] == 24

    # a run killed after its first checkpoint (step 3) resumes to the same weights
    real_save = loop.save_checkpoint

    def save_then_die(*args):
        real_save(*args)
        raise KeyboardInterrupt

    config_path = str(write_config(tmp_path, raw_dir))
    monkeypatch.setattr(loop, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        loop.main(Namespace(config=config_path))
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    killed = tmp_path / "run-macbert" / "checkpoint"
    assert json.loads((killed / "trainer.json").read_text())["step"] == 3
    assert loop.main(Namespace(config=config_path)) == 0
    resumed = load_file(str(killed / "model.safetensors"))
    expected = load_file(str(run / "checkpoint" / "model.safetensors"))
    assert resumed.keys() == expected.keys()
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)

    from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

    model_dir = run / "model"
    model = AutoModelForMaskedLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert model.config.vocab_size == len(CharTokenizer.from_pretrained(model_dir))
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    assert len(fill("中国[MASK]京")) == 5
    assert (model_dir / "model.safetensors").stat().st_size < 30 * 2**20


def test_electra_objective_runs(prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config, _ = prepared
    path = write_config(tmp_path, config.data.raw_dir, objective="electra", max_steps=2)
    assert loop.main(Namespace(config=str(path))) == 0
    from zhnlp.encoder import load_encoder

    encoder = load_encoder(tmp_path / "run-electra" / "model")
    ids = torch.tensor([[2, 20, 21, 3]])
    assert encoder(input_ids=ids).last_hidden_state.shape == (1, 4, 32)


def test_lr_schedule():
    from zhnlp.checkpoint import TrainingClock

    train = TrainConfig(warmup_steps=10, max_steps=110, max_minutes=0)
    fresh = TrainingClock(0.0, train.max_minutes)
    assert loop.lr_factor(0, fresh, train) == pytest.approx(0.1)
    assert loop.lr_factor(9, fresh, train) == pytest.approx(1.0)
    assert loop.lr_factor(60, fresh, train) == pytest.approx(0.5)
    assert loop.lr_factor(110, fresh, train) == 0.0
    timed = TrainConfig(warmup_steps=10, max_steps=110, max_minutes=100)
    resumed = TrainingClock(75 * 60.0, timed.max_minutes)  # 75 minutes trained before
    assert loop.lr_factor(20, resumed, timed) == pytest.approx(0.25, abs=1e-3)  # budget first


def test_init_from_starts_from_an_exported_encoder_and_checks_it(tmp_path, corpus):
    """A stage that continues an earlier one: the exported MLM weights (tied decoder
    included) are loaded; another vocabulary or size is an error."""
    from zhnlp.pretrain.config import ModelConfig
    from zhnlp.tokenizer import CharTokenizer

    config = load_config(write_config(tmp_path, corpus, max_steps=1))
    source = tmp_path / "exported"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(0x4E00 + i) for i in range(40)]
    tokenizer = CharTokenizer(vocab)
    trained = loop.build_model(config, tokenizer)
    loop.export(trained, tokenizer, source)
    config.train.seed += 1  # a fresh model differs from the exported one ...
    model = loop.build_model(config, tokenizer)
    loop.init_weights(model, tokenizer, source)  # ... until it is initialised from it
    for name, tensor in trained.mlm.state_dict().items():
        assert torch.equal(tensor, model.mlm.state_dict()[name]), name
    with pytest.raises(ZhnlpError, match="another vocabulary"):
        loop.init_weights(model, CharTokenizer(vocab + ["乙"]), source)
    config.model = ModelConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=64)
    with pytest.raises(ZhnlpError, match="does not match"):
        loop.init_weights(loop.build_model(config, tokenizer), tokenizer, source)


def test_vocab_from_keeps_an_earlier_stages_vocabulary(prepared, tmp_path, corpus):
    """A later stage prepares its data with the vocabulary of the encoder it continues, even
    when its own counts (other dev/test exclusions) would build another one."""
    config, _ = prepared
    earlier = CharTokenizer.from_pretrained(config.data_dir / "tokenizer")
    kept = earlier.vocab[:5] + list(reversed(earlier.vocab[5:]))  # another order than counted
    source = tmp_path / "encoder"
    CharTokenizer(kept).save_pretrained(source)
    later = load_config(write_config(tmp_path, corpus, extra="")).data
    later.vocab_from = str(source)
    out = tmp_path / "later-data"
    stats = prepare(later, out, eval_texts={EVAL_SENTENCE, LAW_EVAL})
    assert CharTokenizer.from_pretrained(out / "tokenizer").vocab == kept
    assert stats["vocab_size"] == len(kept)
    assert later.key() != config.data.key()  # its own cache


def test_config_errors(tmp_path):
    with pytest.raises(ZhnlpError):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nbatchsize = 3\n")
    with pytest.raises(ZhnlpError, match="batchsize"):
        load_config(bad)
    assert DataConfig().key() == DataConfig().key() != DataConfig(seed=1).key()
