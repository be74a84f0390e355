"""Priors from the training data added at decoding (zhnlp tune-priors): POS tag priors (word
-> tag counts) and the NER entity prior (entity strings -> types)."""

import json
import math

import pytest

from tests.conftest import build_tiny_model, needs_corpora
from tests.test_train import sample_sources
from zhnlp.corpora import Entity, Sentence
from zhnlp.model import PRIORS_FILE, MultiTaskModel
from zhnlp.tasks.ner import EntityPrior, bioes_labels
from zhnlp.tasks.pos import TagPrior, count_tags
from zhnlp.train.data import TaskData
from zhnlp.train.priors import tune
from zhnlp.train.trainer import evaluate_sources


def test_the_prior_is_the_weighted_smoothed_log_frequency_and_zero_for_unseen_words():
    prior = TagPrior({"发展": {"v": 3, "vn": 1}}, ["n", "v", "vn"], weight=0.5, smoothing=0.3)
    scores = prior.scores([["发展", "新词"], ["发展"]], width=3)
    assert scores.shape == (2, 3, 3)
    expected = [0.5 * math.log((count + 0.1) / 4.3) for count in (0, 3, 1)]
    assert scores[0, 0].tolist() == pytest.approx(expected)
    assert scores[1, 0].tolist() == pytest.approx(expected)
    assert not scores[0, 1:].any() and not scores[1, 1:].any()  # unseen word, padding


def test_counts_come_from_every_pos_layer_of_the_training_sources():
    sentence = Sentence(text="他说他", words=["他", "说", "他"], upos=["PRON", "VERB", "PRON"],
                        xpos=["PN", "VV", "PN"])
    source = TaskData("x", "pos", "ctb", pos_layers={"upos": "upos", "pku": "xpos"},
                      sentences=[sentence])
    counts = count_tags(source.sentences, source.pos_layers)
    assert counts == {"upos": {"他": {"PRON": 2}, "说": {"VERB": 1}},
                      "pku": {"他": {"PN": 2}, "说": {"VV": 1}}}
    traditional = Sentence(text="他說", words=["他", "說"], upos=["PRON", "VERB"],
                           xpos=["PN", "VV"])  # counted under the forms decoding looks up
    source.sentences = [traditional]
    counts = count_tags(source.sentences, source.pos_layers)
    assert counts["upos"] == {"他": {"PRON": 1}, "说": {"VERB": 1}}


def test_a_strong_prior_decides_the_tag_and_travels_with_the_saved_model(tmp_path):
    model = build_tiny_model()
    text, words = "他叫汤姆去拿外衣。", [(0, 1), (1, 2), (2, 4), (4, 5), (5, 6), (6, 8), (8, 9)]
    strings = [text[start:end] for start, end in words]
    head = model.heads["pos"]
    head.priors["pku"] = TagPrior({word: {"v": 5} for word in strings}, head.labels["pku"],
                                  weight=100.0, smoothing=0.01)
    analysis = model.predict([text], ["pos"], words=[words])[0]
    assert analysis.results["pos"]["pku"] == ["v"] * len(words)
    traditional = model.predict(["他叫湯姆去拿外衣。"], ["pos"], words=[words])[0]
    assert traditional.results["pos"]["pku"] == ["v"] * len(words)  # looked up as 汤姆
    model.save(tmp_path)
    loaded = MultiTaskModel.load(tmp_path)
    assert set(loaded.heads["pos"].priors) == {"pku"}
    assert loaded.predict([text], ["pos"], words=[words])[0].results == analysis.results
    loaded.heads["pos"].priors = {}  # a model without priors leaves no stale file behind
    loaded.save(tmp_path)
    assert not (tmp_path / PRIORS_FILE).exists()


