"""Training examples and batches: corpus `Sentence`s become token-level targets per task.

A `TaskData` is one (dataset, task, standard) source; batches never mix sources, so each
batch trains one head and the encoder.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from zhnlp.corpora import Sentence, get_dataset
from zhnlp.model import MultiTaskModel
from zhnlp.task_registry import REGISTRY, head_class
from zhnlp.tasks.common import Batch
from zhnlp.train.config import SourceConfig


@dataclass
class TaskData:
    """Sentences of one dataset split for one task, read with one standard marker."""

    dataset: str
    task: str
    standard: str  # a standard of the model, or "any": a random one per batch (NER)
    pos_layers: dict[str, str] = field(default_factory=dict)  # POS layer -> Sentence field
    split: str = "train"
    skip: int = 0  # leave the first `skip` sentences out (held out for model selection)
    limit: int | None = None  # use at most this many sentences (after skip)
    cut_chars: int = 200  # longer CWS/NER/POS sentences are cut at word boundaries
    weight: float = 1.0  # multiplies this source's sampling probability (before normalising)
    sentences: list[Sentence] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return f"{self.dataset}:{self.task}"

    def load(self) -> TaskData:
        sentences = get_dataset(self.dataset).read(self.split)[self.skip :]
        if self.limit is not None:
            sentences = sentences[: self.limit]
        if head_class(self.task).cuttable:
            sentences = [piece for s in sentences for piece in cut_sentence(s, self.cut_chars)]
        self.sentences = sentences
        return self


def load_sources(sources: list[SourceConfig], weights: dict[str, float] | None = None
                 ) -> tuple[list[TaskData], list[TaskData]]:
    """(train, dev) TaskData of the configured sources, read. `weights` ("dataset:task" ->
    factor) multiply sources' sampling probabilities (a variant can stress one source)."""
    train, dev = [], []
    for source in sources:
        common = {"dataset": source.dataset, "task": source.task, "standard": source.standard,
                  "pos_layers": source.pos_layers, "cut_chars": source.cut_chars}
        train.append(TaskData(**common, split=source.split, skip=source.skip,
                              limit=source.limit,
                              weight=(weights or {}).get(source.name, 1.0)).load())
        if source.dev is not None:
            dev.append(TaskData(**common, split=source.dev.split, skip=source.dev.skip,
                                limit=source.dev.limit).load())
    return train, dev


def cut_sentence(sentence: Sentence, cut_chars: int) -> list[Sentence]:
    """Pieces of at most ~cut_chars characters, cut between words (keeping per-word tags),
    or anywhere outside entities for character-level NER data. Trees are never cut."""
    if len(sentence.text) <= cut_chars or sentence.heads is not None:
        return [sentence]
    if sentence.words is not None:
        pieces, first, length = [], 0, 0
        for i, word in enumerate(sentence.words):
            if i > first and length + len(word) > cut_chars:
                pieces.append(_word_slice(sentence, first, i))
                first, length = i, 0
            length += len(word)
        pieces.append(_word_slice(sentence, first, len(sentence.words)))
        return pieces
    pieces, start = [], 0
    entities = sorted(sentence.entities or [], key=lambda e: e.start)
    while start < len(sentence.text):
        end = min(start + cut_chars, len(sentence.text))
        for entity in entities:  # never cut inside an entity
            if entity.start < end < entity.end:
                end = entity.start if entity.start > start else entity.end
        inside = [type(e)(e.label, e.start - start, e.end - start)
                  for e in entities if start <= e.start and e.end <= end]
        pieces.append(Sentence(text=sentence.text[start:end], entities=inside))
        start = end
    return pieces


def _word_slice(sentence: Sentence, first: int, last: int) -> Sentence:
    words = sentence.words[first:last]
    return Sentence(text="".join(words), words=words,
                    upos=sentence.upos[first:last] if sentence.upos else None,
                    xpos=sentence.xpos[first:last] if sentence.xpos else None)


def make_training_batch(model: MultiTaskModel, source: TaskData, sentences: list[Sentence],
                        rng: random.Random | None = None) -> Batch:
    """Encoder inputs and the gold targets of source.task for these sentences."""
    encodings = [model.tokenizer.encode(s.text, max_length=model.window_chars + 2)
                 for s in sentences]
    standard = source.standard
    if standard == "any":  # the head must work whatever standard the user picks
        standard = (rng or random).choice(model.standards)
    words = [s.word_spans() for s in sentences] if REGISTRY[source.task].needs_words else None
    batch = model.make_batch(encodings, standard, words)
    batch.targets = model.heads[source.task].targets(sentences, batch, source)
    return batch


def batches(source: TaskData, batch_chars: int, rng: random.Random) -> Iterator[list[Sentence]]:
    """Length-bucketed batches of about batch_chars characters, in random order."""
    order = sorted(range(len(source.sentences)), key=lambda i: len(source.sentences[i].text))
    groups, current, longest = [], [], 0
    for i in order:
        longest = max(longest, len(source.sentences[i].text))
        if current and longest * (len(current) + 1) > batch_chars:
            groups.append(current)
            current, longest = [], len(source.sentences[i].text)
        current.append(i)
    if current:
        groups.append(current)
    rng.shuffle(groups)
    for group in groups:
        yield [source.sentences[i] for i in group]


def collect_labels(sources: list[TaskData]) -> dict[str, object]:
    """Label vocabularies of every task, from the training data (each head's
    `collect_labels`, merged over the sources of its task)."""
    labels: dict[str, object] = {}
    for source in sources:
        labels[source.task] = head_class(source.task).collect_labels(
            source.sentences, labels.get(source.task), source)
    return labels
