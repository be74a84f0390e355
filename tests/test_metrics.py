"""Scorers in zhnlp.metrics, on small hand-computed cases."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhnlp.corpora import Entity, Predicate, Sentence
from zhnlp.metrics import (
    PRF,
    aligned_scores,
    attachment_scores,
    cws_scores,
    ner_scores,
    pos_accuracy,
    srl_scores,
)


def seg(line: str, **layers) -> Sentence:
    words = line.split()
    return Sentence(text="".join(words), words=words, **layers)


def check_prf(scores: dict, tp: int, gold: int, pred: int, p: float, r: float, f1: float):
    assert (scores["tp"], scores["gold"], scores["pred"]) == (tp, gold, pred)
    assert scores["P"] == pytest.approx(p, abs=0.01)
    assert scores["R"] == pytest.approx(r, abs=0.01)
    assert scores["F1"] == pytest.approx(f1, abs=0.01)


# ---------------------------------------------------------------------------------------
# PRF


def test_prf_from_counts_and_sum():
    prf = PRF.from_counts(2, 4, 3)
    assert (prf.precision, prf.recall) == pytest.approx((200 / 3, 50.0))
    assert prf.f1 == pytest.approx(400 / 7)  # 2*2 / (4+3)
    assert prf.as_dict() == {"P": prf.precision, "R": prf.recall, "F1": prf.f1,
                             "tp": 2, "gold": 4, "pred": 3}
    assert prf + PRF.from_counts(1, 1, 2) == PRF(3, 5, 5)


def test_prf_zero_denominators():
    assert PRF.from_counts(0, 0, 0).as_dict() == {"P": 0.0, "R": 0.0, "F1": 0.0,
                                                  "tp": 0, "gold": 0, "pred": 0}
    assert (PRF(0, 3, 0).precision, PRF(0, 0, 3).recall) == (0.0, 0.0)


def test_prf_rejects_impossible_counts():
    with pytest.raises(ValueError):
        PRF.from_counts(3, 2, 5)


# ---------------------------------------------------------------------------------------
# CWS


def test_cws_hand_computed_with_oov():
    # gold:   他(0,1) 叫(1,2) 汤姆(2,4) 去(4,5) 拿(5,6) 外衣(6,8) 。(8,9)      7 words
    # system: 他(0,1) 叫汤姆(1,4) 去(4,5) 拿(5,6) 外(6,7) 衣(7,8) 。(8,9)      7 words
    # correct: 他 去 拿 。 = 4 -> P = R = F1 = 4/7 = 57.14
    # training words {他 叫 去 拿 。}: OOV gold words 汤姆, 外衣, none found -> OOV_R 0;
    # IV gold words 他 叫 去 拿 。 (5), found 他 去 拿 。 (4) -> IV_R 80
    gold = [seg("他 叫 汤姆 去 拿 外衣 。")]
    system = [seg("他 叫汤姆 去 拿 外 衣 。")]
    scores = cws_scores(gold, system, train_words={"他", "叫", "去", "拿", "。"})
    check_prf(scores, 4, 7, 7, 57.14, 57.14, 57.14)
    assert (scores["oov_tp"], scores["oov_gold"], scores["OOV_R"]) == (0, 2, 0.0)
    assert (scores["iv_tp"], scores["iv_gold"], scores["IV_R"]) == (4, 5, 80.0)


def test_cws_two_sentences_summed():
    # 1) gold 他 叫 汤姆 去 (4) vs system 他 叫 汤姆去 (3): correct 他 叫 -> 2
    # 2) gold 他叫 汤姆去 vs 他叫 汤姆去: 2 of 2
    # total tp 4, gold 6, pred 5: P 80, R 66.67, F1 8/11 = 72.73
    gold = [seg("他 叫 汤姆 去"), seg("他叫 汤姆去")]
    system = [seg("他 叫 汤姆去"), seg("他叫 汤姆去")]
    scores = cws_scores(gold, system)
    check_prf(scores, 4, 6, 5, 80.0, 66.67, 72.73)
    assert scores["OOV_R"] is None and scores["IV_R"] is None


def test_cws_nothing_in_common():
    # gold 他(0,1) 叫(1,2) 汤姆(2,4) 去(4,5) vs system 他叫(0,2) 汤姆去(2,5): no span shared
    scores = cws_scores([seg("他 叫 汤姆 去")], [seg("他叫 汤姆去")], train_words=set())
    check_prf(scores, 0, 4, 2, 0.0, 0.0, 0.0)
    assert scores["OOV_R"] == 0.0 and scores["IV_R"] == 0.0  # IV: 0 of 0 gold words


def test_cws_ignores_whitespace_but_rejects_other_differences():
    gold = [seg("他 叫 汤姆"), seg("他 叫 汤姆")]
    assert cws_scores(gold, [seg("他 叫 汤姆"), Sentence("他叫 汤 姆", ["他", "叫", " 汤 姆"])])[
        "tp"] == 6
    with pytest.raises(ValueError, match="sentence 1"):
        cws_scores(gold, [seg("他 叫 汤姆"), seg("她 叫 汤姆")])
    with pytest.raises(ValueError):
        cws_scores(gold, gold[:1])


def test_cws_empty_input():
    scores = cws_scores([], [], train_words={"他"})
    check_prf(scores, 0, 0, 0, 0.0, 0.0, 0.0)
    assert scores["OOV_R"] == 0.0


def tags(words: list[str]) -> str:
    """One B/M/E/S tag per character."""
    return "".join("S" if len(w) == 1 else "B" + "M" * (len(w) - 2) + "E" for w in words)


def brute_force_cws(gold_words: list[str], system_words: list[str]) -> tuple[int, int, int]:
    """A gold word is found when the system tags over its characters equal its own tags."""
    gold_tags, system_tags = tags(gold_words), tags(system_words)
    tp, start = 0, 0
    for word in gold_words:
        end = start + len(word)
        tp += gold_tags[start:end] == system_tags[start:end]
        start = end
    return tp, len(gold_words), len(system_words)


@st.composite
def two_segmentations(draw):
    text = draw(st.text(alphabet="甲乙丙丁", min_size=1, max_size=12))

    def segment() -> list[str]:
        cuts = draw(st.sets(st.integers(1, len(text) - 1))) if len(text) > 1 else set()
        bounds = [0, *sorted(cuts), len(text)]
        return [text[a:b] for a, b in zip(bounds, bounds[1:])]

    return segment(), segment()


@settings(max_examples=200, deadline=None)
@given(st.lists(two_segmentations(), max_size=4))
def test_cws_equals_brute_force(pairs):
    gold = [Sentence("".join(g), g) for g, _ in pairs]
    system = [Sentence("".join(s), s) for _, s in pairs]
    counts = [brute_force_cws(g, s) for g, s in pairs]
    scores = cws_scores(gold, system)
    expected = PRF.from_counts(*(sum(c[k] for c in counts) for k in range(3)))
    assert scores == {**expected.as_dict(), "OOV_R": None, "IV_R": None, "oov_tp": None,
                      "oov_gold": None, "iv_tp": None, "iv_gold": None}


# ---------------------------------------------------------------------------------------
# POS


def test_pos_accuracy():
    gold = [seg("他 叫 汤姆 去", xpos=["PN", "VV", "NR", "VV"],
                upos=["PRON", "VERB", "PROPN", "VERB"])]
    system = [seg("他 叫 汤姆 去", xpos=["PN", "VV", "NN", "VV"],
                  upos=["PRON", "VERB", "PROPN", "VERB"])]
    assert pos_accuracy(gold, system) == {"accuracy": 75.0, "correct": 3, "total": 4}
    assert pos_accuracy(gold, system, layer="upos")["accuracy"] == 100.0
    assert pos_accuracy([], [])["accuracy"] == 0.0


def test_pos_accuracy_needs_gold_segmentation():
    gold = [seg("他 叫 汤姆 去", xpos=["PN", "VV", "NR", "VV"])]
    with pytest.raises(ValueError, match="sentence 0"):
        pos_accuracy(gold, [seg("他 叫 汤姆去", xpos=["PN", "VV", "NR"])])
    with pytest.raises(ValueError):
        pos_accuracy(gold, gold, layer="deprels")
    with pytest.raises(ValueError):
        pos_accuracy(gold, [seg("他 叫 汤姆 去")])  # system has no xpos


# ---------------------------------------------------------------------------------------
# NER


def test_ner_overall_and_per_type():
    # 张三在北京大学工作
    # gold:   PER 张三 (0,2), ORG 北京大学 (3,7)
    # system: PER 张三 (0,2), LOC 北京 (3,5)
    # overall tp 1 of 2 gold, 2 pred -> 50/50/50
    # PER 1/1/1 -> 100; ORG 0 found of 1 gold, 0 pred -> P 0 (no predictions);
    # LOC 0 gold, 1 pred -> R 0 (no gold)
    text = "张三在北京大学工作"
    gold = [Sentence(text, entities=[Entity("PER", 0, 2), Entity("ORG", 3, 7)])]
    system = [Sentence(text, entities=[Entity("PER", 0, 2), Entity("LOC", 3, 5)])]
    scores = ner_scores(gold, system)
    check_prf(scores, 1, 2, 2, 50.0, 50.0, 50.0)
    assert list(scores["per_type"]) == ["LOC", "ORG", "PER"]
    check_prf(scores["per_type"]["PER"], 1, 1, 1, 100.0, 100.0, 100.0)
    check_prf(scores["per_type"]["ORG"], 0, 1, 0, 0.0, 0.0, 0.0)
    check_prf(scores["per_type"]["LOC"], 0, 0, 1, 0.0, 0.0, 0.0)


def test_ner_label_must_match_and_sums_over_sentences():
    # 1) gold ORG (3,7), system LOC (3,7): same span, wrong label -> 0 of 1
    # 2) gold GPE (0,2) found; system extra PER (2,4)
    # total tp 1, gold 2, pred 3: P 33.33, R 50, F1 2/5 = 40
    gold = [Sentence("张三在北京大学工作", entities=[Entity("ORG", 3, 7)]),
            Sentence("北京张三", entities=[Entity("GPE", 0, 2)])]
    system = [Sentence("张三在北京大学工作", entities=[Entity("LOC", 3, 7)]),
              Sentence("北京张三", entities=[Entity("GPE", 0, 2), Entity("PER", 2, 4)])]
    check_prf(ner_scores(gold, system), 1, 2, 3, 33.33, 50.0, 40.0)


def test_ner_zero_and_errors():
    scores = ner_scores([Sentence("你好", entities=[])], [Sentence("你好", entities=[])])
    check_prf(scores, 0, 0, 0, 0.0, 0.0, 0.0)
    assert scores["per_type"] == {}
    with pytest.raises(ValueError, match="sentence 0"):
        ner_scores([Sentence("你好", entities=[])], [Sentence("您好", entities=[])])
    with pytest.raises(ValueError):
        ner_scores([Sentence("你好", entities=[])], [])


# ---------------------------------------------------------------------------------------
# Dependency parsing

# gold: 他 -nsubj-> 叫 (root), 汤姆 -dobj-> 叫, 去 -xcomp-> 叫
GOLD_TREE = seg("他 叫 汤姆 去", upos=["PRON", "VERB", "PROPN", "VERB"],
                xpos=["PN", "VV", "NR", "VV"], heads=[2, 0, 2, 2],
                deprels=["nsubj", "root", "dobj", "xcomp"])


def test_attachment_scores():
    # system: 汤姆 has the right head but label nsubj; 去 attached to 汤姆
    # UAS: 他 叫 汤姆 right = 3/4 = 75; LAS: 他 叫 = 2/4 = 50
    system = seg("他 叫 汤姆 去", heads=[2, 0, 2, 3], deprels=["nsubj", "root", "nsubj", "xcomp"])
    assert attachment_scores([GOLD_TREE], [system]) == {
        "UAS": 75.0, "LAS": 50.0, "uas_correct": 3, "las_correct": 2, "total": 4}
    # the aligned scorer gives the same numbers on the gold segmentation
    aligned = aligned_scores([GOLD_TREE], [system])
    assert set(aligned) == {"Tokens", "UAS", "LAS"}  # system has no tags
    check_prf(aligned["Tokens"], 4, 4, 4, 100.0, 100.0, 100.0)
    check_prf(aligned["UAS"], 3, 4, 4, 75.0, 75.0, 75.0)
    check_prf(aligned["LAS"], 2, 4, 4, 50.0, 50.0, 50.0)


def test_attachment_scores_errors_and_zero():
    assert attachment_scores([], [])["UAS"] == 0.0
    with pytest.raises(ValueError, match="sentence 0"):
        attachment_scores([GOLD_TREE], [seg("他 叫 汤姆去", heads=[2, 0, 2],
                                             deprels=["nsubj", "root", "dobj"])])
    with pytest.raises(ValueError):
        attachment_scores([GOLD_TREE], [seg("他 叫 汤姆 去")])  # no heads


def test_aligned_scores_other_segmentation():
    # gold:   他(0,1)->叫  叫(1,2)->root  汤姆(2,4)->叫  去(4,5)->叫          4 words
    # system: 他(0,1)->叫  叫(1,2)->root  汤姆去(2,5)->叫                      3 words
    # aligned words: 他, 叫 -> Tokens tp 2: P 2/3 = 66.67, R 2/4 = 50, F1 4/7 = 57.14
    # UPOS: 他 PRON, 叫 VERB both right -> 2, as Tokens
    # XPOS: 叫 tagged VC (gold VV) -> 1: P 33.33, R 25, F1 2/7 = 28.57
    # UAS: 他's head 叫 aligned, 叫 root = root -> 2 -> as Tokens
    # LAS: 他 labelled top (gold nsubj) -> 1 -> as XPOS
    system = seg("他 叫 汤姆去", upos=["PRON", "VERB", "PROPN"], xpos=["PN", "VC", "NR"],
                 heads=[2, 0, 2], deprels=["top", "root", "dobj"])
    scores = aligned_scores([GOLD_TREE], [system])
    check_prf(scores["Tokens"], 2, 4, 3, 66.67, 50.0, 57.14)
    check_prf(scores["UPOS"], 2, 4, 3, 66.67, 50.0, 57.14)
    check_prf(scores["XPOS"], 1, 4, 3, 33.33, 25.0, 28.57)
    check_prf(scores["UAS"], 2, 4, 3, 66.67, 50.0, 57.14)
    check_prf(scores["LAS"], 1, 4, 3, 33.33, 25.0, 28.57)


def test_aligned_scores_head_must_be_aligned():
    # system: 他(0,1)->叫汤姆  叫汤姆(1,4)->root  去(4,5)->叫汤姆
    # aligned words 他, 去 (Tokens 2 of gold 4, pred 3), but their head 叫汤姆 (1,4) is not
    # aligned to the gold head 叫 (1,2) -> UAS 0
    system = seg("他 叫汤姆 去", heads=[2, 0, 2], deprels=["nsubj", "root", "xcomp"])
    scores = aligned_scores([GOLD_TREE], [system])
    check_prf(scores["Tokens"], 2, 4, 3, 66.67, 50.0, 57.14)
    check_prf(scores["UAS"], 0, 4, 3, 0.0, 0.0, 0.0)
    check_prf(scores["LAS"], 0, 4, 3, 0.0, 0.0, 0.0)


def test_aligned_scores_deprel_subtypes_and_errors():
    gold = seg("他 来", heads=[2, 0], deprels=["nsubj:pass", "root"])
    system = seg("他 来", heads=[2, 0], deprels=["nsubj", "root"])
    assert aligned_scores([gold], [system])["LAS"]["tp"] == 1
    assert aligned_scores([gold], [system], strip_subtypes=True)["LAS"]["tp"] == 2
    with pytest.raises(ValueError, match="sentence 0"):
        aligned_scores([gold], [seg("她 来", heads=[2, 0], deprels=["nsubj", "root"])])
    with pytest.raises(ValueError):
        aligned_scores([gold], [seg("他 来", heads=[3, 0], deprels=["nsubj", "root"])])
    assert aligned_scores([], [])["LAS"]["F1"] == 0.0


# ---------------------------------------------------------------------------------------
# SRL

# gold: 叫 (叫.01): 他 A0, 汤姆 A1, 去 A2;   去 (去.01): 汤姆 A0
GOLD_SRL = seg("他 叫 汤姆 去", predicates=[
    Predicate(1, "叫.01", [(0, "A0"), (2, "A1"), (3, "A2")]),
    Predicate(3, "去.01", [(2, "A0")]),
])


def test_srl_same_segmentation():
    # system: 叫 (sense right): 他 A0 ✓, 汤姆 A1 ✓, 去 A1 ✗;  汤姆 (wrong predicate), no args
    # predicates: 叫 right, 去 missed, 汤姆 wrong -> tp 1, gold 2, pred 2 -> 50/50/50
    # arguments: tp 2, gold 4, pred 3 -> P 66.67, R 50, F1 4/7 = 57.14
    system = seg("他 叫 汤姆 去", predicates=[
        Predicate(1, "叫.01", [(0, "A0"), (2, "A1"), (3, "A1")]),
        Predicate(2, "_", []),
    ])
    scores = srl_scores([GOLD_SRL], [system])
    check_prf(scores["predicate"], 1, 2, 2, 50.0, 50.0, 50.0)
    check_prf(scores["argument"], 2, 4, 3, 66.67, 50.0, 57.14)
    check_prf(scores, 2, 4, 3, 66.67, 50.0, 57.14)

    # count_sense: predicates need the same sense (叫.01 still right -> unchanged);
    # arguments gain one sense dependency per predicate: tp 2+1, gold 4+2, pred 3+2
    # -> P 60, R 50, F1 6/11 = 54.55
    scores = srl_scores([GOLD_SRL], [system], count_sense=True)
    check_prf(scores["predicate"], 1, 2, 2, 50.0, 50.0, 50.0)
    check_prf(scores["argument"], 3, 6, 5, 60.0, 50.0, 54.55)


def test_srl_sense_ignored_by_default():
    system = seg("他 叫 汤姆 去", predicates=[
        Predicate(1, "_", [(0, "A0"), (2, "A1"), (3, "A2")]),
        Predicate(3, "_", [(2, "A0")]),
    ])
    assert srl_scores([GOLD_SRL], [system])["F1"] == 100.0
    assert srl_scores([GOLD_SRL], [system])["predicate"]["F1"] == 100.0
    # with senses: predicates 0 right; arguments 4 of 6 -> P = R = F1 = 66.67
    scores = srl_scores([GOLD_SRL], [system], count_sense=True)
    check_prf(scores["predicate"], 0, 2, 2, 0.0, 0.0, 0.0)
    check_prf(scores["argument"], 4, 6, 6, 66.67, 66.67, 66.67)


def test_srl_other_segmentation():
    # system words: 他(0,1) 叫(1,2) 汤姆去(2,5); predicate 叫: 他 A0, 汤姆去 A1
    # predicates: 叫 (1,2) right, 去 (4,5) missed -> tp 1, gold 2, pred 1: 100/50/66.67
    # arguments: (叫, 他, A0) right; (叫, 汤姆去, A1) head word span (2,5) != 汤姆 (2,4)
    # -> tp 1, gold 4, pred 2: P 50, R 25, F1 2/6 = 33.33
    system = seg("他 叫 汤姆去", predicates=[Predicate(1, "_", [(0, "A0"), (2, "A1")])])
    scores = srl_scores([GOLD_SRL], [system])
    check_prf(scores["predicate"], 1, 2, 1, 100.0, 50.0, 66.67)
    check_prf(scores["argument"], 1, 4, 2, 50.0, 25.0, 33.33)


def test_srl_zero_and_errors():
    empty = seg("你好", predicates=[])
    scores = srl_scores([empty], [empty])
    check_prf(scores["predicate"], 0, 0, 0, 0.0, 0.0, 0.0)
    check_prf(scores["argument"], 0, 0, 0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sentence 1"):
        srl_scores([empty, empty], [empty, seg("您好", predicates=[])])
    with pytest.raises(ValueError):
        srl_scores([GOLD_SRL], [seg("他 叫 汤姆 去", predicates=[Predicate(4, "_")])])
    with pytest.raises(ValueError):
        srl_scores([GOLD_SRL], [])
