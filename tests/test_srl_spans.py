"""SRL argument spans: the CoNLL-2009 dependency-to-span rule on hand-built trees, the span
scorer, and the spans through the Pipeline (stitched long sentences) and `zhnlp evaluate`."""

import pytest

import zhnlp
from tests.conftest import SAMPLES
from zhnlp.corpora import (
    Dataset,
    Predicate,
    Sentence,
    SplitFile,
    get_dataset,
    open_text,
    read_propositions,
)
from zhnlp.decoders import argument_span, children_of
from zhnlp.metrics import argument_word_spans, srl_span_scores


def words_of(line: str, **layers) -> Sentence:
    words = line.split()
    return Sentence(text="".join(words), words=words, **layers)


# ---------------------------------------------------------------------------------------
# The rule

# 自从 2004 年 提出 了 兴建 人文 大楼 的 构想 (UP test, shortened; heads 1-based):
#   自从->4 2004->3 年->4 提出->0 了->4 兴建->10 人文->8 大楼->6 的->6 构想->4
UP_HEADS = [4, 3, 4, 0, 4, 10, 8, 6, 6, 4]


def test_subtree_of_the_head():
    assert argument_span(UP_HEADS, 9, predicate=3) == (5, 10)  # 构想: 兴建人文大楼的构想
    assert argument_span(UP_HEADS, 2, predicate=3) == (1, 3)  # 年: 2004 年
    assert argument_span(UP_HEADS, 7, predicate=5) == (6, 8)  # 大楼: 人文 大楼
    assert argument_span(UP_HEADS, 0, predicate=3) == (0, 1)  # a leaf: itself


def test_predicate_inside_the_argument_subtree_is_cut_out():
    # 构想 is A0 of 兴建, which lies in 构想's subtree: 兴建 人文 大楼 的 go, 构想 stays
    assert argument_span(UP_HEADS, 9, predicate=5) == (9, 10)
    # the predicate's subtree at the start of the argument's: what follows it stays
    heads = [2, 4, 2, 0]  # w0 -> w1 -> w3 (root), w2 -> w1
    assert argument_span(heads, 3, predicate=None) == (0, 4)
    assert argument_span(heads, 3, predicate=1) == (3, 4)  # w1 and its w0, w2 go


def test_nested_predicate_in_the_middle_keeps_the_run_holding_the_head():
    # w4 is the argument head; w1 (its child) is the predicate, with child w2;
    # w0 and w3 also hang on w4: subtree {0..4} minus {1, 2} = {0, 3, 4} -> run {3, 4}
    heads = [5, 5, 2, 5, 0]
    assert argument_span(heads, 4, predicate=1) == (3, 5)
    # an argument inside the predicate's subtree (the predicate its ancestor) is unaffected
    assert argument_span(heads, 2, predicate=1) == (2, 3)
    assert argument_span(heads, 1, predicate=4) == (1, 3)


def test_non_contiguous_subtree_is_kept_contiguous():
    # non-projective: w0 -> w3, w1 -> w4 (root), w2 -> w3, w3 -> w1;
    # subtree of w3 = {0, 2, 3}: w1 breaks it, so the run around w3 is {2, 3}
    heads = [4, 0, 4, 2]
    assert argument_span(heads, 3, predicate=1) == (2, 4)
    assert argument_span(heads, 3) == (2, 4)
    heads = [0, 1, 1, 1, 2]  # w4 -> w1, and w2, w3 sit between: subtree of w1 = {1, 4}
    assert argument_span(heads, 1, predicate=0) == (1, 2)


def test_degenerate_inputs():
    assert argument_span([0], 0, predicate=0) == (0, 1)  # its own argument: the word
    assert argument_span([2, 1], 0) == (0, 2)  # a cycle ends; both words reach each other
    assert argument_span([9, 0], 1) == (1, 2)  # a head out of range counts as the root
    assert children_of([2, 0, 2]) == [[], [0, 2], []]
    with pytest.raises(ValueError, match="outside"):
        argument_span([0, 1], 2)


# ---------------------------------------------------------------------------------------
# The scorer

