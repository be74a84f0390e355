"""`zhnlp evaluate`: score a system output file against a dataset split.

System outputs are read into the same `Sentence` records as the gold data, one record per
gold sentence, and scored with the scorers of `zhnlp.metrics`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from zhnlp import metrics
from zhnlp.corpora import (
    Dataset,
    Entity,
    Predicate,
    Sentence,
    get_dataset,
    open_text,
    read_conll,
    read_words_list,
)
from zhnlp.document import TASK_ORDER as TASKS
from zhnlp.errors import ZhnlpError

# ---------------------------------------------------------------------------------------
# System output readers


def read_system(path: Path, system_format: str | None = None) -> list[Sentence]:
    if not path.exists():
        raise ZhnlpError(f"system output {path} does not exist.")
    lines = list(open_text(path))
    system_format = system_format or guess_format(lines)
    if system_format == "json":
        return [sentence_from_json(json.loads(line), number)
                for number, line in enumerate(lines, 1)]
    if system_format == "conllu":
        return list(read_conll(lines))
    return [Sentence(text="".join(line.split()), words=line.split()) for line in lines]


def guess_format(lines: Sequence[str]) -> str:
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "json"
    if first.startswith("#") or first.count("\t") >= 7:
        return "conllu"
    return "text"


def sentence_from_json(record: dict, number: int = 0) -> Sentence:
    """One `zhnlp tag --format json` record (one input line) as one Sentence: the tokens of
    all its sentences in order, heads renumbered to the whole line."""
    if "error" in record:
        raise ZhnlpError(f"system record {number} is an error record: {record['error']}.")
    sentence = Sentence(text=record["text"], words=[], upos=[], xpos=[], heads=[], deprels=[],
                        entities=[], predicates=[])
    for part in record.get("sentences", []):
        offset = len(sentence.words)
        for token in part["tokens"]:
            sentence.words.append(token["text"])
            sentence.upos.append(token.get("upos") or "_")
            sentence.xpos.append(token.get("xpos") or "_")
            head = token.get("head")
            sentence.heads.append(head + offset if head else 0)
            sentence.deprels.append(token.get("deprel") or "_")
        for predicate in part.get("predicates", []):
            sentence.predicates.append(Predicate(
                index=offset + predicate["id"] - 1,
                sense=predicate.get("sense", "_"),
                arguments=[(offset + argument["id"] - 1, argument["role"])
                           for argument in predicate.get("arguments", [])],
            ))
    sentence.entities = [Entity(e["label"], e["start"], e["end"])
                         for e in record.get("entities", [])]
    return sentence


# ---------------------------------------------------------------------------------------
# Scoring


def train_words(dataset: Dataset) -> set[str] | None:
    """Words of the training data, for OOV recall: the official list, else the train split."""
    official = read_words_list(dataset)
    if official is not None:
        return official
    if "train" in dataset.splits:
        return {word for sentence in dataset.read("train") for word in sentence.words or []}
    return None


def same_segmentation(gold: Sequence[Sentence], system: Sequence[Sentence]) -> bool:
    return all(g.words == s.words for g, s in zip(gold, system))


def score(dataset: Dataset, gold: list[Sentence], system: list[Sentence],
          tasks: Sequence[str]) -> dict[str, dict]:
    """Scores for each task; POS and DEP switch to CoNLL-2018 alignment when the system's
    segmentation differs from gold."""
    if len(gold) != len(system):
        raise ZhnlpError(f"the system output has {len(system)} sentences but {dataset.name} has "
                         f"{len(gold)}; give one output record per gold sentence, in order.")
    results: dict[str, dict] = {}
    gold_words = same_segmentation(gold, system)
    for task in tasks:
        if task == "cws":
            results["cws"] = metrics.cws_scores(gold, system, train_words(dataset))
        elif task in ("pos", "dep") and not gold_words:
            results[f"{task} (aligned)"] = metrics.aligned_scores(gold, system)
        elif task == "pos":
            for layer in ("upos", "xpos"):
                if getattr(gold[0], layer) is not None and getattr(system[0], layer) is not None:
                    results[f"pos {layer}"] = metrics.pos_accuracy(gold, system, layer=layer)
        elif task == "dep":
            results["dep"] = metrics.attachment_scores(gold, system)
        elif task == "ner":
            results["ner"] = metrics.ner_scores(gold, system)
        elif task == "srl":
            results["srl"] = metrics.srl_scores(gold, system)
    return results


def system_provides(system: Sequence[Sentence], task: str) -> bool:
    first = system[0] if system else Sentence(text="")
    return {
        "cws": first.words is not None,
        "pos": first.xpos is not None and any(t != "_" for s in system for t in s.xpos or []),
        "dep": first.heads is not None and any(h for s in system for h in s.heads or []),
        "ner": first.entities is not None,
        "srl": any(s.predicates for s in system),
    }[task]


def format_table(dataset: str, split: str, results: dict[str, dict]) -> str:
    lines = [f"{dataset} {split}", f"{'task':<22} {'metric':<14} {'score':>7}"]
    for task, scores in results.items():
        for metric, value in flatten_scores(scores):
            lines.append(f"{task:<22} {metric:<14} {value:>7.2f}")
    return "\n".join(lines)


def flatten_scores(scores: dict, prefix: str = "") -> list[tuple[str, float]]:
    """Percentages only (counts stay in the JSON), nested groups joined with a dot."""
    flat = []
    for key, value in scores.items():
        if isinstance(value, dict):
            flat += flatten_scores(value, f"{prefix}{key}.")
        elif isinstance(value, float):
            flat.append((prefix + key, value))
    return flat


def predict_split(pipeline, dataset: Dataset, gold: list[Sentence], tasks: list[str],
                  gold_words: bool) -> list[Sentence]:
    """The model's analysis of each gold sentence, as Sentence records: from the raw text,
    or (gold_words) from the gold segmentation. Uses the dataset's segmentation standard
    when the model has it, else the model's default."""
    standard = dataset.standard if dataset.standard in pipeline.standards else None
    if gold_words:
        docs = pipeline([s.words for s in gold], tasks, standard, pretokenized=True)
    else:
        docs = pipeline([s.text for s in gold], tasks, standard, split=False)
    system = []
    for sentence, doc in zip(gold, docs):
        record = doc.to_dict()
        record["text"] = sentence.text
        predicted = sentence_from_json(record)
        if dataset.standard == "pku" and "pos" in tasks:  # People's Daily: the PKU tag layer
            predicted.xpos = [token.pku or "_" for s in doc.sentences for token in s.tokens]
        system.append(predicted)
    return system


