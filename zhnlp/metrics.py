"""Scorers for word segmentation, POS tagging, NER, dependency parsing, SRL and semantic
dependency graphs (SDP).

Every scorer takes gold and system `Sentence` lists paired by position and returns a plain
dict holding the raw counts next to percentages (0-100), so counts from several corpora can
be summed and rescored with `PRF.from_counts`. Zero denominators give 0.0.

Scorers that compare words by character span (`cws_scores`, `aligned_scores`, `srl_scores`,
`srl_span_scores`) count characters over the words joined without whitespace, and raise
ValueError when gold and system words of a pair do not spell the same text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from zhnlp.corpora import Sentence
from zhnlp.decoders.spans import argument_span, children_of

Span = tuple[int, int]


def _percent(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


@dataclass(frozen=True)
class PRF:
    """Counts of matched (tp), gold and predicted items; precision/recall/F1 in percent."""

    tp: int
    gold: int
    pred: int

    def __post_init__(self) -> None:
        if not 0 <= self.tp <= min(self.gold, self.pred):
            raise ValueError(f"invalid counts tp={self.tp}, gold={self.gold}, pred={self.pred}")

    @classmethod
    def from_counts(cls, tp: int, n_gold: int, n_pred: int) -> PRF:
        return cls(tp, n_gold, n_pred)

    @classmethod
    def match(cls, gold_items: Iterable[Hashable], pred_items: Iterable[Hashable]) -> PRF:
        """Counts of two multisets of items; an item matches when it is in both."""
        gold_counts, pred_counts = Counter(gold_items), Counter(pred_items)
        tp = sum((gold_counts & pred_counts).values())
        return cls(tp, sum(gold_counts.values()), sum(pred_counts.values()))

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.gold + other.gold, self.pred + other.pred)

    @property
    def precision(self) -> float:
        return _percent(self.tp, self.pred)

    @property
    def recall(self) -> float:
        return _percent(self.tp, self.gold)

    @property
    def f1(self) -> float:
        return _percent(2 * self.tp, self.gold + self.pred)

    def as_dict(self) -> dict[str, Any]:
        """{"P", "R", "F1"} in percent plus the counts {"tp", "gold", "pred"}."""
        return {"P": self.precision, "R": self.recall, "F1": self.f1,
                "tp": self.tp, "gold": self.gold, "pred": self.pred}


ZERO = PRF(0, 0, 0)


# ---------------------------------------------------------------------------------------
# Shared checks


def _pairs(
    gold: Sequence[Sentence], system: Sequence[Sentence]
) -> Iterator[tuple[int, Sentence, Sentence]]:
    """(index, gold, system) for each pair; ValueError when the list lengths differ."""
    if len(gold) != len(system):
        raise ValueError(f"{len(gold)} gold sentences but {len(system)} system sentences")
    return ((i, g, s) for i, (g, s) in enumerate(zip(gold, system)))


def _layer(sentence: Sentence, name: str, side: str, index: int) -> list:
    """A sentence's annotation layer; ValueError when it is missing or of the wrong length."""
    value = getattr(sentence, name)
    if value is None:
        raise ValueError(f"sentence {index}: the {side} sentence has no {name}")
    if name not in ("words", "entities", "predicates") and len(value) != len(sentence.words or []):
        raise ValueError(f"sentence {index}: the {side} sentence has {len(value)} {name} "
                         f"for {len(sentence.words or [])} words")
    return value


def _plain(words: Sequence[str]) -> str:
    return "".join("".join(words).split())


def _spans(sentence: Sentence, side: str, index: int) -> list[Span]:
    """Character (start, end) of each word over the words joined without whitespace."""
    spans, start = [], 0
    for word in _layer(sentence, "words", side, index):
        end = start + len(_plain([word]))
        spans.append((start, end))
        start = end
    return spans


def _check_same_text(gold: Sentence, system: Sentence, index: int) -> None:
    gold_text = _plain(_layer(gold, "words", "gold", index))
    system_text = _plain(_layer(system, "words", "system", index))
    if gold_text != system_text:
        raise ValueError(f"sentence {index}: gold and system texts differ: "
                         f"{gold_text[:40]!r} vs {system_text[:40]!r}")


def _check_same_word_count(gold: Sentence, system: Sentence, index: int) -> None:
    n_gold = len(_layer(gold, "words", "gold", index))
    n_system = len(_layer(system, "words", "system", index))
    if n_gold != n_system:
        raise ValueError(f"sentence {index}: {n_gold} gold words but {n_system} system words; "
                         f"this score needs the gold segmentation")