# 他 叫 汤姆 去 拿 外衣: 他->2 叫->0 汤姆->2 去->2 拿->4 外衣->5
GOLD = words_of("他 叫 汤姆 去 拿 外衣", heads=[2, 0, 2, 2, 4, 5], predicates=[
    Predicate(1, "叫.01", [(0, "A0"), (2, "A1"), (3, "A2")]),  # A2 = 去 拿 外衣
    Predicate(4, "拿.01", [(5, "A1")]),
])


def test_gold_spans_come_from_the_gold_tree():
    assert argument_word_spans(GOLD) == [[(0, 1), (2, 3), (3, 6)], [(5, 6)]]
    no_tree = words_of("他 叫 汤姆 去 拿 外衣", predicates=GOLD.predicates)
    assert argument_word_spans(no_tree) == [[(0, 1), (2, 3), (3, 4)], [(5, 6)]]


def test_span_scores_on_a_tiny_example():
    # system: same heads and roles; spans: 他 ✓, 汤姆 ✓, 去 alone ✗ (gold 去拿外衣);
    # 拿: 外衣 ✓ plus a wrong A0 汤姆去 -> tp 3, gold 4, pred 5
    system = words_of("他 叫 汤姆 去 拿 外衣", predicates=[
        Predicate(1, "_", [(0, "A0"), (2, "A1"), (3, "A2")], [(0, 1), (2, 3), (3, 4)]),
        Predicate(4, "_", [(2, "A0"), (5, "A1")], [(2, 4), (5, 6)]),
    ])
    scores = srl_span_scores([GOLD], [system])
    assert (scores["tp"], scores["gold"], scores["pred"]) == (3, 4, 5)
    assert scores["P"] == pytest.approx(60.0) and scores["R"] == pytest.approx(75.0)
    assert scores["F1"] == pytest.approx(200 * 3 / 9)
    # the same system with the gold tree and no spans of its own: spans from its tree
    derived = words_of("他 叫 汤姆 去 拿 外衣", heads=GOLD.heads, predicates=[
        Predicate(p.index, "_", p.arguments) for p in GOLD.predicates])
    assert srl_span_scores([GOLD], [derived])["F1"] == 100.0
    # a role wrong on the right span is a miss
    wrong = words_of("他 叫 汤姆 去 拿 外衣", heads=GOLD.heads, predicates=[
        Predicate(1, "_", [(0, "A1"), (2, "A1"), (3, "A2")]), GOLD.predicates[1]])
    assert srl_span_scores([GOLD], [wrong])["tp"] == 3


def test_span_scores_compare_characters_across_segmentations():
    # system words 他 叫 汤姆 去拿外衣: A2 as the one word 去拿外衣 covers gold's 去 拿 外衣
    system = words_of("他 叫 汤姆 去拿外衣", predicates=[
        Predicate(1, "_", [(0, "A0"), (2, "A1"), (3, "A2")], [(0, 1), (2, 3), (3, 4)])])
    scores = srl_span_scores([GOLD], [system])
    assert (scores["tp"], scores["gold"], scores["pred"]) == (3, 4, 3)


def test_span_scores_errors():
    bad = words_of("他 叫 汤姆 去 拿 外衣", predicates=[Predicate(1, "_", [(0, "A0")], [(1, 3)])])
    with pytest.raises(ValueError, match="does not hold its argument"):
        srl_span_scores([GOLD], [bad])
    short = words_of("他 叫 汤姆 去 拿 外衣", predicates=[Predicate(1, "_", [(0, "A0")], [])])
    with pytest.raises(ValueError, match="spans for"):
        srl_span_scores([GOLD], [short])
    with pytest.raises(ValueError, match="texts differ"):
        srl_span_scores([GOLD], [words_of("你 好", predicates=[])])


def test_sample_propositions_file():
    sentence = next(read_propositions(open_text(SAMPLES / "propositions.conllu")))
    # 叫: 他 A0, 汤姆 A1; 拿: 汤姆 A0 (not in 拿's subtree), 外衣 A1
    assert argument_word_spans(sentence) == [[(0, 1), (2, 3)], [(2, 3), (5, 6)]]


