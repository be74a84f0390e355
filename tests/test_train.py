import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.conftest import SAMPLES, build_tiny_model, needs_corpora
from zhnlp.corpora import (
    Sentence,
    open_text,
    read_char_tags,
    read_conll,
    read_propositions,
    read_segmented,
)
from zhnlp.errors import ZhnlpError
from zhnlp.train.config import (
    Schedule,
    TrainingConfig,
    check_trainable,
    load_training_config,
)
from zhnlp.train.data import TaskData, batches, collect_labels, cut_sentence, make_training_batch
from zhnlp.train.trainer import evaluate_sources, train


def sample_sources() -> list[TaskData]:
    def read(name, reader, **options):
        return list(reader(open_text(SAMPLES / name), **options))

    ud = read("sample.conllu", read_conll)
    return [
        TaskData("sample", "cws", "ctb", sentences=read("segmented.txt", read_segmented)),
        TaskData("sample", "ner", "ctb", sentences=read("ner.bio", read_char_tags)),
        TaskData("sample", "pos", "pku", pos_layers={"upos": "upos", "xpos": "xpos"},
                 sentences=ud),
        TaskData("sample", "dep", "pku", sentences=ud),
        TaskData("sample", "srl", "pku",
                 sentences=read("propositions.conllu", read_propositions)),
    ]


def test_labels_and_batches_cover_every_task():
    sources = sample_sources()
    labels = collect_labels(sources)
    assert labels["ner"][0] == "O" and "B-ORG" in labels["ner"] and "S-PER" in labels["ner"]
    assert labels["srl"][0] == "_" and {"A0", "A1"} <= set(labels["srl"])
    model = build_tiny_model(labels=labels)
    for source in sources:
        batch = make_training_batch(model, source, source.sentences)
        loss = model.heads[source.task].loss(model(batch, [source.task])[source.task], batch)
        assert torch.isfinite(loss), source.task


def test_cws_targets_are_bmes_of_the_gold_words():
    (source, *_) = sample_sources()
    model = build_tiny_model(labels=collect_labels([source]))
    batch = make_training_batch(model, source, source.sentences[:1])
    # 上海 浦东 开发 与 法制 建设 -> BE BE BE S BE BE
    assert batch.targets["cws"][0].tolist() == [0, 2, 0, 2, 0, 2, 3, 0, 2, 0, 2]


def test_srl_targets_mark_predicates_and_roles():
    source = sample_sources()[-1]
    labels = collect_labels([source])
    model = build_tiny_model(labels=labels)
    batch = make_training_batch(model, source, source.sentences)
    assert batch.targets["srl:predicates"][0].tolist() == [0, 1, 0, 0, 1, 0, 0]
    role = {label: i for i, label in enumerate(labels["srl"])}
    assert batch.targets["srl:roles"][0, 1, :3].tolist() == [role["A0"], role["_"], role["A1"]]
    assert batch.targets["srl:roles"][0, 0].tolist() == [-100] * 7  # not a predicate


def test_cut_sentence_keeps_words_and_entities_whole():
    sources = sample_sources()
    long_words = cut_sentence(sources[0].sentences[0], cut_chars=5)
    assert ["".join(p.words) for p in long_words] == ["上海浦东", "开发与法制", "建设"]
    tagged = cut_sentence(sources[2].sentences[0], cut_chars=3)  # a tree: never cut
    assert len(tagged) == 1
    pos_only = Sentence(text="他叫汤姆去", words=["他", "叫", "汤姆", "去"],
                        xpos=["P", "V", "N", "V"])
    pieces = cut_sentence(pos_only, cut_chars=3)
    assert [(p.words, p.xpos) for p in pieces] == [(["他", "叫"], ["P", "V"]),
                                                   (["汤姆", "去"], ["N", "V"])]
    ner = cut_sentence(sources[1].sentences[0], cut_chars=5)  # 中国队在北京, LOC at 4-6
    assert [p.text for p in ner] == ["中国队在", "北京"]
    assert [(e.label, e.start, e.end) for e in ner[1].entities] == [("LOC", 0, 2)]


def test_batches_cover_every_sentence_once():
    source = TaskData("x", "cws", "ctb", sentences=sample_sources()[0].sentences * 7)
    seen = [s for group in batches(source, 30, random.Random(0)) for s in group]
    assert len(seen) == len(source.sentences)


