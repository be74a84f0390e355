"""The annotated-sentence record that every corpus reader yields (`zhnlp.corpora`) and the
UD conversion (`zhnlp.ud_convert`) rewrites: below both, so neither imports the other back."""

from __future__ import annotations

from dataclasses import dataclass, field

from zhnlp.text import word_spans


@dataclass
class Entity:
    label: str
    start: int  # character offsets into Sentence.text, end exclusive
    end: int


@dataclass
class Predicate:
    index: int  # 0-based word index of the predicate
    sense: str  # e.g. "cause.01"; "_" when unknown
    arguments: list[tuple[int, str]] = field(default_factory=list)  # (word index, role)
    # Word span (start, end exclusive) of each argument, parallel to `arguments`; None: the
    # scorers derive them from the sentence's tree (`zhnlp.decoders.argument_span`).
    spans: list[tuple[int, int]] | None = None


@dataclass
class Sentence:
    """One annotated sentence. Fields a corpus does not annotate stay None."""

    text: str
    words: list[str] | None = None
    upos: list[str] | None = None
    xpos: list[str] | None = None  # CTB tags for UD/CTB data, PKU tags for People's Daily
    heads: list[int] | None = None  # 1-based head per word, 0 = root
    deprels: list[str] | None = None
    entities: list[Entity] | None = None
    predicates: list[Predicate] | None = None
    arcs: list[tuple[int, int, str]] | None = None  # semantic graphs: (dep, head, label)

    def word_spans(self) -> list[tuple[int, int]]:
        """Character (start, end) of each word in text."""
        return word_spans(self.words or [])

    def semantic_arcs(self) -> list[tuple[int, int, str]]:
        """The semantic graph's (dep, head, label) arcs, 1-based, head 0 = root: `arcs`, or
        the tree when every word has one head (the reader then keeps only the tree)."""
        if self.arcs is not None:
            return list(self.arcs)
        return [(i, head, label)
                for i, (head, label) in enumerate(zip(self.heads or [], self.deprels or []), 1)]
