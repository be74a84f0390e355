"""`zhnlp tune-priors --model DIR --config configs/<name>.toml`: decoding priors from the
training data, for a trained model.

Every head with a `tune_prior` method (POS: word -> tag counts per tag layer; NER: the
entity strings of the training data) builds its prior from the config's training sources of
its task and keeps the setting best on the config's dev sources of its task; a prior that
does not beat the model alone on dev is not kept. The priors go to DIR/priors.json, which
`MultiTaskModel.load` reads; the dev scores with and without them (`evaluate_sources`) go
to DIR/metrics.json under "priors". A recipe with `priors = true` does the same for the
model it trains.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from zhnlp.errors import ZhnlpError
from zhnlp.model import MultiTaskModel
from zhnlp.train.config import load_training_config
from zhnlp.train.data import TaskData, load_sources
from zhnlp.train.trainer import evaluate_sources

WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SMOOTHINGS = (0.01, 0.1, 1.0)


def tunable_tasks(model: MultiTaskModel) -> list[str]:
    return [task for task, head in model.heads.items() if hasattr(head, "tune_prior")]


def tune(model: MultiTaskModel, train: list[TaskData], dev: list[TaskData]) -> dict:
    """Set each tunable head's prior to the best on dev (for the tasks the model and the
    sources have); returns the settings chosen and the dev scores with and without them."""
    tasks = tunable_tasks(model)
    dev = [s for s in dev if s.task in tasks]
    model.clear_priors()
    report = {"dev_without": evaluate_sources(model, dev)}
    for task in tasks:
        task_dev = [s for s in dev if s.task == task]
        if task_dev:
            report[task] = model.heads[task].tune_prior(
                model, [s for s in train if s.task == task], task_dev, evaluate_sources,
                report["dev_without"], WEIGHTS, SMOOTHINGS)
    report["dev_with"] = evaluate_sources(model, dev)
    return report


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads or torch.get_num_threads())
    model = MultiTaskModel.load(args.model)
    config = load_training_config(Path(args.config))
    tasks = tunable_tasks(model)
    sources = [source for source in config.sources if source.task in tasks]
    if not sources:
        raise ZhnlpError(f"{args.config} has no sources for the tasks with priors of "
                         f"{args.model} ({', '.join(tasks) or 'none'}).")
    train, dev = load_sources(sources, config.source_weights)
    report = tune(model, train, dev)
    model.save_priors(args.model)
    metrics_path = Path(args.model, "metrics.json")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) \
        if metrics_path.exists() else {}
    metrics["priors"] = report
    metrics_path.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    for name, score in report["dev_without"].items():
        print(f"{name} dev: {score:.2f} without priors, {report['dev_with'][name]:.2f} with")
    for task in tasks:
        for key, setting in report.get(task, {}).items():
            print(f"  {task} {key}: {setting}")
    return 0
