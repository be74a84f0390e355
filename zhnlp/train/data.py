"""Training examples and batches: corpus `Sentence`s become token-level targets per task.

A `TaskData` is one (dataset, task, standard) source; batches never mix sources, so each
batch trains one head and the encoder.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from zhnlp.corpora import Sentence, get_dataset
from zhnlp.model import MultiTaskModel
from zhnlp.tasks.common import Batch
from zhnlp.tasks.cws import words_to_tags
from zhnlp.tasks.ner import bioes_labels, spans_to_bioes
from zhnlp.tasks.srl import NONE_ROLE
from zhnlp.tokenizer import DROPPED, Encoding

IGNORE = -100


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
    max_chars: int = 200  # longer CWS/NER/POS sentences are cut at word boundaries
    weight: float = 1.0  # multiplies this source's sampling probability (before normalising)
    sentences: list[Sentence] = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return f"{self.dataset}:{self.task}"

    def load(self) -> TaskData:
        sentences = get_dataset(self.dataset).read(self.split)[self.skip :]
        if self.limit is not None:
            sentences = sentences[: self.limit]
        if self.task in ("cws", "ner", "pos"):
            sentences = [piece for s in sentences for piece in cut_sentence(s, self.max_chars)]
        self.sentences = sentences
        return self


def cut_sentence(sentence: Sentence, max_chars: int) -> list[Sentence]:
    """Pieces of at most ~max_chars characters, cut between words (keeping per-word tags),
    or anywhere outside entities for character-level NER data. Trees are never cut."""
    if len(sentence.text) <= max_chars or sentence.heads is not None:
        return [sentence]
    if sentence.words is not None:
        pieces, first, length = [], 0, 0
        for i, word in enumerate(sentence.words):
            if i > first and length + len(word) > max_chars:
                pieces.append(_word_slice(sentence, first, i))
                first, length = i, 0
            length += len(word)
        pieces.append(_word_slice(sentence, first, len(sentence.words)))
        return pieces
    pieces, start = [], 0
    entities = sorted(sentence.entities or [], key=lambda e: e.start)
    while start < len(sentence.text):
        end = min(start + max_chars, len(sentence.text))
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


def token_tags_for_words(encoding: Encoding, spans: list[tuple[int, int]]) -> list[int]:
    """B/M/E/S ids per character token from word character spans."""
    tags = [IGNORE] * (len(encoding.ids) - 2)
    for start, end in spans:
        tokens = [t - 1 for t in encoding.char_to_token[start:end] if t != DROPPED]
        if tokens:
            tags[tokens[0] : tokens[-1] + 1] = words_to_tags([len(tokens)])
    return tags


def make_training_batch(model: MultiTaskModel, source: TaskData, sentences: list[Sentence],
                        rng: random.Random | None = None) -> Batch:
    """Encoder inputs and the gold targets of source.task for these sentences."""
    encodings = [model.tokenizer.encode(s.text, max_length=model.max_chars + 2)
                 for s in sentences]
    task = source.task
    needs_words = task in ("pos", "dep", "srl")
    standard = source.standard
    if standard == "any":  # the head must work whatever standard the user picks
        standard = (rng or random).choice(model.standards)
    batch = model.make_batch(encodings, standard,
                             [s.word_spans() for s in sentences] if needs_words else None)
    n_max = int(batch.char_lengths.max())

    def padded(rows: list[list[int]], width: int) -> torch.Tensor:
        out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row[:width], dtype=torch.long)
        return out

    if task == "cws":
        batch.targets["cws"] = padded(
            [token_tags_for_words(e, s.word_spans()) for e, s in zip(encodings, sentences)],
            n_max)
    elif task == "ner":
        head = model.heads["ner"]
        label_ids = {label: i for i, label in enumerate(head.labels)}
        rows = []
        for encoding, sentence in zip(encodings, sentences):
            char_tags = spans_to_bioes([(e.label, e.start, e.end) for e in sentence.entities],
                                       len(sentence.text))
            rows.append([label_ids.get(char_tags[position], 0)
                         for position, token in enumerate(encoding.char_to_token)
                         if token != DROPPED])
        batch.targets["ner"] = padded(rows, n_max)
    elif task == "pos":
        head = model.heads["pos"]
        width = batch.word_spans.shape[1]
        for layer, field_name in source.pos_layers.items():
            ids = {tag: i for i, tag in enumerate(head.labels[layer])}
            batch.targets[f"pos:{layer}"] = padded(
                [[ids.get(tag, IGNORE) for tag in getattr(s, field_name)] for s in sentences],
                width)
    elif task == "dep":
        head = model.heads["dep"]
        width = batch.word_spans.shape[1]
        ids = {label: i for i, label in enumerate(head.labels)}
        batch.targets["dep:heads"] = padded([s.heads for s in sentences], width)
        batch.targets["dep:rels"] = padded([[ids.get(r, IGNORE) for r in s.deprels]
                                            for s in sentences], width)
    elif task == "srl":
        head = model.heads["srl"]
        width = batch.word_spans.shape[1]
        ids = {label: i for i, label in enumerate(head.labels)}
        predicates = torch.full((len(sentences), width), IGNORE, dtype=torch.long)
        roles = torch.full((len(sentences), width, width), IGNORE, dtype=torch.long)
        for i, sentence in enumerate(sentences):
            n = len(sentence.words)
            predicates[i, :n] = 0
            for predicate in sentence.predicates:
                predicates[i, predicate.index] = 1
                roles[i, predicate.index, :n] = ids[NONE_ROLE]
                for argument, role in predicate.arguments:
                    roles[i, predicate.index, argument] = ids.get(role, ids[NONE_ROLE])
        batch.targets["srl:predicates"] = predicates
        batch.targets["srl:roles"] = roles
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
    """Label vocabularies of every task, from the training data (sorted, so stable)."""
    labels: dict[str, object] = {}
    for source in sources:
        if source.task == "cws":
            labels["cws"] = None
        elif source.task == "pos":
            layers = labels.setdefault("pos", {})
            for layer, field_name in source.pos_layers.items():
                tags = set(layers.get(layer, []))
                tags.update(t for s in source.sentences for t in getattr(s, field_name))
                layers[layer] = sorted(tags)
        elif source.task == "ner":
            types = {e.label for s in source.sentences for e in s.entities}
            known = {label[2:] for label in labels.get("ner", [])[1:]}
            labels["ner"] = bioes_labels(sorted(types | known))
        elif source.task == "dep":
            labels["dep"] = sorted(set(labels.get("dep", []))
                                   | {r for s in source.sentences for r in s.deprels})
        elif source.task == "srl":
            roles = {role for s in source.sentences for p in s.predicates
                     for _, role in p.arguments}
            known = set(labels.get("srl", [NONE_ROLE])[1:])
            labels["srl"] = [NONE_ROLE] + sorted(roles | known)
    return labels