def test_training_lowers_the_loss_and_keeps_the_best(tmp_path):
    sources = sample_sources()
    model = build_tiny_model(labels=collect_labels(sources))
    schedule = Schedule(epochs=30, batch_chars=400, learning_rate=1e-3, head_learning_rate=5e-3,
                        warmup=0.0)
    state = train(model, sources, sources, schedule, tmp_path / "run", log=lambda _: None)
    history = state.history
    assert history[-1]["dev"]["sample:cws"] >= history[0]["dev"]["sample:cws"]
    first, last = history[0]["loss"], history[-1]["loss"]
    assert all(last[name] < first[name] for name in first)
    saved = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert saved["meta"]["dev"] == max(history, key=lambda r: r["dev_mean"])["dev"]


def test_distillation_runs_with_teachers(tmp_path):
    sources = sample_sources()
    labels = collect_labels(sources)
    teachers = {source.task: build_tiny_model(seed=1, labels={source.task: labels[source.task]})
                for source in sources}
    student = build_tiny_model(labels=labels)
    state = train(student, sources, sources, Schedule(epochs=2, batch_chars=400),
                  tmp_path / "student", teachers=teachers, log=lambda _: None)
    assert state.step > 0 and (tmp_path / "student" / "best" / "model.safetensors").exists()
    assert set(evaluate_sources(student, sources)) == {f"sample:{t}" for t in
                                                        ("cws", "ner", "pos", "dep", "srl")}


def test_lr_factor_warms_up_then_decays_to_zero():
    from zhnlp.train.trainer import lr_factor

    assert lr_factor(0.05, 0.1) == 0.5 and lr_factor(0.1, 0.1) == 1.0
    assert lr_factor(0.55, 0.1) == pytest.approx(0.5)
    assert lr_factor(1.0, 0.1) == 0.0 and lr_factor(1.2, 0.1) == 0.0
    assert lr_factor(0.0, 0.1) > 0  # the first step still moves


def test_a_killed_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from zhnlp.train import trainer

    sources = sample_sources()[:1]
    schedule = Schedule(epochs=4, batch_chars=400, eval_every=2)
    real_evaluate, calls = trainer.evaluate_sources, []

    def die_on_second_evaluation(model, dev):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(model, dev)

    monkeypatch.setattr(trainer, "evaluate_sources", die_on_second_evaluation)
    labels = collect_labels(sources)
    with pytest.raises(KeyboardInterrupt):
        train(build_tiny_model(labels=labels), sources, sources, schedule, tmp_path,
              log=lambda _: None)
    assert (tmp_path / "checkpoint" / "trainer.json").exists()
    monkeypatch.setattr(trainer, "evaluate_sources", real_evaluate)
    messages = []
    state = train(build_tiny_model(seed=5, labels=labels), sources, sources, schedule, tmp_path,
                  log=messages.append)
    assert messages[0].endswith("at step 2")
    assert [record["step"] for record in state.history][0] == 2  # kept from the first run
    assert state.step == state.history[-1]["step"] and not (tmp_path / "checkpoint").exists()


def test_bf16_autocast_training_lowers_the_loss(tmp_path):
    sources = sample_sources()[:2]  # CWS (softmax) and NER (CRF)
    model = build_tiny_model(labels=collect_labels(sources))
    schedule = Schedule(epochs=20, batch_chars=400, learning_rate=1e-3, head_learning_rate=5e-3,
                        warmup=0.0, bf16=True)
    state = train(model, sources, sources, schedule, tmp_path, log=lambda _: None)
    first, last = state.history[0]["loss"], state.history[-1]["loss"]
    assert all(last[name] < first[name] for name in first)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights


def test_every_head_trains_under_bf16_autocast():
    """One loss and backward per task under bfloat16 autocast (the shipped models' setting)."""
    sources = sample_sources()
    model = build_tiny_model(labels=collect_labels(sources))
    for source in sources:
        batch = make_training_batch(model, source, source.sentences[:4])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model.heads[source.task].loss(model(batch, [source.task])[source.task], batch)
        loss.backward()
        assert torch.isfinite(loss), source.task


