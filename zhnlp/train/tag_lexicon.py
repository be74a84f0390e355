"""`zhnlp tag-lexicon --model DIR --config configs/<name>.toml`: POS and NER priors from the
training data, for a trained model.

POS: counts how often each word of the config's POS training data carried each tag (per
tag layer), then, on the config's POS dev sets, tries priors of several weights and
smoothings on top of the model's own tag probabilities and keeps, per layer, the setting
best on dev. NER: collects the entity strings of the NER training data and how often each
occurrence of each was an entity of each type, and keeps the prior weight whose decoding
(`MultiTaskModel.predict`) scores best on the NER dev sets. A prior that does not beat the
model alone on dev is not kept. The priors go to DIR/tag_lexicon.json, which
`MultiTaskModel.load` reads; the dev scores with and without them (`evaluate_sources`) go
to DIR/metrics.json under "tag_lexicon". A recipe with `tag_lexicon = true` does the same
for the model it trains.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import torch
from tqdm import tqdm

from zhnlp.errors import ZhnlpError
from zhnlp.model import MultiTaskModel
from zhnlp.tasks.ner import EntityPrior
from zhnlp.tasks.pos import TagPrior
from zhnlp.tokenizer import lookup_text
from zhnlp.train.data import TaskData
from zhnlp.train.trainer import evaluate_sources

WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SMOOTHINGS = (0.01, 0.1, 1.0)


def count_tags(sources: list[TaskData]) -> dict[str, dict[str, dict[str, int]]]:
    """layer -> word -> tag -> count over the POS training sources; words in their lookup
    forms (`lookup_text`: what decoding looks up)."""
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for source in sources:
        if source.task != "pos":
            continue
        for layer, field_name in source.pos_layers.items():
            for sentence in source.sentences:
                for word, tag in zip(sentence.words, getattr(sentence, field_name)):
                    counts[layer][lookup_text(word)][tag] += 1
    return {layer: {word: dict(tags) for word, tags in words.items()}
            for layer, words in counts.items()}


@torch.inference_mode()
def dev_log_probs(model: MultiTaskModel, source: TaskData, layer: str,
                  batch_size: int = 64) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """The model's tag log-probabilities for every dev word (gold words), the words (lookup
    forms), and the gold tag ids (-1 for tags the model does not know)."""
    head = model.heads["pos"]
    index = {tag: i for i, tag in enumerate(head.labels[layer])}
    field_name = source.pos_layers[layer]
    scores, words, gold = [], [], []
    for first in tqdm(range(0, len(source.sentences), batch_size), unit="batch", leave=False,
                      desc=f"{source.name} {layer}"):
        chunk = source.sentences[first : first + batch_size]
        encodings = [model.tokenizer.encode(s.text) for s in chunk]
        batch = model.make_batch(encodings, source.standard,
                                 [s.word_spans() for s in chunk]).to(model.device)
        outputs = head(model.encode(batch), batch)[layer].float().log_softmax(-1).cpu()
        for row, sentence in enumerate(chunk):
            scores.append(outputs[row, : len(sentence.words)])
            words += map(lookup_text, sentence.words)  # as decoding looks them up
            gold += [index.get(tag, -1) for tag in getattr(sentence, field_name)]
    return torch.cat(scores), words, torch.tensor(gold)


def hits(scores: torch.Tensor, gold: torch.Tensor) -> int:
    """How many words get their gold tag (a quick count for the search; the reported
    accuracies come from the POS scorer)."""
    return int((scores.argmax(-1) == gold).sum())


def count_entities(sources: list[TaskData]) -> tuple[dict, dict[str, int]]:
    """(entity string -> type -> count, entity string -> occurrences in the texts) over the
    NER training sources; strings of two characters or more, in their lookup forms."""
    entities: dict[str, Counter] = defaultdict(Counter)
    texts = []
    for source in sources:
        if source.task != "ner":
            continue
        for sentence in source.sentences:
            text = lookup_text(sentence.text)
            texts.append(text)
            for entity in sentence.entities:
                if entity.end - entity.start >= 2:
                    entities[text[entity.start : entity.end]][entity.label] += 1
    joined = "\n".join(texts)
    return ({string: dict(types) for string, types in entities.items()},
            {string: joined.count(string) for string in entities})


def tune(model: MultiTaskModel, train: list[TaskData], dev: list[TaskData]) -> dict:
    """Set the POS and NER priors to the best on dev (for the tasks the model and the
    sources have); returns the settings chosen and the dev scores with and without them."""
    dev = [s for s in dev if s.task in ("pos", "ner") and s.task in model.heads]
    model.clear_priors()
    report = {"dev_without": evaluate_sources(model, dev)}
    if any(s.task == "pos" for s in dev):
        report["pos"] = tune_tag_priors(model, train, [s for s in dev if s.task == "pos"])
    ner_dev = [s for s in dev if s.task == "ner"]
    if ner_dev:
        report["ner"] = tune_entity_prior(
            model, train, ner_dev, _mean({s.name: report["dev_without"][s.name]
                                          for s in ner_dev}))
    report["dev_with"] = evaluate_sources(model, dev)
    return report


def tune_entity_prior(model: MultiTaskModel, train: list[TaskData], dev: list[TaskData],
                      without: float) -> dict:
    """The NER head's entity prior at the weight best on dev (mean F1 of the dev sources;
    `without`: the model's own), or none; returns the setting chosen."""
    head = model.heads["ner"]
    entities, occurrences = count_entities(train)
    if not entities:
        return {}
    prior = EntityPrior(entities, occurrences, head.labels, 1.0)
    best_score, best_weight = without, None
    for weight in WEIGHTS:
        prior.weight = weight
        head.prior = prior
        score = _mean(evaluate_sources(model, dev))
        if score > best_score:
            best_score, best_weight = score, weight
    prior.weight = best_weight
    head.prior = prior if best_weight is not None else None
    return {} if best_weight is None else {"weight": best_weight, "entities": len(entities)}


