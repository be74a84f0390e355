"""Pretraining configuration: one TOML file (configs/pretrain-*.toml) per recipe."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from zhnlp.corpora import PROJECT_ROOT
from zhnlp.errors import ZhnlpError


@dataclass
class DataConfig:
    raw_dir: str = ""  # default: corpora_root()/raw_text
    raw_files: list[str] = field(default_factory=list)  # default: every *.txt / *.txt.gz
    sample: dict[str, float] = field(default_factory=lambda: {"laws_regulations": 0.25})
    labelled: list[str] | str = "all"  # train splits of these datasets ("all": every one)
    max_lines_per_source: int = 0  # 0: all; small numbers make a quick subsample
    heldout_per_mille: int = 5  # raw-text lines kept out of training for evaluation
    seq_length: int = 128
    vocab_min_count: int = 5
    vocab_max_chars: int = 11000
    # An exported encoder whose vocabulary to keep (a later stage must keep an earlier
    # stage's vocabulary, which new dev/test exclusions would otherwise shift); "" builds one
    vocab_from: str = ""
    w2v_dim: int = 100
    w2v_window: int = 5
    w2v_min_count: int = 5
    w2v_epochs: int = 5
    similar_top_k: int = 10
    similar_max_words: int = 60000
    workers: int = 1
    seed: int = 13

    def key(self) -> str:
        """Short hash naming the prepared-data cache of this configuration."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class ModelConfig:
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    max_position_embeddings: int = 512
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    # ELECTRA only: the generator's size as a fraction of the discriminator's
    generator_fraction: float = 0.25


@dataclass
class TrainConfig:
    objective: str = "macbert"  # "macbert" (MLM as correction) or "electra"
    batch_size: int = 32
    grad_accum: int = 1
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 1000
    max_steps: int = 100000
    max_minutes: float = 0.0  # 0: no time budget
    mask_rate: float = 0.15
    sop_weight: float = 1.0
    electra_weight: float = 50.0
    save_every_minutes: float = 10.0
    save_every_steps: int = 0  # 0: by time only
    eval_every_steps: int = 500
    eval_blocks: int = 256
    log_every_steps: int = 20
    threads: int = 1
    bf16: bool = False  # CPU autocast to bfloat16
    seed: int = 13
    # An exported MacBERT encoder (BertForMaskedLM directory, same vocabulary) to start from
    # instead of random weights; a run that has a checkpoint resumes from it instead.
    init_from: str = ""


@dataclass
class PretrainConfig:
    name: str
    run_dir: Path
    cache_dir: Path
    data: DataConfig
    model: ModelConfig
    train: TrainConfig

    @property
    def data_dir(self) -> Path:
        return self.cache_dir / f"data-{self.data.key()}"


def _build(cls, values: dict, where: str):
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ZhnlpError(f"unknown keys {sorted(unknown)} in [{where}]; known: {sorted(known)}.")
    return cls(**values)


def project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_config(path: str | Path) -> PretrainConfig:
    """Read a pretraining TOML file; relative paths are relative to the project root."""
    path = Path(path)
    if not path.exists():
        raise ZhnlpError(f"config {path} does not exist; pass one of configs/pretrain-*.toml.")
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    name = raw.get("name", path.stem)
    return PretrainConfig(
        name=name,
        run_dir=project_path(raw.get("run_dir", f"runs/{name}")),
        cache_dir=project_path(raw.get("cache_dir", "runs/cache")),
        data=_build(DataConfig, raw.get("data", {}), "data"),
        model=_build(ModelConfig, raw.get("model", {}), "model"),
        train=_build(TrainConfig, raw.get("train", {}), "train"),
    )