# ---------------------------------------------------------------------------------------
# Pipeline and evaluate


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


def check_spans(doc) -> None:
    """Every argument's span is the rule over its sentence's whole (stitched) tree when dep
    ran, else the head word alone; span_text is the text of the span's tokens."""
    for sentence in doc.sentences:
        heads = [token.head for token in sentence.tokens]
        for predicate in sentence.predicates:
            for argument in predicate.arguments:
                if "dep" in doc.tasks:
                    expected = argument_span(heads, argument.id - 1, predicate.id - 1)
                else:
                    expected = (argument.id - 1, argument.id)
                assert argument.span == expected
                first, last = sentence.tokens[expected[0]], sentence.tokens[expected[1] - 1]
                assert argument.span_text == doc.text[first.start : last.end]


def inject_roles(nlp, monkeypatch, marker: str) -> list[int]:
    """The tiny random model finds no arguments; make the piece whose text starts with
    `marker` have one predicate, its first word, with every other word an argument. Returns
    the list that receives that piece's word count."""
    predict, counts = nlp.model.predict, []

    def predict_with_roles(strings, tasks, *args, **options):
        analyses = predict(strings, tasks, *args, **options)
        for string, analysis in zip(strings, analyses):
            if string.startswith(marker) and "srl" in tasks:
                n = len(analysis.words)
                counts.append(n)
                analysis.results["srl"] = [(0, [(w, "A1") for w in range(1, n)])]
        return analyses

    monkeypatch.setattr(nlp.model, "predict", predict_with_roles)
    return counts


def test_pipeline_spans_follow_the_stitched_tree(nlp, monkeypatch):
    counts = inject_roles(nlp, monkeypatch, "甲")
    text = "甲" + "他叫汤姆去拿外衣，北京大学的李白、" * 20  # cut into pieces, stitched back
    doc = nlp(text, split=False)
    sentence = doc.sentences[0]
    assert len(doc.sentences) == 1 and len(text) > 4 * nlp.piece_chars
    assert counts and counts[0] < len(sentence.tokens)  # the first piece is one of several
    check_spans(doc)
    # the first piece's root heads the later pieces' roots, so its span runs to the end of
    # the sentence, across the cuts: spans are read off the stitched tree
    root = next(t.id for t in sentence.tokens if t.head == 0)
    assert root <= counts[0]
    (argument,) = [a for a in sentence.predicates[0].arguments if a.id == root]
    assert argument.span[1] == len(sentence.tokens)
    record = doc.to_dict()["sentences"][0]["predicates"][0]["arguments"]
    assert [a["span"] for a in record] == [list(a.span) for a in sentence.predicates[0].arguments]


def test_pipeline_without_dep_gives_the_head_word(nlp, monkeypatch):
    inject_roles(nlp, monkeypatch, "")
    doc = nlp("他叫汤姆去拿外衣，北京大学的李白。" * 3, tasks=["srl"])
    assert "dep" not in doc.tasks and doc.sentences[0].predicates[0].arguments
    check_spans(doc)
    assert all(a.span == (a.id - 1, a.id) for p in doc.sentences[0].predicates
               for a in p.arguments)


def test_evaluate_model_gives_head_and_span_scores(tiny_model_dir, monkeypatch):
    from zhnlp.evaluate import evaluate_model

    monkeypatch.setenv("ZHNLP_CORPORA", str(SAMPLES))
    dataset = Dataset("sample_up", ["srl"], "propositions", {},
                      {"test": SplitFile("sample_up", "test", "propositions.conllu", 1, "")},
                      standard="ud")
    results = evaluate_model(str(tiny_model_dir), dataset, "test", None)
    assert set(results) == {"srl", "srl span", "srl (gold words)", "srl span (gold words)"}
    for name in results:
        assert 0 <= results[name]["F1"] <= 100
    assert results["srl span (gold words)"]["gold"] == 4  # the sample's 4 arguments


def test_up_is_the_dataset_scored():
    assert get_dataset("up").tasks == ["srl"]
