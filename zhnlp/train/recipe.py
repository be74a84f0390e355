"""`zhnlp train --config configs/<name>.toml`: the whole recipe, stage by stage.

Stages: `teachers` (one single-task model per task, gold labels only), then `student` (all
tasks, gold + the teachers' soft targets, teacher annealing). With `distill = false` the
student is plain multitask learning (the ablation). Each finished model is kept in the run
directory (`runs/<name>/...`), so a rerun skips what is done and resumes an interrupted
model from its last checkpoint; the best student is copied to `output` with metrics.json.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from dataclasses import fields
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig

from zhnlp.corpora import corpora_root, file_sha256, get_dataset
from zhnlp.encoder import build_encoder, load_encoder
from zhnlp.errors import ZhnlpError
from zhnlp.lexicon import Lexicon, jieba_words
from zhnlp.model import MultiTaskModel
from zhnlp.tokenizer import CharTokenizer
from zhnlp.train.data import TaskData, collect_labels
from zhnlp.train.tag_lexicon import tune as tune_priors
from zhnlp.train.trainer import Schedule, train

SOURCE_KEYS = {"dataset", "task", "standard", "pos_layers", "split", "skip", "limit",
               "max_chars"}


def read_config(path: Path) -> dict:
    """The TOML config; `extends = "other.toml"` (relative to this file) starts from another
    config and overrides its keys: a table such as [schedule] key by key, anything else
    (the [[sources]] list too) whole. A variant states only what differs."""
    if not path.exists():
        raise ZhnlpError(f"config {path} does not exist.")
    with path.open("rb") as handle:
        config = tomllib.load(handle)
    if "extends" not in config:
        return config
    merged = read_config(path.parent / config.pop("extends"))
    for key, value in config.items():
        base = merged.get(key)
        merged[key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) \
            else value
    return merged


def schedule_from(section: dict) -> Schedule:
    known = {f.name for f in fields(Schedule)}
    unknown = set(section) - known
    if unknown:
        raise ZhnlpError(f"unknown schedule settings {sorted(unknown)}; known: {sorted(known)}.")
    return Schedule(**section)


def sources_from(config: dict) -> tuple[list[TaskData], list[TaskData]]:
    """(train, dev) TaskData of every [[sources]] entry. `source_weights = {"pd1998:pos" =
    2.0}` multiplies a source's sampling probability (a variant can stress one source)."""
    train_sources, dev_sources = [], []
    weights = dict(config.get("source_weights", {}))
    for entry in config["sources"]:
        entry = dict(entry)
        dev_options = entry.pop("dev", {"split": "dev"})
        unknown = set(entry) - SOURCE_KEYS
        if unknown:
            raise ZhnlpError(f"unknown source settings {sorted(unknown)} in {entry['dataset']}.")
        weight = weights.pop(f"{entry['dataset']}:{entry['task']}", 1.0)
        train_sources.append(TaskData(**entry, weight=weight).load())
        if dev_options is False:  # scored through another source's dev set
            continue
        dev_entry = {k: v for k, v in entry.items() if k not in ("split", "skip", "limit")}
        dev_sources.append(TaskData(**{**dev_entry, **dev_options}).load())
    if weights:
        raise ZhnlpError(f"source_weights names no source: {sorted(weights)} (names are "
                         "dataset:task).")
    return train_sources, dev_sources


def lexicon_sources(config: dict) -> tuple[list[TaskData], list[TaskData]]:
    """(train, dev) of the config's POS and NER sources only (what `zhnlp tag-lexicon`
    reads)."""
    sources = [entry for entry in config["sources"] if entry["task"] in ("pos", "ner")]
    weights = {name: weight for name, weight in config.get("source_weights", {}).items()
               if name.endswith((":pos", ":ner"))}
    return sources_from({**config, "sources": sources, "source_weights": weights})


def new_model(config: dict, labels: dict) -> MultiTaskModel:
    """The model a config trains: new heads on its encoder (`build_model`), or with
    `init_from = "DIR"` a trained model continued (same labels; heads of tasks the config
    does not train are dropped; `lexicon` adds lexicon features to a model without them).
    `encoder_layers = N` keeps the encoder's first N layers; `piece_chars = N` sets where the
    Pipeline cuts long sentences."""
    if "init_from" in config:
        model = MultiTaskModel.load(config["init_from"])
        if not set(labels) <= set(model.heads) or any(
                model.heads[task].config()["labels"] != labels[task] for task in labels
                if task != "cws"):  # CWS tags are fixed
            raise ZhnlpError(f"init_from model {config['init_from']} lacks tasks or has other "
                             "labels than this config's training data.")
        for task in set(model.heads) - set(labels):  # a smaller model: fewer tasks
            del model.heads[task]
        model.clear_priors()  # tuned for the old weights
        if model.lexicon is None and config.get("lexicon"):
            model.attach_lexicon(lexicon_from(config))
    else:
        model = build_model(config, labels)
    model.piece_chars = config.get("piece_chars", model.piece_chars)
    return keep_layers(model, config.get("encoder_layers"))


