"""Train the torch-free segmenter (`zhnlp.linear_cws`) by the averaged structured
perceptron: each batch of sentences is decoded with the current weights (the same
constrained Viterbi as at inference), every wrongly tagged character moves its features'
weights towards the gold tag, and the model kept is the average of the weights over all
steps (Collins 2002), from the epoch with the best mean dev F1.

    python -m zhnlp.train.linear_cws --output models/zhnlp-cws-fast [--epochs 12] [--bits 22]

Data: the CWS training sets of the three standards that the neural models use (CTB6 for
`ctb`, People's Daily January + February 1998 for `pku`, UD Chinese 1.4 simplified for `ud`);
dev: their dev splits. A few minutes on one CPU core.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zhnlp.corpora import Sentence, get_dataset
from zhnlp.linear_cws import (
    LinearSegmenter,
    dictionary_hashes,
    encode_sentences,
    perceptron_update,
    span_tags,
)
from zhnlp.metrics import cws_scores
from zhnlp.segmentation import TAGS

# the first standard is the default
SOURCES = {"ctb": ["ctb6"], "pku": ["pd1998", "pd1998_feb"], "ud": ["ud14_simp"]}
DEV = {"ctb": "ctb6", "pku": "pd1998", "ud": "ud14_simp"}


@dataclass
class Example:
    codes: np.ndarray
    tags: np.ndarray
    standard: int


def jieba_words() -> list[str]:
    """The words of jieba's dictionary (dict.txt: word, count, tag per line)."""
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    return [line.split(" ", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]


def examples(sentences: list[Sentence], standard: int) -> list[Example]:
    result = []
    for sentence in sentences:
        codes, starts, offsets = encode_sentences([sentence.text])
        if len(codes):
            result.append(Example(codes, span_tags(sentence.word_spans(), offsets[0],
                                                 len(codes), 3), standard))
    return result


def batch_arrays(batch: list[Example]) -> tuple[np.ndarray, ...]:
    starts = np.zeros(len(batch) + 1, np.int64)
    starts[1:] = np.cumsum([len(e.codes) for e in batch])
    return (np.concatenate([e.codes for e in batch]), starts,
            np.array([e.standard for e in batch], np.int64),
            np.concatenate([e.tags for e in batch]))


def transition_counts(tags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[4, 4] counts of tag i followed by tag j within the sentences."""
    inside = np.ones(len(tags) - 1, bool) if len(tags) > 1 else np.zeros(0, bool)
    inside[starts[1:-1] - 1] = False  # no pair across a sentence boundary
    counts = np.zeros((len(TAGS), len(TAGS)))
    np.add.at(counts, (tags[:-1][inside], tags[1:][inside]), 1)
    return counts


def dev_f1(model: LinearSegmenter, sentences: list[Sentence], standard: str) -> float:
    analyses = model.predict([s.text for s in sentences], ["cws"], standard)
    system = [Sentence(text=s.text, words=[s.text[a:b] for a, b in analysis.words])
              for s, analysis in zip(sentences, analyses)]
    return cws_scores(sentences, system)["F1"]


def train(train_sets: dict[str, list[Sentence]], dev_sets: dict[str, list[Sentence]],
          dictionary_words: list[str], epochs: int = 12, bits: int = 22, batch_size: int = 1,
          seed: int = 1, patience: int = 3, default_standard: str | None = None,
          log=sys.stderr) -> LinearSegmenter:
    """The averaged perceptron's best model: train_sets and dev_sets map each standard to
    its sentences (words given); the epoch with the best mean dev F1 is kept."""
    standards = list(train_sets)
    default_standard = default_standard or standards[0]
    data: list[Example] = []
    for index, standard in enumerate(standards):
        data += examples(train_sets[standard], index)
    print(f"{len(data)} training sentences, {sum(len(e.codes) for e in data)} characters",
          file=log)
    dictionary = dictionary_hashes(dictionary_words)
    weights = np.zeros((1 << bits, len(TAGS)), np.float32)
    totals = np.zeros_like(weights, np.float64)
    transitions = np.zeros((len(TAGS), len(TAGS)))
    transition_totals = np.zeros_like(transitions)
    model = LinearSegmenter(weights, transitions, dictionary, standards, default_standard)
    shift = np.uint64(64 - bits)
    rng = random.Random(seed)
    step, best, best_model, waited = 1, -1.0, None, 0
    for epoch in range(1, epochs + 1):
        started, wrong, characters = time.perf_counter(), 0, 0
        rng.shuffle(data)
        for first in range(0, len(data), batch_size):
            codes, starts, batch_standards, gold = batch_arrays(data[first : first + batch_size])
            model.transitions = transitions.astype(np.float32)
            predicted = model.decode(model.emissions(codes, starts, batch_standards), starts)
            wrong += perceptron_update(codes, starts, batch_standards, dictionary, gold,
                                       predicted, model.copies, shift, weights, totals,
                                       float(step))
            change = transition_counts(gold, starts) - transition_counts(predicted, starts)
            transitions += change
            transition_totals += step * change
            characters += len(codes)
            step += 1
        averaged = LinearSegmenter((weights - totals / step).astype(np.float32),
                                   transitions - transition_totals / step, dictionary,
                                   standards, default_standard)
        scores = {standard: dev_f1(averaged, sentences, standard)
                  for standard, sentences in dev_sets.items()}
        mean = sum(scores.values()) / max(len(scores), 1)
        print(f"epoch {epoch}: train errors {100 * wrong / max(characters, 1):.2f} %, dev F1 "
              + ", ".join(f"{s} {f:.2f}" for s, f in scores.items())
              + f" (mean {mean:.2f}), {time.perf_counter() - started:.0f} s", file=log)
        if mean > best:
            best, best_model, waited = mean, averaged, 0
            best_model.meta = {"dev": {s: round(f, 2) for s, f in scores.items()},
                               "epochs": epoch}
        else:
            waited += 1
            if waited >= patience:
                break
    return best_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="model directory to write")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--bits", type=int, default=22, help="2^bits weight rows")
    parser.add_argument("--batch-size", type=int, default=1, help="sentences per update")
    parser.add_argument("--standards", nargs="+", choices=list(SOURCES),
                        help="default: all; the first is the model's default")
    args = parser.parse_args(argv)
    standards = args.standards or list(SOURCES)
    train_sets = {s: [sentence for name in SOURCES[s]
                      for sentence in get_dataset(name).read("train")] for s in standards}
    dev_sets = {s: get_dataset(DEV[s]).read("dev") for s in standards}
    model = train(train_sets, dev_sets, jieba_words(), args.epochs, args.bits, args.batch_size)
    model.meta["dev"] = {DEV[s]: f1 for s, f1 in model.meta["dev"].items()}
    model.save(args.output)
    dev = {f"{name}:cws": f1 for name, f1 in model.meta["dev"].items()}
    Path(args.output, "metrics.json").write_text(json.dumps({"dev": dev}, indent=1) + "\n")
    print(f"saved to {args.output} (dev F1 {model.meta['dev']})", file=sys.stderr)


if __name__ == "__main__":
    main()
