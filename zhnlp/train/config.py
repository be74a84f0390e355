"""The training configuration (`zhnlp train --config configs/<name>.toml`), typed: one
dataclass per table, every unknown key an error naming the file and the key. A config
states its effective settings in one file (no `extends`); `zhnlp train` writes the resolved
settings next to what it trains (run_dir/config.json).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from zhnlp.errors import ZhnlpError
from zhnlp.task_registry import REGISTRY


@dataclass
class Schedule:
    epochs: float = 3.0  # passes over the (sampled) training data
    batch_chars: int = 2000  # characters per batch (padding included)
    learning_rate: float = 5e-4  # encoder (small encoder: 1e-3 > 2e-4 >> 5e-5 on CTB6 dev)
    head_learning_rate: float = 1e-3
    warmup: float = 0.1  # fraction of training (steps, or time under max_minutes)
    weight_decay: float = 0.01
    max_minutes: float | None = None  # stop cleanly (and keep the best) after this long
    eval_every: int = 0  # steps between dev evaluations; 0 = once per epoch
    sampling_alpha: float = 0.5
    temperature: float = 1.0
    checkpoint_minutes: float = 10.0  # also checkpointed at every dev evaluation
    bf16: bool = False  # bfloat16 autocast: ~2x faster on CPUs with avx512_bf16 or AMX
    seed: int = 1


@dataclass
class DevSplit:
    """Where a source's dev sentences come from."""

    split: str = "dev"
    skip: int = 0
    limit: int | None = None


@dataclass
class SourceConfig:
    """One [[sources]] entry: a dataset split trained for one task."""

    dataset: str
    task: str
    standard: str  # a standard of the model, or "any": a random one per batch (NER)
    pos_layers: dict[str, str] = field(default_factory=dict)  # POS layer -> Sentence field
    split: str = "train"
    skip: int = 0  # leave the first `skip` sentences out (held out for model selection)
    limit: int | None = None
    cut_chars: int = 200  # longer CWS/NER/POS training sentences are cut between words
    dev: DevSplit | None = field(default_factory=DevSplit)  # None: scored by another source

    @property
    def name(self) -> str:
        return f"{self.dataset}:{self.task}"


@dataclass
class TrainingConfig:
    name: str
    sources: list[SourceConfig]
    standards: list[str] = field(default_factory=list)  # segmentation standard markers
    default_standard: str | None = None  # default: the first standard
    encoder: str | None = None  # a pretrained encoder directory (new heads on it)
    encoder_init: str = "pretrained"  # "random": its architecture, not its weights
    init_from: str | None = None  # continue a trained model instead
    heads_only: bool = False  # with init_from: the encoder frozen, untrained heads kept as is
    encoder_layers: int | None = None  # keep the encoder's first N layers
    piece_chars: int | None = None  # where the Pipeline cuts long sentences
    lexicon: str | None = None  # "jieba" or a word-list file: lexicon input features
    lexicon_max_length: int = 4
    heads: dict[str, dict] = field(default_factory=dict)  # task -> head options
    distill: bool = True  # the student learns from single-task teachers
    teacher: str | None = None  # or from one trained model for every task
    priors: bool = False  # tune decoding priors on dev after training (zhnlp tune-priors)
    output: str | None = None  # where the best student is copied
    run_dir: str | None = None  # default runs/<name>
    threads: int | None = None
    source_weights: dict[str, float] = field(default_factory=dict)  # "dataset:task" -> x
    schedule: Schedule = field(default_factory=Schedule)
    teacher_schedule: dict = field(default_factory=dict)  # Schedule fields for teachers
    teacher_tasks: dict[str, dict] = field(default_factory=dict)  # task -> Schedule fields

    def teacher_schedule_for(self, task: str) -> Schedule:
        return Schedule(**{**self.teacher_schedule, **self.teacher_tasks.get(task, {})})

    def as_dict(self) -> dict:
        return asdict(self)


def _typed(cls, values: dict, where: str, path: Path):
    if not isinstance(values, dict):
        raise ZhnlpError(f"{path}: {where} must be a table.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ZhnlpError(f"{path}: unknown key {unknown[0]!r} in {where}; known keys: "
                         f"{', '.join(sorted(known))}.")
    try:
        return cls(**values)
    except TypeError as error:  # a required key is missing
        raise ZhnlpError(f"{path}: {where}: {error}.") from None


def load_training_config(path: str | Path) -> TrainingConfig:
    """Read and check a training config."""
    path = Path(path)
    if not path.exists():
        raise ZhnlpError(f"config {path} does not exist.")
    with path.open("rb") as handle:
        try:
            raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ZhnlpError(f"{path} is not valid TOML: {error}.") from None
    raw.setdefault("name", path.stem)
    sources = []
    for number, entry in enumerate(raw.pop("sources", []), 1):
        where = f"[[sources]] #{number}"
        entry = dict(entry)
        dev = entry.pop("dev", {})
        source = _typed(SourceConfig, entry, where, path)
        source.dev = None if dev is False else _typed(DevSplit, dev, f"{where}.dev", path)
        if source.task not in REGISTRY:
            raise ZhnlpError(f"{path}: {where} has unknown task {source.task!r}; tasks: "
                             f"{', '.join(REGISTRY)}.")
        sources.append(source)
    if not sources:
        raise ZhnlpError(f"{path} has no [[sources]].")
    schedule = _typed(Schedule, raw.pop("schedule", {}), "[schedule]", path)
    config = _typed(TrainingConfig, {**raw, "sources": sources, "schedule": schedule},
                    "the top level", path)
    for where, table in [("[teacher_schedule]", config.teacher_schedule),
                         *((f"[teacher_tasks] {task}", t) for task, t in
                           config.teacher_tasks.items())]:
        _typed(Schedule, table, where, path)  # checked now, built per teacher
    names = {source.name for source in sources}
    unknown = sorted(set(config.source_weights) - names)
    if unknown:
        raise ZhnlpError(f"{path}: source_weights names no source: {unknown[0]!r} (names are "
                         "dataset:task).")
    return config


def check_trainable(config: TrainingConfig) -> None:
    """What training needs beyond what `load_training_config` checks (tune-priors reads
    only the sources)."""
    if config.encoder is None and config.init_from is None:
        raise ZhnlpError(f"config {config.name}: give `encoder` (a pretrained encoder) or "
                         "`init_from` (a trained model).")
    if config.heads_only and config.init_from is None:
        raise ZhnlpError(f"config {config.name}: `heads_only` trains heads on a trained "
                         "model's encoder; give `init_from`.")
    if config.init_from is None and not config.standards:
        raise ZhnlpError(f"config {config.name}: `standards` is empty; name the segmentation "
                         "standards.")
