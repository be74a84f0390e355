"""The sixth task, semantic dependency graphs: targets, training, decoding (at least one
head per word, no self-loops), the Document / JSON / CoNLL-U faces and the SemEval scorer."""

import numpy as np
import pytest
import torch

from tests.conftest import build_tiny_model, needs_corpora
from zhnlp.corpora import Sentence
from zhnlp.document import Document
from zhnlp.evaluate import sentence_from_json
from zhnlp.metrics import sdp_scores
from zhnlp.pipeline import Pipeline
from zhnlp.tasks.sdp import choose_arcs
from zhnlp.train.data import TaskData, collect_labels, make_training_batch

# 她脸色病得很厉害: 她 depends on both 脸色 and 病 (two heads)
GRAPH = Sentence(text="她脸色病得很厉害", words=["她", "脸色", "病", "得", "很", "厉害"],
                 arcs=[(1, 2, "Poss"), (1, 3, "Exp"), (2, 3, "Exp"), (3, 0, "Root"),
                       (4, 6, "mDepd"), (5, 6, "mDegr"), (6, 3, "eResu")])
LABELS = sorted({label for _, _, label in GRAPH.arcs})


def sdp_model(seed: int = 0):
    labels = {"cws": None, "sdp": LABELS}
    return build_tiny_model(seed=seed, labels=labels)


def reachable_from_root(heads: list[list[int]]) -> set[int]:
    seen, frontier = {0}, [0]
    while frontier:
        node = frontier.pop()
        for dep, word_heads in enumerate(heads, 1):
            if node in word_heads and dep not in seen:
                seen.add(dep)
                frontier.append(dep)
    return seen


def test_choose_arcs_keeps_confident_arcs_gives_every_word_a_head_and_no_self_loops():
    probabilities = np.full((4, 4), 0.1, np.float32)
    probabilities[1, [2, 3]] = 0.9  # word 1: two heads
    probabilities[2, 2] = 0.99  # a self-loop is never chosen ...
    probabilities[2, 0] = 0.3  # ... so word 2 takes its best other head, the root
    probabilities[3, 1] = 0.2  # word 3: no confident head: its tree head (the root is taken)
    assert choose_arcs(probabilities, 3) == [[2, 3], [0], [1]]


def test_choose_arcs_connects_every_word_to_the_root():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 12):
        for _ in range(20):
            probabilities = rng.random((n + 1, n + 1)).astype(np.float32) ** 3
            heads = choose_arcs(probabilities, n)
            assert all(words and dep not in words for dep, words in enumerate(heads, 1))
            assert reachable_from_root(heads) == set(range(n + 1))


