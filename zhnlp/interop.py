"""Word ranges of a Document's character-level annotations, for the adapters that speak other
toolkits' formats (`zhnlp.spacy`, the HanLP protocol in `server/hanlp.py`): both want
entities as ranges of words, not characters (SRL arguments have theirs: `Argument.span`).

Every range here is (first, end): 0-based word indices within the sentence, end exclusive.
"""

from __future__ import annotations

from zhnlp.document import Sentence, Span


def entity_words(sentence: Sentence, entity: Span) -> tuple[int, int] | None:
    """The words an entity covers, widened to whole words (NER runs on characters, so an
    entity may start or end inside a word); None if it covers no word of the sentence."""
    inside = [k for k, token in enumerate(sentence.tokens)
              if token.start < entity.end and entity.start < token.end]
    return (inside[0], inside[-1] + 1) if inside else None