def test_a_config_is_typed_and_every_unknown_key_is_an_error_naming_file_and_key(tmp_path):
    from zhnlp.errors import ZhnlpError

    path = tmp_path / "cfg.toml"
    source = '[[sources]]\ndataset = "ctb6"\ntask = "cws"\nstandard = "ctb"\n'
    path.write_text('encoder = "enc"\nstandards = ["ctb"]\n[schedule]\nepochs = 2\n' + source
                    + 'dev = false\n')
    config = load_training_config(path)
    assert config.name == "cfg" and config.schedule.epochs == 2 and config.distill
    assert config.sources[0].dev is None and config.sources[0].split == "train"
    for text, key in [('encoder = "e"\nstandards = ["ctb"]\nepoch = 2\n' + source, "epoch"),
                      ('encoder = "e"\nstandards = ["ctb"]\n[schedule]\nlr = 1\n' + source,
                       "lr"),
                      ('encoder = "e"\nstandards = ["ctb"]\n' + source + 'limt = 3\n', "limt"),
                      ('encoder = "e"\nstandards = ["ctb"]\nextends = "x.toml"\n' + source,
                       "extends")]:
        path.write_text(text)
        with pytest.raises(ZhnlpError, match=f"cfg.toml: unknown key '{key}'"):
            load_training_config(path)
    path.write_text('standards = ["ctb"]\n' + source)
    with pytest.raises(ZhnlpError, match="give `encoder`"):
        check_trainable(load_training_config(path))


def test_every_shipped_config_loads_and_none_writes_into_models(tmp_path):
    configs = Path(__file__).resolve().parent.parent / "configs"
    for path in configs.glob("*.toml"):
        if not path.name.startswith("pretrain"):
            config = load_training_config(path)
            assert not (config.output or "").startswith("models/"), path.name


def test_init_from_continues_a_trained_model(tmp_path):
    from zhnlp.train.recipe import new_model

    labels = collect_labels(sample_sources())
    trained = build_tiny_model(seed=4, labels=labels)
    trained.save(tmp_path / "trained")
    config = TrainingConfig(name="t", sources=[], init_from=str(tmp_path / "trained"))
    model = new_model(config, labels)
    for (name, a), (_, b) in zip(trained.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), name
    grown = new_model(config, {**labels, "sdp": ["Agt", "Root"]})  # a new task: a new head
    assert grown.heads["sdp"].labels == ["Agt", "Root"]
    assert torch.equal(grown.heads["dep"].arc_scorer.weight,
                       trained.heads["dep"].arc_scorer.weight)


def test_init_from_relabels_a_head_whose_labels_changed(tmp_path):
    """UD v1 -> v2: a relation dropped (dobj), one added (obj). The arc scorer and every
    known relation's row are kept; POS layers that did not change are
    kept whole."""
    from zhnlp.train.recipe import new_model

    labels = collect_labels(sample_sources())
    trained = build_tiny_model(seed=6, labels=labels)
    trained.save(tmp_path / "trained")
    old_dep = trained.heads["dep"]
    v2_relations = sorted([r for r in old_dep.labels if r != old_dep.labels[0]] + ["obj:new"])
    upos = labels["pos"]["upos"]
    v2_upos = sorted(upos[1:] + ["SCONJ:new"])
    config = TrainingConfig(name="t", sources=[], init_from=str(tmp_path / "trained"))
    model = new_model(config, {**labels, "dep": v2_relations,
                               "pos": {**labels["pos"], "upos": v2_upos}})
    dep = model.heads["dep"]
    assert dep.labels == v2_relations
    assert torch.equal(dep.arc_scorer.weight, old_dep.arc_scorer.weight)
    assert torch.equal(dep.rel_head[0].weight, old_dep.rel_head[0].weight)
    for i, relation in enumerate(v2_relations):
        if relation in old_dep.labels:
            old_row = old_dep.rel_scorer.weight[old_dep.labels.index(relation)]
            assert torch.equal(dep.rel_scorer.weight[i], old_row), relation
    assert dep.rel_scorer.weight.shape[0] == len(v2_relations)
    pos, old_pos = model.heads["pos"], trained.heads["pos"]
    for layer in labels["pos"]:
        if layer != "upos":
            assert torch.equal(pos.classifiers[layer].weight, old_pos.classifiers[layer].weight)
    kept = upos[1]
    assert torch.equal(pos.classifiers["upos"].weight[v2_upos.index(kept)],
                       old_pos.classifiers["upos"].weight[upos.index(kept)])
    assert model.predict(["他叫汤姆去拿外衣。"], ["dep", "pos"])[0].words


