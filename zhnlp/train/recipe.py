"""`zhnlp train --config configs/<name>.toml`: the whole recipe, stage by stage.

Stages: `teachers` (one single-task model per task, gold labels only), then `student` (all
tasks, gold + the teachers' soft targets, teacher annealing). With `distill = false` the
student is plain multitask learning (the ablation). Each finished model is kept in the run
directory (`runs/<name>/...`), so a rerun skips what is done and resumes an interrupted
model from its last checkpoint; the best student is copied to `output` with metrics.json.
Under torchrun every process runs the stages together and rank 0 alone writes the files
(`train/distributed.py`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig

from zhnlp.corpora import corpora_root, file_sha256, get_dataset
from zhnlp.encoder import build_encoder, load_encoder
from zhnlp.errors import ZhnlpError
from zhnlp.lexicon import Lexicon, jieba_words
from zhnlp.model import MultiTaskModel
from zhnlp.task_registry import head_class
from zhnlp.tokenizer import CharTokenizer
from zhnlp.train import distributed
from zhnlp.train.config import TrainingConfig, check_trainable, load_training_config
from zhnlp.train.data import TaskData, collect_labels, load_sources
from zhnlp.train.priors import tune as tune_priors
from zhnlp.train.trainer import train


def new_model(config: TrainingConfig, labels: dict) -> MultiTaskModel:
    """The model a config trains: new heads on its encoder (`build_model`), or with
    `init_from = "DIR"` a trained model continued: a head whose labels changed (e.g. UD v1
    to v2 relations) keeps the rows of the labels it knew; new heads for tasks it lacks;
    heads of tasks the config does not train are dropped (kept, with `heads_only = true`,
    which also freezes the encoder, so that those tasks' outputs stay as they were);
    `lexicon` adds lexicon features to a model without them. `encoder_layers = N` keeps
    the encoder's first N layers; `piece_chars = N` sets where the Pipeline cuts long
    sentences."""
    if config.init_from is not None:
        model = MultiTaskModel.load(config.init_from)
        if not config.heads_only:
            for task in set(model.heads) - set(labels):  # a smaller model: fewer tasks
                del model.heads[task]
        hidden = model.encoder.config.hidden_size
        for task in [task for task in labels if task in model.heads]:
            known, wanted = model.heads[task].config().get("labels"), labels[task]
            if config.heads_only and isinstance(known, dict):  # tag layers it does not train
                wanted = {**known, **wanted}  # stay (POS: pku)
            if known != wanted:  # e.g. UD v1 -> v2
                model.heads[task] = model.heads[task].relabelled(hidden, wanted)
        for task in [task for task in labels if task not in model.heads]:  # a new task
            model.heads[task] = head_class(task)(hidden, labels[task],
                                                 **config.heads.get(task, {}))
        model.clear_priors()  # tuned for the old weights
        if config.heads_only:  # new heads on the encoder as it is: other tasks unchanged
            for name, parameter in model.named_parameters():
                parameter.requires_grad = name.startswith("heads.")
        if model.lexicon is None and config.lexicon:
            model.attach_lexicon(lexicon_from(config))
    else:
        model = build_model(config, labels)
    model.piece_chars = config.piece_chars or model.piece_chars
    return keep_layers(model, config.encoder_layers)


def build_model(config: TrainingConfig, labels: dict) -> MultiTaskModel:
    """Heads for labels on the configured encoder; `encoder_init = "random"` keeps its
    architecture and vocabulary but not its weights (the no-pretraining baseline)."""
    encoder_dir = Path(config.encoder)
    if config.encoder_init == "random":
        encoder = build_encoder(AutoConfig.from_pretrained(encoder_dir, local_files_only=True))
    else:
        encoder = load_encoder(encoder_dir)
    tokenizer = CharTokenizer.from_pretrained(encoder_dir)
    model = MultiTaskModel.build(encoder, tokenizer, labels, config.standards,
                                 lexicon_from(config), **config.heads)
    model.default_standard = config.default_standard or config.standards[0]
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


def lexicon_from(config: TrainingConfig) -> Lexicon | None:
    """`lexicon = "jieba"` (jieba's dictionary) or a word-list file (one word per line)."""
    source = config.lexicon
    if source is None:
        return None
    if source == "jieba":
        words = jieba_words()
    elif Path(source).is_file():
        words = Path(source).read_text(encoding="utf-8").split()
    else:
        raise ZhnlpError(f"lexicon {source!r} is neither \"jieba\" nor a word-list file.")
    return Lexicon(words, config.lexicon_max_length)


def data_manifest(sources: list[TaskData]) -> dict:
    """Checksums of every file the run read, for the run directory."""
    files = {}
    for source in sources:
        split = get_dataset(source.dataset).splits[source.split]
        files[split.path] = file_sha256(corpora_root() / split.path)
    return files


def run(config: TrainingConfig | Path, stages: list[str], threads: int | None = None,
        device: str = "cpu") -> Path:
    """Run the recipe's stages (a config file or a loaded config); `device` ("cpu", "cuda")
    is where the models train. Under torchrun (WORLD_SIZE > 1) this process is one rank of
    the run, on `cuda:LOCAL_RANK` with `cuda`."""
    if not isinstance(config, TrainingConfig):
        config = load_training_config(config)
    check_trainable(config)
    world, device = distributed.join(device)
    try:
        return _run(config, stages, threads, device, world)
    finally:
        distributed.leave()


def _run(config: TrainingConfig, stages: list[str], threads: int | None, device: str,
         world: distributed.World) -> Path:
    transformers.logging.set_verbosity_error()  # the encoder's MLM head is dropped on purpose
    torch.set_num_threads(threads or config.threads or torch.get_num_threads())
    run_dir = Path(config.run_dir or f"runs/{config.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.main:
        (run_dir / "config.json").write_text(json.dumps(config.as_dict(), indent=1) + "\n",
                                             encoding="utf-8")
    train_sources, dev_sources = load_sources(config.sources, config.source_weights)
    if world.main:
        (run_dir / "data.json").write_text(json.dumps(
            data_manifest(train_sources + dev_sources), indent=1) + "\n", encoding="utf-8")
    labels = collect_labels(train_sources)
    tasks = list(dict.fromkeys(source.task for source in train_sources))
    teachers: dict[str, MultiTaskModel] = {}
    if "teachers" in stages:
        for task in tasks:
            teacher_dir = run_dir / "teachers" / task
            if not (teacher_dir / "done.json").exists():  # a killed teacher starts over
                started = time.monotonic()
                model = new_model(config, {task: labels[task]}).to(device)
                train(model, [s for s in train_sources if s.task == task],
                      [s for s in dev_sources if s.task == task],
                      config.teacher_schedule_for(task), teacher_dir)
                if world.main:
                    (teacher_dir / "done.json").write_text(json.dumps(
                        {"minutes": round((time.monotonic() - started) / 60, 1),
                         "world_size": world.size}) + "\n")
    if "student" in stages:
        if config.teacher is not None:  # one trained model teaches every task
            teacher = MultiTaskModel.load(config.teacher).to(device)
            missing = set(tasks) - set(teacher.heads)
            if missing:
                raise ZhnlpError(f"teacher {config.teacher} has no {sorted(missing)} head.")
            teachers = dict.fromkeys(tasks, teacher)
        elif config.distill:
            for task in tasks:
                teacher_dir = run_dir / "teachers" / task / "best"
                if not (teacher_dir / "config.json").exists():
                    raise ZhnlpError(f"the {task} teacher is missing ({teacher_dir}); run the "
                                     "teachers stage first.")
                teachers[task] = MultiTaskModel.load(teacher_dir).to(device)
        student_dir = run_dir / ("student" if teachers else "multitask")
        model = new_model(config, labels).to(device)
        state = train(model, train_sources, dev_sources, config.schedule, student_dir,
                      teachers=teachers or None)
        if not world.main:  # what follows reads and writes files: rank 0's part
            return run_dir
        best = MultiTaskModel.load(student_dir / "best")  # its meta holds its dev scores
        best.meta.update({"name": config.name, "train_minutes": state.history[-1]["minutes"],
                          "world_size": world.size})
        metrics = {"dev": best.meta["dev"]}
        if config.priors:
            metrics["priors"] = tune_priors(best, train_sources, dev_sources)
        if config.output is not None:
            best.save(config.output)
            Path(config.output, "metrics.json").write_text(
                json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    return run_dir


def main(args: argparse.Namespace) -> int:
    stages = ["teachers", "student"] if args.stage == "all" else [args.stage]
    run(Path(args.config), stages, args.threads, args.device)
    return 0
