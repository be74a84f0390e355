"""What a model found in one sentence, as every model's `predict` returns it (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field

CharSpan = tuple[int, int]


@dataclass
class Analysis:
    """A sentence's words (character spans into the sentence string the model was given)
    and, per task run on them, that head's decoded result."""

    words: list[CharSpan]
    results: dict[str, object] = field(default_factory=dict)