def _head_spans(sentence: Sentence, spans: list[Span], side: str, index: int) -> list[Span | None]:
    """Span of each word's head word, None for the root."""
    heads = _layer(sentence, "heads", side, index)
    if any(not 0 <= head <= len(spans) for head in heads):
        raise ValueError(f"sentence {index}: the {side} sentence has a head out of range")
    return [spans[head - 1] if head else None for head in heads]


# ---------------------------------------------------------------------------------------
# Scorers


def cws_scores(
    gold: Sequence[Sentence], system: Sequence[Sentence], train_words: set[str] | None = None
) -> dict[str, Any]:
    """Word segmentation P/R/F1 over words as character spans, plus recall of gold words
    out of (OOV_R) and in (IV_R) `train_words`.

    Keys: P, R, F1, tp, gold, pred, OOV_R, IV_R, oov_tp, oov_gold, iv_tp, iv_gold; the
    OOV/IV keys are None when `train_words` is None.
    """
    words = ZERO
    oov_tp = oov_gold = iv_tp = iv_gold = 0
    for i, g, s in _pairs(gold, system):
        _check_same_text(g, s, i)
        gold_spans = _spans(g, "gold", i)
        system_spans = _spans(s, "system", i)
        words += PRF.match(gold_spans, system_spans)
        if train_words is None:
            continue
        found_spans = set(system_spans)
        for word, span in zip(g.words, gold_spans):
            found = span in found_spans
            if word in train_words:
                iv_gold, iv_tp = iv_gold + 1, iv_tp + found
            else:
                oov_gold, oov_tp = oov_gold + 1, oov_tp + found
    result = words.as_dict()
    known = train_words is not None
    result.update(
        OOV_R=_percent(oov_tp, oov_gold) if known else None,
        IV_R=_percent(iv_tp, iv_gold) if known else None,
        oov_tp=oov_tp if known else None,
        oov_gold=oov_gold if known else None,
        iv_tp=iv_tp if known else None,
        iv_gold=iv_gold if known else None,
    )
    return result


def pos_accuracy(
    gold: Sequence[Sentence], system: Sequence[Sentence],
    layer: Literal["xpos", "upos"] = "xpos",
) -> dict[str, Any]:
    """Word-level tag accuracy on the gold segmentation. Keys: accuracy, correct, total."""
    if layer not in ("xpos", "upos"):
        raise ValueError(f"layer must be 'xpos' or 'upos', not {layer!r}")
    correct = total = 0
    for i, g, s in _pairs(gold, system):
        _check_same_word_count(g, s, i)
        gold_tags, system_tags = _layer(g, layer, "gold", i), _layer(s, layer, "system", i)
        correct += sum(a == b for a, b in zip(gold_tags, system_tags))
        total += len(gold_tags)
    return {"accuracy": _percent(correct, total), "correct": correct, "total": total}


def ner_scores(gold: Sequence[Sentence], system: Sequence[Sentence]) -> dict[str, Any]:
    """Exact-match entity P/R/F1 over (label, start, end), overall and per type.

    Keys: P, R, F1, tp, gold, pred, and per_type: {label: {P, R, F1, tp, gold, pred}}.
    """
    overall = ZERO
    per_type: dict[str, PRF] = {}
    for i, g, s in _pairs(gold, system):
        if g.text != s.text:
            raise ValueError(f"sentence {i}: gold and system texts differ: "
                             f"{g.text[:40]!r} vs {s.text[:40]!r}")
        gold_items = [(e.label, e.start, e.end) for e in _layer(g, "entities", "gold", i)]
        system_items = [(e.label, e.start, e.end) for e in _layer(s, "entities", "system", i)]
        overall += PRF.match(gold_items, system_items)
        for label in {item[0] for item in gold_items + system_items}:
            counts = PRF.match([x for x in gold_items if x[0] == label],
                               [x for x in system_items if x[0] == label])
            per_type[label] = per_type.get(label, ZERO) + counts
    result = overall.as_dict()
    result["per_type"] = {label: per_type[label].as_dict() for label in sorted(per_type)}
    return result


def attachment_scores(gold: Sequence[Sentence], system: Sequence[Sentence]) -> dict[str, Any]:
    """UAS/LAS on the gold segmentation, over all words (punctuation included).

    Keys: UAS, LAS (percent), uas_correct, las_correct, total.
    """
    uas = las = total = 0
    for i, g, s in _pairs(gold, system):
        _check_same_word_count(g, s, i)
        pairs = zip(_layer(g, "heads", "gold", i), _layer(g, "deprels", "gold", i),
                    _layer(s, "heads", "system", i), _layer(s, "deprels", "system", i))
        for gold_head, gold_rel, system_head, system_rel in pairs:
            if gold_head == system_head:
                uas += 1
                las += gold_rel == system_rel
            total += 1
    return {"UAS": _percent(uas, total), "LAS": _percent(las, total),
            "uas_correct": uas, "las_correct": las, "total": total}