def evaluate_model(model_dir: str, dataset: Dataset, split: str,
                   tasks: list[str] | None, int8: bool = False,
                   precision: str | None = None) -> dict[str, dict]:
    """Predict the split with a model and score every task both have: from raw text, and
    with gold words for the word-level tasks."""
    from zhnlp.pipeline import load

    pipeline = load(model_dir, int8=int8, precision=precision)
    tasks = [t for t in (tasks or dataset.tasks) if t in pipeline.tasks and t in TASKS]
    if not tasks:
        raise ZhnlpError(f"the model ({', '.join(pipeline.tasks)}) and {dataset.name} "
                         f"({', '.join(dataset.tasks)}) share no task.")
    gold = dataset.read(split)
    results = score(dataset, gold, predict_split(pipeline, dataset, gold, tasks, False), tasks)
    word_tasks = [t for t in tasks if t in ("pos", "dep", "srl")]
    if word_tasks:
        system = predict_split(pipeline, dataset, gold, word_tasks, gold_words=True)
        for task, scores in score(dataset, gold, system, word_tasks).items():
            results[f"{task} (gold words)"] = scores
    return results


def main(args: argparse.Namespace) -> int:
    dataset = get_dataset(args.dataset)
    if args.task and args.task not in TASKS:
        raise ZhnlpError(f"unknown task {args.task!r}; choose from {', '.join(TASKS)}.")
    if args.task and args.task not in dataset.tasks:
        raise ZhnlpError(f"dataset {dataset.name} has no {args.task} annotation; it has "
                         f"{', '.join(dataset.tasks)}.")
    if bool(args.system) == bool(args.model):
        raise ZhnlpError("give either a system output (--system FILE) or a model (--model DIR).")
    if args.model:
        results = evaluate_model(args.model, dataset, args.split,
                                 [args.task] if args.task else None, args.int8,
                                 args.precision)
    else:
        gold = dataset.read(args.split)
        system = read_system(Path(args.system), args.system_format)
        tasks = [args.task] if args.task else [
            task for task in dataset.tasks if task in TASKS and system_provides(system, task)]
        results = score(dataset, gold, system, tasks)
    print(format_table(dataset.name, args.split, results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"dataset": dataset.name, "split": args.split, "system": args.system or args.model,
             "scores": results}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0