def test_tuning_keeps_a_prior_only_where_it_beats_the_model_on_dev():
    """Counts from the dev data itself must help an untrained model (this tests the
    mechanics, not a real score); counts of other words cannot change anything."""
    pos, ner = sample_sources()[2], sample_sources()[1]
    model = build_tiny_model()
    report = tune(model, [pos, ner], [pos, ner])
    assert set(report["pos"]) == {"upos", "xpos"} and report["ner"]["weight"] > 0
    for name in ("sample:pos", "sample:ner"):
        assert report["dev_with"][name] > report["dev_without"][name]
    assert evaluate_sources(model, [pos, ner]) == report["dev_with"]  # the priors stay
    other = Sentence(text="甲乙", words=["甲乙"], upos=["NOUN"], xpos=["NN"],
                     entities=[Entity("PER", 0, 2)])
    unrelated = [TaskData("x", "pos", "pku", pos_layers={"upos": "upos", "xpos": "xpos"},
                          sentences=[other]), TaskData("x", "ner", "ctb", sentences=[other])]
    report = tune(model, unrelated, [pos, ner])
    assert report["pos"] == {} and model.heads["pos"].priors == {}
    assert report["ner"] == {} and model.heads["ner"].prior is None
    assert report["dev_with"] == report["dev_without"]


def test_the_entity_prior_marks_the_longest_training_entity_at_each_point():
    labels = bioes_labels(["PER", "LOC", "ORG"])
    prior = EntityPrior({"北京": {"LOC": 3}, "北京大学": {"ORG": 2}, "李白": {"PER": 1}},
                        {"北京": 6, "北京大学": 2, "李白": 1}, labels, weight=2.0)
    scores = prior.scores(["北京大学的李白在北京", "无"], width=12)  # padded
    column = {label: i for i, label in enumerate(labels)}
    expected = {(0, "B-ORG"): 2.0, (1, "I-ORG"): 2.0, (2, "I-ORG"): 2.0, (3, "E-ORG"): 2.0,
                (5, "B-PER"): 2.0, (6, "E-PER"): 2.0, (8, "B-LOC"): 1.0, (9, "E-LOC"): 1.0}
    for position in range(12):
        for label in labels:
            assert scores[0, position, column[label]] == expected.get((position, label), 0.0)
    assert not scores[1].any()


def test_a_strong_entity_prior_decides_and_travels_with_the_saved_model(tmp_path):
    model = build_tiny_model()
    text = "他叫汤姆去拿外衣。"
    head = model.heads["ner"]
    head.prior = EntityPrior({"汤姆": {"PER": 4}}, {"汤姆": 4}, head.labels, weight=100.0)
    entities = model.predict([text], ["ner"])[0].results["ner"]  # untrained: others too
    assert ("PER", 2, 4) in entities
    assert ("PER", 2, 4) in model.predict(["他叫湯姆去拿外衣。"], ["ner"])[0].results["ner"]
    model.save(tmp_path)
    loaded = MultiTaskModel.load(tmp_path)
    assert loaded.heads["ner"].prior.entities == {"汤姆": {"PER": 4}}
    assert loaded.predict([text], ["ner"])[0].results["ner"] == entities


@needs_corpora
def test_the_command_writes_priors_and_dev_scores_into_the_model(tmp_path):
    from zhnlp.cli import main

    model_dir = tmp_path / "model"
    build_tiny_model(positions=256).save(model_dir)  # dev sentences of up to 200 characters
    config = tmp_path / "pos.toml"
    config.write_text('name = "pos"\n[[sources]]\ndataset = "pd1998"\ntask = "pos"\n'
                      'standard = "pku"\npos_layers = { pku = "xpos" }\nlimit = 200\n'
                      'dev = { split = "dev", limit = 30 }\n'
                      '[[sources]]\ndataset = "msra"\ntask = "ner"\nstandard = "any"\n'
                      'limit = 300\ndev = { split = "dev", limit = 30 }\n'
                      '[[sources]]\ndataset = "ctb6"\ntask = "cws"\nstandard = "ctb"\n')
    assert main(["tune-priors", "--model", str(model_dir), "--config", str(config)]) == 0
    report = json.loads((model_dir / "metrics.json").read_text())["priors"]
    assert set(report["dev_without"]) == {"pd1998:pos", "msra:ner"}
    for name, score in report["dev_without"].items():
        assert report["dev_with"][name] >= score
    model = MultiTaskModel.load(model_dir)
    assert set(model.heads["pos"].priors) == set(report["pos"]) <= {"pku"}
    assert (model.heads["ner"].prior is not None) == bool(report["ner"])
    assert (model_dir / PRIORS_FILE).exists() == bool(report["pos"] or report["ner"])