ALIGNED_LAYERS = ("Tokens", "UPOS", "XPOS", "UAS", "LAS")


def _aligned_items(
    sentence: Sentence, side: str, index: int, strip_subtypes: bool
) -> dict[str, list | None]:
    """Per layer, one hashable item per word, or None when the layer is not annotated."""
    spans = _spans(sentence, side, index)
    items: dict[str, list | None] = dict.fromkeys(ALIGNED_LAYERS)
    items["Tokens"] = spans
    if sentence.upos is not None:
        items["UPOS"] = list(zip(spans, _layer(sentence, "upos", side, index)))
    if sentence.xpos is not None:
        items["XPOS"] = list(zip(spans, _layer(sentence, "xpos", side, index)))
    if sentence.heads is not None:
        heads = _head_spans(sentence, spans, side, index)
        items["UAS"] = list(zip(spans, heads))
        if sentence.deprels is not None:
            deprels = _layer(sentence, "deprels", side, index)
            if strip_subtypes:
                deprels = [deprel.split(":")[0] for deprel in deprels]
            items["LAS"] = list(zip(spans, heads, deprels))
    return items


def aligned_scores(
    gold: Sequence[Sentence], system: Sequence[Sentence], strip_subtypes: bool = False
) -> dict[str, dict[str, Any]]:
    """CoNLL-2018-style P/R/F1 when the segmentations may differ.

    System and gold words align when they cover the same character span. Tokens counts
    aligned words; UPOS/XPOS aligned words with the same tag; UAS aligned words whose head
    word is aligned to the gold head word (root matches root); LAS also the same deprel.
    On the gold segmentation UAS/LAS P = R = F1 = `attachment_scores`. `strip_subtypes`
    compares only the universal part of deprels ("nmod:tmod" -> "nmod"), as the official
    CoNLL-2018 script does.

    Keys: Tokens, UPOS, XPOS, UAS, LAS, each {P, R, F1, tp, gold, pred}; a layer that is not
    annotated on both sides of every pair is left out.
    """
    totals = dict.fromkeys(ALIGNED_LAYERS, ZERO)
    available = set(ALIGNED_LAYERS)
    for i, g, s in _pairs(gold, system):
        _check_same_text(g, s, i)
        gold_items = _aligned_items(g, "gold", i, strip_subtypes)
        system_items = _aligned_items(s, "system", i, strip_subtypes)
        for name in ALIGNED_LAYERS:
            if gold_items[name] is None or system_items[name] is None:
                available.discard(name)
            else:
                totals[name] += PRF.match(gold_items[name], system_items[name])
    return {name: totals[name].as_dict() for name in ALIGNED_LAYERS if name in available}


def _srl_items(
    sentence: Sentence, side: str, index: int, count_sense: bool
) -> tuple[list[tuple], list[tuple]]:
    """(predicate items, argument items) keyed by character spans of words."""
    spans = _spans(sentence, side, index)

    def span(word_index: int) -> Span:
        if not 0 <= word_index < len(spans):
            raise ValueError(f"sentence {index}: the {side} sentence has a predicate or "
                             f"argument word index {word_index} out of range")
        return spans[word_index]

    predicates, arguments = [], []
    for predicate in _layer(sentence, "predicates", side, index):
        predicate_span = span(predicate.index)
        predicates.append((predicate_span, predicate.sense if count_sense else None))
        arguments += [(predicate_span, span(word), role) for word, role in predicate.arguments]
        if count_sense:  # CoNLL-2009: the sense is one more semantic dependency
            arguments.append((predicate_span, "sense", predicate.sense))
    return predicates, arguments


def srl_scores(
    gold: Sequence[Sentence], system: Sequence[Sentence], count_sense: bool = False
) -> dict[str, Any]:
    """Dependency-based SRL (CoNLL-2009 style), words compared by character span.

    predicate: predicate words identified (with count_sense, also the same sense).
    argument: (predicate word, argument head word, role) triples; with count_sense each
    predicate's sense also counts as one dependency, like the CoNLL-2009 labelled score.

    Keys: predicate and argument, each {P, R, F1, tp, gold, pred}; top-level P, R, F1, tp,
    gold, pred repeat the argument scores.
    """
    predicates = arguments = ZERO
    for i, g, s in _pairs(gold, system):
        _check_same_text(g, s, i)
        gold_predicates, gold_arguments = _srl_items(g, "gold", i, count_sense)
        system_predicates, system_arguments = _srl_items(s, "system", i, count_sense)
        predicates += PRF.match(gold_predicates, system_predicates)
        arguments += PRF.match(gold_arguments, system_arguments)
    result = arguments.as_dict()
    result.update(predicate=predicates.as_dict(), argument=arguments.as_dict())
    return result