def test_heads_only_freezes_the_encoder_and_keeps_the_other_heads(tmp_path):
    """New SDP and relabelled DEP heads on a trained model's encoder: the encoder and the
    heads of tasks without sources do not change, so their outputs stay as they were."""
    from zhnlp.train.config import check_trainable
    from zhnlp.train.recipe import new_model

    labels = collect_labels(sample_sources())
    trained = build_tiny_model(seed=7, labels=labels)
    trained.save(tmp_path / "trained")
    config = TrainingConfig(name="t", sources=[], init_from=str(tmp_path / "trained"),
                            heads_only=True)
    relations = sorted(labels["dep"] + ["obj:new"])
    upos = sorted(labels["pos"]["upos"] + ["SCONJ:new"])  # the POS head trains upos only
    model = new_model(config, {"dep": relations, "sdp": ["Agt", "Root"],
                               "pos": {"upos": upos}})
    assert model.heads["pos"].labels == {**labels["pos"], "upos": upos}
    assert set(model.heads) == set(trained.heads) | {"sdp"}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith("heads.") for name in trainable)
    text = ["他叫汤姆去拿外衣。"]
    assert model.predict(text, ["cws", "ner"]) == trained.predict(text, ["cws", "ner"])
    kept = [layer for layer in labels["pos"] if layer != "upos"]
    new_tags, old_tags = (m.predict(text, ["pos"])[0].results["pos"] for m in (model, trained))
    assert kept and all(new_tags[layer] == old_tags[layer] for layer in kept)
    with pytest.raises(ZhnlpError, match="give `init_from`"):
        check_trainable(TrainingConfig(name="t", sources=[], encoder="x", heads_only=True))


def test_init_from_can_keep_fewer_tasks_and_encoder_layers(tmp_path):
    """A smaller model from a trained one (configs/cws-fast.toml): only the configured
    tasks' heads and the encoder's first `encoder_layers` layers, weights unchanged."""
    from zhnlp.errors import ZhnlpError
    from zhnlp.model import MultiTaskModel
    from zhnlp.train.recipe import new_model

    labels = collect_labels(sample_sources())
    trained = build_tiny_model(seed=5, labels=labels, layers=2)
    trained.save(tmp_path / "trained")
    config = TrainingConfig(name="t", sources=[], init_from=str(tmp_path / "trained"),
                            encoder_layers=1)
    small = new_model(config, {"cws": None})
    assert small.tasks == ["cws"]
    assert len(small.encoder.encoder.layer) == small.encoder.config.num_hidden_layers == 1
    kept = small.state_dict()
    assert kept and all(torch.equal(trained.state_dict()[name], tensor)
                        for name, tensor in kept.items())
    assert not any(".layer.1." in name for name in kept)
    small.save(tmp_path / "small")  # and it loads back as a 1-layer CWS model
    again = MultiTaskModel.load(tmp_path / "small")
    assert again.tasks == ["cws"] and again.encoder.config.num_hidden_layers == 1
    assert again.predict(["他叫汤姆去拿外衣。"], ["cws"])[0].words
    with pytest.raises(ZhnlpError, match="encoder_layers must be"):
        new_model(replace(config, encoder_layers=3), {"cws": None})


def test_init_from_adds_lexicon_features_that_start_at_zero(tmp_path):
    """`lexicon = ...` on a model trained without one: the projection starts at zero, so the
    continued model first predicts exactly what the trained one did."""
    from zhnlp.train.recipe import new_model

    labels = collect_labels(sample_sources())
    trained = build_tiny_model(seed=7, labels=labels)
    trained.save(tmp_path / "trained")
    words = tmp_path / "words.txt"
    words.write_text("汤姆\n外衣\n", encoding="utf-8")
    model = new_model(TrainingConfig(name="t", sources=[], init_from=str(tmp_path / "trained"),
                                     lexicon=str(words)), labels)
    assert model.lexicon is not None and model.lexicon.words == {"汤姆", "外衣"}
    assert not model.lexicon_projection.weight.any()
    sentence = ["他叫汤姆去拿外衣。"]
    assert model.eval().predict(sentence, ["cws", "pos"]) == trained.predict(sentence,
                                                                              ["cws", "pos"])


