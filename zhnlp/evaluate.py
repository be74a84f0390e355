"""`zhnlp evaluate`: score a system output file against a dataset split.

System outputs are read into the same `Sentence` records as the gold data, one record per
gold sentence, and scored with the scorers of `zhnlp.metrics`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

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
from zhnlp.document import Document
from zhnlp.errors import ZhnlpError
from zhnlp.task_registry import REGISTRY, TASK_ORDER, head_class

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
    """One `zhnlp tag --format json` record (one input line) as one Sentence."""
    if "error" in record:
        raise ZhnlpError(f"system record {number} is an error record: {record['error']}.")
    return to_corpus_sentence(Document.from_dict(record))


def to_corpus_sentence(doc: Document, tag_fields: dict[str, str] | None = None) -> Sentence:
    """A Document as one corpus Sentence record, for the scorers: the tokens of all its
    sentences in order, heads renumbered to the whole text. `tag_fields` maps the
    Document's tag layers to Sentence fields (default upos -> upos, xpos -> xpos; People's
    Daily data score the PKU layer as xpos)."""
    tag_fields = tag_fields or {"upos": "upos", "xpos": "xpos"}
    sentence = Sentence(text=doc.text, words=[], heads=[], deprels=[], entities=[],
                        predicates=[], **{name: [] for name in tag_fields.values()})
    arcs = []
    for part in doc.sentences:
        offset = len(sentence.words)
        for token in part.tokens:
            arcs += [(offset + token.id, head + offset if head else 0, rel)
                     for head, rel in token.semantic_heads or []]
            sentence.words.append(token.text)
            for layer, name in tag_fields.items():
                getattr(sentence, name).append(getattr(token, layer) or "_")
            sentence.heads.append(token.head + offset if token.head else 0)
            sentence.deprels.append(token.deprel or "_")
        for predicate in part.predicates:
            sentence.predicates.append(Predicate(
                index=offset + predicate.id - 1, sense="_",
                arguments=[(offset + argument.id - 1, argument.role)
                           for argument in predicate.arguments],
                spans=[(offset + argument.span[0], offset + argument.span[1])
                       for argument in predicate.arguments]))
    sentence.entities = [Entity(e.label, e.start, e.end) for e in doc.entities]
    sentence.arcs = arcs or None
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
    """Scores for each task (its head's `score`); POS and DEP switch to CoNLL-2018 alignment
    when the system's segmentation differs from gold."""
    if len(gold) != len(system):
        raise ZhnlpError(f"the system output has {len(system)} sentences but {dataset.name} has "
                         f"{len(gold)}; give one output record per gold sentence, in order.")
    context = {"gold_words": same_segmentation(gold, system)}
    if "cws" in tasks:
        context["oov_words"] = train_words(dataset)
    results: dict[str, dict] = {}
    for task in tasks:
        results.update(head_class(task).score(gold, system, context))
    return results


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


def tag_fields(dataset: Dataset) -> dict[str, str] | None:
    """Which Document tag layers a dataset's Sentence fields hold (People's Daily: PKU)."""
    return {"upos": "upos", "pku": "xpos"} if dataset.standard == "pku" else None


def predict(pipeline, gold: list[Sentence], tasks: list[str], standard: str | None,
            gold_words: bool, fields: dict[str, str] | None = None) -> list[Sentence]:
    """The pipeline's analysis of each gold sentence, as Sentence records: from the raw
    text (one sentence each), or (gold_words) from the gold segmentation."""
    if gold_words:
        docs = pipeline([s.words for s in gold], tasks, standard, pretokenized=True)
    else:
        docs = pipeline([s.text for s in gold], tasks, standard, split=False)
    system = []
    for sentence, doc in zip(gold, docs):
        doc.text = sentence.text  # pretokenized: the words joined, which is the same text
        system.append(to_corpus_sentence(doc, fields))
    return system


def predict_split(pipeline, dataset: Dataset, gold: list[Sentence], tasks: list[str],
                  gold_words: bool) -> list[Sentence]:
    """`predict` for a dataset split: with the dataset's segmentation standard when the
    model has it (else the model's default) and the dataset's tag fields. The tasks whose
    output the scored ones read (`TaskHead.uses`: SRL spans read the dependency tree; and
    the UD v1 -> v2 conversion of a UD 1.4 model reads its tags and tree together) run
    along when the model has them."""
    standard = dataset.standard if dataset.standard in pipeline.standards else None
    converted = ("pos", "dep") if getattr(pipeline, "to_ud2", False) else ()
    extra = [used for task in tasks
             for used in head_class(task).uses + (converted if task in converted else ())
             if used in pipeline.tasks and used not in tasks]
    run = [task for task in TASK_ORDER if task in tasks or task in extra]
    return predict(pipeline, gold, run, standard, gold_words, tag_fields(dataset))


def evaluate_model(model_dir: str, dataset: Dataset, split: str,
                   tasks: list[str] | None, int8: bool = False,
                   precision: str | None = None, ud_version: int | None = None
                   ) -> dict[str, dict]:
    """Predict the split with a model and score every task both have: from raw text, and
    with gold words for the word-level tasks. The model outputs the dataset's UD version
    unless `ud_version` says otherwise (Pipeline: 2 converts a UD 1.4 model's trees)."""
    from zhnlp.pipeline import load

    pipeline = load(model_dir, int8=int8, precision=precision,
                    ud_version=ud_version or dataset.ud_version)
    tasks = [t for t in (tasks or dataset.tasks) if t in pipeline.tasks and t in TASK_ORDER]
    if not tasks:
        raise ZhnlpError(f"the model ({', '.join(pipeline.tasks)}) and {dataset.name} "
                         f"({', '.join(dataset.tasks)}) share no task.")
    gold = dataset.read(split)
    # from raw text: the tasks this model can run without given words
    raw_tasks = [t for t in tasks if "cws" in pipeline.tasks or not REGISTRY[t].needs_words]
    results = score(dataset, gold, predict_split(pipeline, dataset, gold, raw_tasks, False),
                    raw_tasks) if raw_tasks else {}
    word_tasks = [t for t in tasks if REGISTRY[t].needs_words]
    if word_tasks:
        system = predict_split(pipeline, dataset, gold, word_tasks, gold_words=True)
        for task, scores in score(dataset, gold, system, word_tasks).items():
            results[f"{task} (gold words)"] = scores
    return results


def main(args: argparse.Namespace) -> int:
    dataset = get_dataset(args.dataset)
    if args.task and args.task not in TASK_ORDER:
        raise ZhnlpError(f"unknown task {args.task!r}; choose from {', '.join(TASK_ORDER)}.")
    if args.task and args.task not in dataset.tasks:
        raise ZhnlpError(f"dataset {dataset.name} has no {args.task} annotation; it has "
                         f"{', '.join(dataset.tasks)}.")
    if bool(args.system) == bool(args.model):
        raise ZhnlpError("give either a system output (--system FILE) or a model (--model DIR).")
    if args.model:
        results = evaluate_model(args.model, dataset, args.split,
                                 [args.task] if args.task else None, args.int8,
                                 args.precision, args.ud_version)
    else:
        gold = dataset.read(args.split)
        system = read_system(Path(args.system), args.system_format)
        tasks = [args.task] if args.task else [
            task for task in dataset.tasks
            if task in TASK_ORDER and head_class(task).provided_by(system)]
        results = score(dataset, gold, system, tasks)
    print(format_table(dataset.name, args.split, results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"dataset": dataset.name, "split": args.split, "system": args.system or args.model,
             "scores": results}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0
