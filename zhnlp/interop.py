"""Word ranges of a Document's character-level annotations, for the adapters that speak other
toolkits' formats (`zhnlp.spacy`, the HanLP protocol in `server/hanlp.py`): both want
entities and semantic-role arguments as ranges of words, not characters.

Every range here is (first, end): 0-based word indices within the sentence, end exclusive.
"""

from __future__ import annotations

from zhnlp.document import Argument, Sentence, Span


def entity_words(sentence: Sentence, entity: Span) -> tuple[int, int] | None:
    """The words an entity covers, widened to whole words (NER runs on characters, so an
    entity may start or end inside a word); None if it covers no word of the sentence."""
    inside = [k for k, token in enumerate(sentence.tokens)
              if token.start < entity.end and entity.start < token.end]
    return (inside[0], inside[-1] + 1) if inside else None


def argument_words(argument: Argument) -> tuple[int, int]:
    """The words of a semantic-role argument: its `span` where the Document has one (a
    (first id, end id) range of token ids, end exclusive, as the SRL-span work adds it), else
    its head word alone."""
    span = getattr(argument, "span", None)  # why getattr: spans arrive with issue 17's SRL part
    if span is not None:
        return span[0] - 1, span[1] - 1
    return argument.id - 1, argument.id