def test_a_batch_moves_every_tensor_to_a_device():
    """Training on a GPU moves whole batches (the meta device stands in for one here)."""
    model = build_tiny_model(seed=6)
    source = sample_sources()[3]  # dep: words, heads and relations
    batch = make_training_batch(model, source, source.sentences[:2])
    assert batch.to("cpu") is batch
    moved = batch.to("meta")
    tensors = [moved.input_ids, moved.attention_mask, moved.char_lengths, moved.word_spans,
               moved.word_lengths, *moved.targets.values()]
    assert len(moved.targets) == 2 and all(t.device.type == "meta" for t in tensors)


@needs_corpora
def test_the_smoke_recipe_runs_end_to_end_with_a_lexicon(tmp_path):
    """configs/train-smoke.toml (60 sentences per source): teachers, the distilled student
    with lexicon features, and the saved output with its dev metrics and tag priors; then
    that model as the teacher of a 1-layer student (which starts without the priors)."""
    from zhnlp.model import MultiTaskModel
    from zhnlp.train.recipe import run

    smoke = Path(__file__).resolve().parent.parent / "configs" / "train-smoke.toml"
    config = replace(load_training_config(smoke), run_dir=str(tmp_path / "run"),
                     output=str(tmp_path / "model"), lexicon="jieba", priors=True)
    run(config, ["teachers", "student"])
    model = MultiTaskModel.load(tmp_path / "model")
    assert set(model.tasks) == {"cws", "pos", "ner", "dep", "srl"}
    assert model.lexicon is not None and (tmp_path / "model" / "lexicon.txt").exists()
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert set(metrics["dev"]) == set(model.meta["dev"])
    assert set(metrics["priors"]["dev_with"]) == {"ud14_simp:pos", "pd1998:pos",
                                                      "msra:ner"}
    assert set(model.heads["pos"].priors) == set(metrics["priors"]["pos"])
    assert all((tmp_path / "run" / "teachers" / task / "done.json").exists()
               for task in model.tasks)
    # `teacher = DIR`: one trained model teaches a smaller copy of itself every task.
    small = replace(load_training_config(smoke), run_dir=str(tmp_path / "small-run"),
                    output=str(tmp_path / "small"), init_from=str(tmp_path / "model"),
                    teacher=str(tmp_path / "model"), encoder_layers=1)
    run(small, ["student"])
    assert (tmp_path / "small-run" / "student" / "log.jsonl").exists()
    small_model = MultiTaskModel.load(tmp_path / "small")
    assert small_model.encoder.config.num_hidden_layers == 1
    assert small_model.heads["pos"].priors == {} and small_model.heads["ner"].prior is None


def test_the_optimizer_trains_every_parameter_once():
    from zhnlp.lexicon import Lexicon
    from zhnlp.train.trainer import optimizer_for

    model = build_tiny_model(lexicon=Lexicon(["汤姆", "外衣"]))
    groups = optimizer_for(model, Schedule()).param_groups
    in_optimizer = [id(p) for group in groups for p in group["params"]]
    assert sorted(in_optimizer) == sorted(id(p) for p in model.parameters())
    assert any(p is model.lexicon_projection.weight for p in groups[0]["params"])


def test_training_moves_the_lexicon_projection(tmp_path):
    from zhnlp.lexicon import Lexicon

    sources = sample_sources()[:1]
    words = {w for s in sources[0].sentences for w in s.words if len(w) > 1}
    model = build_tiny_model(labels=collect_labels(sources), lexicon=Lexicon(words))
    train(model, sources, sources, Schedule(epochs=2, batch_chars=400, warmup=0.0), tmp_path,
          log=lambda _: None)
    assert model.lexicon_projection.weight.abs().sum() > 0


def test_sources_are_sampled_by_size_to_the_alpha_times_their_weight():
    from zhnlp.train.trainer import sampling_weights

    small = TaskData("a", "cws", "ctb", sentences=[Sentence(text="字" * 100)])
    large = TaskData("b", "pos", "pku", sentences=[Sentence(text="字" * 400)], weight=3.0)
    assert sampling_weights([small, large], 0.5) == pytest.approx([10 / 70, 60 / 70])
    assert sampling_weights([small, large], 0.0) == pytest.approx([1 / 4, 3 / 4])