def test_the_head_learns_a_graph_with_two_heads_and_decodes_it():
    model = sdp_model(seed=1)
    source = TaskData("x", "sdp", "ctb", sentences=[GRAPH])
    assert collect_labels([source])["sdp"] == LABELS
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        batch = make_training_batch(model, source, [GRAPH])
        loss = model.heads["sdp"].loss(model(batch, ["sdp"])["sdp"], batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    doc = Pipeline(model)([GRAPH.words], ["sdp"], pretokenized=True)[0]
    heads = [token.semantic_heads for token in doc.tokens]
    assert heads[0] == [(2, "Poss"), (3, "Exp")]  # both heads of 她
    assert heads[2] == [(0, "Root")]
    system = sentence_from_json(doc.to_dict())
    assert sdp_scores([GRAPH], [system])["LF"]["F1"] == 100.0
    block = doc.to_conllu()
    assert "\t2:dep:poss|3:dep:exp\t" in block  # DEPS: UD relations only, so dep:<rel>
    assert "\t0:root\t" in block
    assert Document.from_dict(doc.to_dict()).to_dict() == doc.to_dict()


def test_every_word_gets_a_head_and_none_is_its_own_untrained():
    model = sdp_model(seed=2)
    docs = Pipeline(model)(["他叫汤姆去拿外衣。", "北京大学的李白"], ["cws", "sdp"])
    for doc in docs:
        for token in doc.tokens:
            assert token.semantic_heads
            assert all(head != token.id and 0 <= head <= len(doc.tokens)
                       for head, _ in token.semantic_heads)
            assert [h for h, _ in token.semantic_heads] == sorted(
                h for h, _ in token.semantic_heads)


def test_the_scorer_counts_labelled_unlabelled_and_non_local_arcs():
    system = Sentence(text=GRAPH.text, words=GRAPH.words,
                      arcs=[(1, 2, "Poss"), (2, 3, "Agt"), (3, 0, "Root"), (4, 6, "mDepd"),
                            (5, 6, "mDegr"), (6, 3, "eResu")])
    scores = sdp_scores([GRAPH], [system])
    assert (scores["LF"]["tp"], scores["LF"]["gold"], scores["LF"]["pred"]) == (5, 7, 6)
    assert scores["UF"]["tp"] == 6
    assert (scores["NLF"]["tp"], scores["NLF"]["gold"], scores["NLF"]["pred"]) == (0, 2, 0)
    with pytest.raises(ValueError, match="gold segmentation"):
        sdp_scores([GRAPH], [Sentence(text=GRAPH.text, words=[GRAPH.text])])


def test_the_soft_target_loss_is_lowest_when_the_student_matches_its_teacher():
    """Binary cross-entropy against the teacher's arc probabilities plus KL of the labels:
    minimal (for the arcs: the teacher's own entropy) when student and teacher agree."""
    model, other = sdp_model(seed=3), sdp_model(seed=4)
    for scorer in (model.heads["sdp"].arc_scorer, model.heads["sdp"].rel_scorer,
                   other.heads["sdp"].arc_scorer, other.heads["sdp"].rel_scorer):
        torch.nn.init.normal_(scorer.weight)  # they start at zero: all scores would tie
    source = TaskData("x", "sdp", "ctb", sentences=[GRAPH])
    batch = make_training_batch(model, source, [GRAPH])
    outputs = model(batch, ["sdp"])["sdp"]
    teacher = other(batch, ["sdp"])["sdp"]
    head = model.heads["sdp"]
    for temperature in (1.0, 2.0):
        matched = head.distill_loss(teacher, teacher, batch, temperature)
        assert torch.isfinite(matched)
        assert matched < head.distill_loss(outputs, teacher, batch, temperature)


@needs_corpora
def test_semeval_graphs_read_as_arcs_with_multiple_heads():
    from zhnlp.corpora import get_dataset

    sentences = get_dataset("semeval16_text").read("dev")
    assert len(sentences) == 1535
    multi = [s for s in sentences if s.arcs]
    assert multi and all(len(s.semantic_arcs()) >= len(s.words) for s in sentences[:200])


def test_sdp_runs_only_when_asked_for():
    """SDP doubles the analysis time (its relation biaffine has 134 labels): the default
    tasks leave it out; naming it runs it (and the segmentation it needs)."""
    from zhnlp.task_registry import resolve_tasks

    available = ["cws", "pos", "dep", "sdp"]
    assert resolve_tasks(available) == ["cws", "pos", "dep"]
    assert resolve_tasks(available, "sdp") == ["cws", "sdp"]
    doc = Pipeline(sdp_model(seed=3))("他叫汤姆去拿外衣。")
    assert "sdp" not in doc.tasks and all(t.semantic_heads is None for t in doc.tokens)


def test_the_relation_biaffine_is_stored_in_float16(tmp_path):
    """The SDP relation weights (8.5 MB in float32 for the shipped label set) are stored in
    float16 and loaded back into float32; every other weight keeps its precision."""
    from safetensors.torch import load_file

    from zhnlp.model import MultiTaskModel

    model = sdp_model(seed=4)
    model.save(tmp_path)
    stored = load_file(tmp_path / "model.safetensors")
    assert stored["heads.sdp.rel_scorer.weight"].dtype == torch.float16
    assert {t.dtype for n, t in stored.items() if n != "heads.sdp.rel_scorer.weight"} == {
        torch.float32}
    again = MultiTaskModel.load(tmp_path)
    assert again.heads["sdp"].rel_scorer.weight.dtype == torch.float32
    assert torch.equal(again.heads["sdp"].arc_scorer.weight, model.heads["sdp"].arc_scorer.weight)