def argument_word_spans(sentence: Sentence, side: str = "gold", index: int = 0
                        ) -> list[list[tuple[int, int]]]:
    """The word span (start, end exclusive) of every argument of every predicate: the
    predicate's own `spans` when it has them (a system's output), else the CoNLL-2009
    conversion over the sentence's tree (`zhnlp.decoders.argument_span`: gold heads and the
    gold tree give the gold spans), else (no tree) the head word alone."""
    words = _layer(sentence, "words", side, index)
    heads = sentence.heads if sentence.heads and len(sentence.heads) == len(words) else None
    children = children_of(heads) if heads else None
    result = []
    for predicate in _layer(sentence, "predicates", side, index):
        if predicate.spans is not None:
            if len(predicate.spans) != len(predicate.arguments):
                raise ValueError(f"sentence {index}: a {side} predicate has "
                                 f"{len(predicate.spans)} spans for "
                                 f"{len(predicate.arguments)} arguments")
            spans = [(int(start), int(end)) for start, end in predicate.spans]
        elif heads:
            spans = [argument_span(heads, word, predicate.index, children)
                     for word, _ in predicate.arguments]
        else:
            spans = [(word, word + 1) for word, _ in predicate.arguments]
        for (word, _), (start, end) in zip(predicate.arguments, spans):
            if not 0 <= start <= word < end <= len(words):
                raise ValueError(f"sentence {index}: the {side} span ({start}, {end}) does "
                                 f"not hold its argument word {word} in {len(words)} words")
        result.append(spans)
    return result


def srl_span_scores(gold: Sequence[Sentence], system: Sequence[Sentence]) -> dict[str, Any]:
    """SRL arguments as spans: (predicate word, argument span, role) triples must match
    exactly, words and spans compared by characters (so raw-text output with its own
    segmentation is scored too). Spans come from `argument_word_spans`: gold spans from the
    gold heads and the gold tree, system spans from the system's output.

    Keys: P, R, F1, tp, gold, pred.
    """
    total = ZERO
    for i, g, s in _pairs(gold, system):
        _check_same_text(g, s, i)
        sides = []
        for sentence, side in ((g, "gold"), (s, "system")):
            chars = _spans(sentence, side, i)
            items = []
            for predicate, spans in zip(sentence.predicates or [],
                                        argument_word_spans(sentence, side, i)):
                if not 0 <= predicate.index < len(chars):
                    raise ValueError(f"sentence {i}: the {side} sentence has a predicate "
                                     f"word index {predicate.index} out of range")
                items += [(chars[predicate.index], (chars[start][0], chars[end - 1][1]), role)
                          for (_, role), (start, end) in zip(predicate.arguments, spans)]
            sides.append(items)
        total += PRF.match(*sides)
    return total.as_dict()


def sdp_scores(gold: Sequence[Sentence], system: Sequence[Sentence]) -> dict[str, Any]:
    """Semantic dependency graphs on the gold segmentation, as SemEval-2016 Task 9 scores
    them: labelled and unlabelled arcs (LF, UF: P/R/F1 over (dependent, head[, label])),
    and the non-local arcs (NLF, NUF): the arcs of words that have more than one head on
    that side (gold for recall, system for precision), i.e. what a tree cannot hold.

    Keys: LF, UF, NLF, NUF, each {P, R, F1, tp, gold, pred}.
    """
    totals = dict.fromkeys(("LF", "UF", "NLF", "NUF"), ZERO)
    for i, g, s in _pairs(gold, system):
        _check_same_word_count(g, s, i)
        sides = []
        for sentence in (g, s):
            arcs = sentence.semantic_arcs()
            heads = Counter(dep for dep, _, _ in arcs)
            sides.append((arcs, [arc for arc in arcs if heads[arc[0]] > 1]))
        (gold_arcs, gold_nonlocal), (system_arcs, system_nonlocal) = sides
        unlabelled = lambda arcs: [arc[:2] for arc in arcs]  # noqa: E731
        totals["LF"] += PRF.match(gold_arcs, system_arcs)
        totals["UF"] += PRF.match(unlabelled(gold_arcs), unlabelled(system_arcs))
        totals["NLF"] += PRF.match(gold_nonlocal, system_nonlocal)
        totals["NUF"] += PRF.match(unlabelled(gold_nonlocal), unlabelled(system_nonlocal))
    return {name: prf.as_dict() for name, prf in totals.items()}