def build_model(config: dict, labels: dict) -> MultiTaskModel:
    """Heads for labels on the configured encoder; `encoder_init = "random"` keeps its
    architecture and vocabulary but not its weights (the no-pretraining baseline)."""
    encoder_dir = Path(config["encoder"])
    if config.get("encoder_init", "pretrained") == "random":
        encoder = build_encoder(AutoConfig.from_pretrained(encoder_dir, local_files_only=True))
    else:
        encoder = load_encoder(encoder_dir)
    tokenizer = CharTokenizer.from_pretrained(encoder_dir)
    model = MultiTaskModel.build(encoder, tokenizer, labels, config["standards"],
                                 lexicon_from(config), **config.get("heads", {}))
    model.default_standard = config.get("default_standard", config["standards"][0])
    return model


def keep_layers(model: MultiTaskModel, layers: int | None) -> MultiTaskModel:
    """`encoder_layers = N` keeps the encoder's first N layers (a faster, smaller model)."""
    if layers is not None:
        encoder = model.encoder
        if not 1 <= layers <= encoder.config.num_hidden_layers:
            raise ZhnlpError(f"encoder_layers must be 1..{encoder.config.num_hidden_layers}.")
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
    return model


def lexicon_from(config: dict) -> Lexicon | None:
    """`lexicon = "jieba"` (jieba's dictionary) or a word-list file (one word per line)."""
    source = config.get("lexicon")
    if source is None:
        return None
    if source == "jieba":
        words = jieba_words()
    elif Path(source).is_file():
        words = Path(source).read_text(encoding="utf-8").split()
    else:
        raise ZhnlpError(f"lexicon {source!r} is neither \"jieba\" nor a word-list file.")
    return Lexicon(words, config.get("lexicon_max_length", 4))


def data_manifest(sources: list[TaskData]) -> dict:
    """Checksums of every file the run read, for the run directory."""
    files = {}
    for source in sources:
        split = get_dataset(source.dataset).splits[source.split]
        files[split.path] = file_sha256(corpora_root() / split.path)
    return files


def run(config_path: Path, stages: list[str], threads: int | None = None,
        device: str = "cpu") -> Path:
    """Run the recipe's stages; `device` ("cpu", "cuda") is where the models train."""
    config = read_config(config_path)
    transformers.logging.set_verbosity_error()  # the encoder's MLM head is dropped on purpose
    torch.set_num_threads(threads or config.get("threads", torch.get_num_threads()))
    run_dir = Path(config.get("run_dir", f"runs/{config['name']}"))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    train_sources, dev_sources = sources_from(config)
    (run_dir / "data.json").write_text(json.dumps(data_manifest(train_sources + dev_sources),
                                                  indent=1) + "\n", encoding="utf-8")
    labels = collect_labels(train_sources)
    tasks = list(dict.fromkeys(source.task for source in train_sources))
    teachers: dict[str, MultiTaskModel] = {}
    if "teachers" in stages:
        for task in tasks:
            teacher_dir = run_dir / "teachers" / task
            if not (teacher_dir / "done.json").exists():  # a killed teacher starts over
                started = time.monotonic()
                model = new_model(config, {task: labels[task]}).to(device)
                schedule = schedule_from({**config.get("teacher_schedule", {}),
                                          **config.get("teacher_tasks", {}).get(task, {})})
                train(model, [s for s in train_sources if s.task == task],
                      [s for s in dev_sources if s.task == task], schedule, teacher_dir)
                (teacher_dir / "done.json").write_text(json.dumps(
                    {"minutes": round((time.monotonic() - started) / 60, 1)}) + "\n")
    if "student" in stages:
        if "teacher" in config:  # one trained model teaches every task (e.g. a smaller copy)
            teacher = MultiTaskModel.load(config["teacher"]).to(device)
            missing = set(tasks) - set(teacher.heads)
            if missing:
                raise ZhnlpError(f"teacher {config['teacher']} has no {sorted(missing)} head.")
            teachers = dict.fromkeys(tasks, teacher)
        elif config.get("distill", True):
            for task in tasks:
                teacher_dir = run_dir / "teachers" / task / "best"
                if not (teacher_dir / "config.json").exists():
                    raise ZhnlpError(f"the {task} teacher is missing ({teacher_dir}); run the "
                                     "teachers stage first.")
                teachers[task] = MultiTaskModel.load(teacher_dir).to(device)
        student_dir = run_dir / ("student" if teachers else "multitask")
        model = new_model(config, labels).to(device)
        state = train(model, train_sources, dev_sources,
                      schedule_from(config.get("schedule", {})), student_dir,
                      teachers=teachers or None)
        best = MultiTaskModel.load(student_dir / "best")  # its meta holds its dev scores
        best.meta.update({"name": config["name"], "train_minutes": state.history[-1]["minutes"]})
        metrics = {"dev": best.meta["dev"]}
        if config.get("tag_lexicon"):
            metrics["tag_lexicon"] = tune_priors(best, train_sources, dev_sources)
        if "output" in config:
            best.save(config["output"])
            Path(config["output"], "metrics.json").write_text(
                json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    return run_dir


def main(args: argparse.Namespace) -> int:
    stages = ["teachers", "student"] if args.stage == "all" else [args.stage]
    run(Path(args.config), stages, args.threads, args.device)
    return 0