def _mean(scores: dict[str, float]) -> float:
    return sum(scores.values()) / len(scores)


def tune_tag_priors(model: MultiTaskModel, train: list[TaskData], dev: list[TaskData]) -> dict:
    """The POS head's priors, per tag layer, at the setting best on dev (or none); returns
    the settings chosen."""
    head = model.heads["pos"]
    counts = count_tags(train)
    chosen = {}
    for source in dev:
        for layer in source.pos_layers:
            if layer not in counts or layer not in head.labels:
                continue
            log_probs, words, gold = dev_log_probs(model, source, layer)
            best = (hits(log_probs, gold), 0.0, None)  # (correct words, weight, smoothing)
            for smoothing in SMOOTHINGS:
                prior = TagPrior(counts[layer], head.labels[layer], 1.0, smoothing)
                prior_scores = prior.scores([words], len(words))[0]
                for weight in WEIGHTS:
                    correct = hits(log_probs + weight * prior_scores, gold)
                    if correct > best[0]:
                        best = (correct, weight, smoothing)
            if best[2] is not None:
                head.priors[layer] = TagPrior(counts[layer], head.labels[layer], best[1],
                                              best[2])
                chosen[layer] = {"weight": best[1], "smoothing": best[2],
                                 "words": len(counts[layer]), "dev_source": source.name}
    return chosen


def main(args: argparse.Namespace) -> int:
    from zhnlp.train.recipe import lexicon_sources, read_config  # recipe imports this module

    torch.set_num_threads(args.threads or torch.get_num_threads())
    model = MultiTaskModel.load(args.model)
    train, dev = lexicon_sources(read_config(Path(args.config)))
    if not {s.task for s in train} & {"pos", "ner"} & set(model.heads):
        raise ZhnlpError(f"{args.config} has no POS or NER sources for the tasks of "
                         f"{args.model} ({', '.join(model.heads)}).")
    report = tune(model, train, dev)
    model.save_tag_lexicon(args.model)
    metrics_path = Path(args.model, "metrics.json")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) \
        if metrics_path.exists() else {}
    metrics["tag_lexicon"] = report
    metrics_path.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    for name, score in report["dev_without"].items():
        print(f"{name} dev: {score:.2f} without priors, {report['dev_with'][name]:.2f} with")
    for layer, setting in report.get("pos", {}).items():
        print(f"  pos {layer}: weight {setting['weight']}, smoothing {setting['smoothing']}, "
              f"{setting['words']} words")
    if report.get("ner"):
        print(f"  ner: weight {report['ner']['weight']}, {report['ner']['entities']} entity "
              "strings")
    return 0
