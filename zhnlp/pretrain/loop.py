"""`zhnlp pretrain --config configs/pretrain-*.toml`: prepare the data (cached), then train.

The run directory (config `run_dir`, e.g. runs/pretrain-base/) holds
- `checkpoint/`: model.safetensors, optimizer.safetensors, trainer.json (no pickle);
  a run that finds one resumes from it,
- `log.jsonl`: one JSON object per logged step / held-out evaluation,
- `model/`: the exported encoder (BertForMaskedLM + tokenizer files), refreshed at every
  checkpoint, loadable with AutoModelForMaskedLM / AutoTokenizer.
Training stops at `max_steps` or once it has trained `max_minutes` in total (over all
resumed invocations), saving first. The learning rate warms up linearly, then decays
linearly to 0 at whichever of the two comes first (so a slow, shared CPU still ends with a
decayed model; runs without a time budget are exactly reproducible, resumed or not).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm import tqdm

from zhnlp.checkpoint import load_checkpoint, save_checkpoint
from zhnlp.encoder import bert_config
from zhnlp.errors import ZhnlpError
from zhnlp.pretrain.config import PretrainConfig, TrainConfig, load_config, project_path
from zhnlp.pretrain.data import SIMILAR_FILE, PreparedSplit, collate, make_example, prepare
from zhnlp.pretrain.masking import WordTable
from zhnlp.pretrain.objectives import build_pretrainer
from zhnlp.tokenizer import CharTokenizer

log = logging.getLogger(__name__)
HELDOUT_SEED = 7919  # masking of the held-out blocks is the same at every evaluation
COUNT_KEYS = ["mlm_correct", "mlm_total", "corrupted_correct", "corrupted_total",
              "sop_correct", "sop_total"]


class BatchStream:
    """Deterministic batches: epoch e visits the blocks in an order drawn from rng(seed, e)
    (shuffled, then sorted by length within windows of BUCKET batches so that a batch
    holds blocks of similar length and little padding, then the batches shuffled); block i
    of epoch e is masked with rng(seed, e, i). A cursor (examples consumed) is all a
    resumed run needs to continue exactly where it stopped."""

    BUCKET = 50

    def __init__(self, split: PreparedSplit, tokenizer: CharTokenizer, table: WordTable,
                 train: TrainConfig) -> None:
        self.split, self.tokenizer, self.table, self.train = split, tokenizer, table, train
        self.lengths = split.blocks[:, 2] - split.blocks[:, 0]
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            rng = np.random.default_rng([self.train.seed, epoch])
            order = rng.permutation(len(self.split))
            size, window = self.train.batch_size, self.train.batch_size * self.BUCKET
            for start in range(0, len(order), window):
                chunk = order[start : start + window]
                order[start : start + window] = chunk[np.argsort(-self.lengths[chunk],
                                                                 kind="stable")]
            full = len(order) // size * size
            batches = order[:full].reshape(-1, size)[rng.permutation(full // size)]
            self._order = (epoch, np.concatenate([batches.reshape(-1), order[full:]]))
        return self._order[1]

    def batch(self, cursor: int) -> dict:
        examples = []
        for k in range(cursor, cursor + self.train.batch_size):
            epoch, position = divmod(k, len(self.split))
            block = int(self.order(epoch)[position])
            rng = np.random.default_rng([self.train.seed, epoch, block])
            examples.append(make_example(self.split, block, self.tokenizer, self.table, rng,
                                         self.train.mask_rate))
        return collate(examples, self.tokenizer.pad_id)


def heldout_batches(split: PreparedSplit, tokenizer: CharTokenizer, table: WordTable,
                    train: TrainConfig) -> list[dict]:
    count = min(len(split), train.eval_blocks)
    examples = [make_example(split, i, tokenizer, table,
                             np.random.default_rng([HELDOUT_SEED, i]), train.mask_rate)
                for i in range(count)]
    size = train.batch_size
    return [collate(examples[i : i + size], tokenizer.pad_id) for i in range(0, count, size)]


def evaluate(model: torch.nn.Module, batches: list[dict], bf16: bool = False) -> dict:
    """Held-out loss and top-1 accuracy: over all selected characters, over the corrupted
    (changed) ones, and sentence-order accuracy."""
    model.eval()
    totals = dict.fromkeys(COUNT_KEYS, 0)
    loss = 0.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for batch in batches:
            out = model(batch)
            loss += float(out["mlm_loss"]) * out["mlm_total"]
            for key in COUNT_KEYS:
                totals[key] += out[key]
    model.train()
    return {
        "heldout_mlm_loss": loss / max(1, totals["mlm_total"]),
        "heldout_mlm_acc": totals["mlm_correct"] / max(1, totals["mlm_total"]),
        "heldout_corrupted_acc": totals["corrupted_correct"] / max(1, totals["corrupted_total"]),
        "heldout_sop_acc": totals["sop_correct"] / max(1, totals["sop_total"]),
    }


def make_optimizer(model: torch.nn.Module, train: TrainConfig):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim < 2 or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": train.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=train.learning_rate, betas=(0.9, 0.98), eps=1e-6,
    )
    return optimizer


def lr_factor(step: int, minutes: float, train: TrainConfig) -> float:
    """Linear warmup, then linear decay to 0 at max_steps or at max_minutes (sooner)."""
    warm = min(1.0, (step + 1) / max(1, train.warmup_steps))
    progress = (step - train.warmup_steps) / max(1, train.max_steps - train.warmup_steps)
    if train.max_minutes:
        progress = max(progress, minutes / train.max_minutes)
    return max(0.0, min(warm, 1.0 - progress))


# ---------------------------------------------------------------------------------------
# Checkpoints (safetensors + JSON)


def export(model, tokenizer: CharTokenizer, directory: Path) -> None:
    """The encoder in HF format: config.json, model.safetensors, vocab.txt, tokenizer files."""
    directory.mkdir(parents=True, exist_ok=True)
    model.export(directory)
    tokenizer.save_pretrained(directory)


# ---------------------------------------------------------------------------------------


def build_model(config: PretrainConfig, tokenizer: CharTokenizer) -> torch.nn.Module:
    torch.manual_seed(config.train.seed)
    return build_pretrainer(
        config.train.objective, bert_config(config.model, len(tokenizer)), tokenizer.mask_id,
        config.model.generator_fraction, config.train.electra_weight, config.train.sop_weight,
    )


def init_weights(model: torch.nn.Module, tokenizer: CharTokenizer, source: Path) -> None:
    """Start a MacBERT run from an exported encoder (its MLM head too; the SOP head, which
    is not exported, starts fresh). The vocabularies must be the same list of characters."""
    vocab = source / "vocab.txt"
    if not (source / "model.safetensors").exists() or not vocab.exists():
        raise ZhnlpError(f"init_from {source} holds no exported encoder (model.safetensors, "
                         "vocab.txt); export one with zhnlp pretrain first.")
    if vocab.read_text(encoding="utf-8").splitlines() != tokenizer.vocab:
        raise ZhnlpError(f"init_from {source} has another vocabulary than the prepared data; "
                         "use the same [data] settings as the run that made it.")
    if not hasattr(model, "mlm"):
        raise ZhnlpError("init_from works with objective = \"macbert\" only.")
    weights = load_file(source / "model.safetensors")
    missing, unexpected = model.mlm.load_state_dict(weights, strict=False)
    # tied decoder weights and position ids may be absent from the file; nothing else may
    missing = [k for k in missing if not k.endswith(("decoder.weight", "position_ids"))]
    if missing or unexpected:
        raise ZhnlpError(f"init_from {source} does not match the [model] settings "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]}).")


def train(config: PretrainConfig) -> dict:
    """Train (resuming from run_dir/checkpoint when present); returns the last log record."""
    tc = config.train
    torch.set_num_threads(tc.threads)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    data_dir = config.data_dir
    tokenizer = CharTokenizer.from_pretrained(data_dir / "tokenizer")
    table = WordTable.load(tokenizer, data_dir / SIMILAR_FILE)
    stream = BatchStream(PreparedSplit(data_dir, "train"), tokenizer, table, tc)
    heldout = heldout_batches(PreparedSplit(data_dir, "heldout"), tokenizer, table, tc)

    model = build_model(config, tokenizer)
    optimizer = make_optimizer(model, tc)
    state = {"step": 0, "cursor": 0, "train_seconds": 0.0}
    checkpoint = run_dir / "checkpoint"
    if (checkpoint / "trainer.json").exists():
        state = load_checkpoint(checkpoint, model, optimizer)
        log.info("resumed from %s at step %d", checkpoint, state["step"])
    elif tc.init_from:
        init_weights(model, tokenizer, project_path(tc.init_from))
        log.info("initialised from %s", tc.init_from)
    params = sum(p.numel() for p in model.parameters())
    log.info("model: %s, %.2fM parameters (training)", tc.objective, params / 1e6)

    began = last_save = time.time()
    seconds_before = state["train_seconds"]
    log_file = open(run_dir / "log.jsonl", "a", encoding="utf-8")
    window = {"loss": 0.0, "mlm_loss": 0.0, "sop_loss": 0.0, "tokens": 0, "batches": 0,
              **dict.fromkeys(COUNT_KEYS, 0)}
    window_start = time.time()

    def write(entry: dict) -> None:
        log_file.write(json.dumps(entry) + "\n")
        log_file.flush()

    def save() -> None:
        state["train_seconds"] = seconds_before + time.time() - began
        save_checkpoint(checkpoint, model, optimizer, state)
        export(model, tokenizer, run_dir / "model")

    model.train()
    progress = tqdm(total=tc.max_steps, initial=state["step"], desc=config.name, unit=" steps",
                    mininterval=10, file=sys.stderr)

    def trained_minutes() -> float:
        return (seconds_before + time.time() - began) / 60

    while True:
        if state["step"] >= tc.max_steps:
            stop_reason = "max_steps"
            break
        if tc.max_minutes and trained_minutes() >= tc.max_minutes:
            stop_reason = "max_minutes"
            break
        for _ in range(tc.grad_accum):
            batch = stream.batch(state["cursor"])
            state["cursor"] += tc.batch_size
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.bf16):
                out = model(batch)
            (out["loss"] / tc.grad_accum).backward()
            window["batches"] += 1
            window["tokens"] += int(batch["attention_mask"].sum())
            for key in ["loss", "mlm_loss", "sop_loss"]:
                window[key] += out[key].item()
            for key in COUNT_KEYS:
                window[key] += out[key]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        minutes = trained_minutes()
        lr = tc.learning_rate * lr_factor(state["step"], minutes, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        progress.update(1)
        step = state["step"]

        if step % tc.log_every_steps == 0:
            elapsed = time.time() - window_start
            n = window["batches"]
            record = {
                "step": step, "examples": state["cursor"],
                "loss": window["loss"] / n, "mlm_loss": window["mlm_loss"] / n,
                "sop_loss": window["sop_loss"] / n,
                "mlm_acc": window["mlm_correct"] / max(1, window["mlm_total"]),
                "corrupted_acc": window["corrupted_correct"] / max(1, window["corrupted_total"]),
                "sop_acc": window["sop_correct"] / max(1, window["sop_total"]),
                "lr": lr, "tokens_per_s": window["tokens"] / elapsed, "minutes": minutes,
            }
            write(record)
            progress.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['mlm_acc']:.3f}")
            window = dict.fromkeys(window, 0) | {"loss": 0.0, "mlm_loss": 0.0, "sop_loss": 0.0}
            window_start = time.time()
        if tc.eval_every_steps and step % tc.eval_every_steps == 0 and heldout:
            write({"step": step, **evaluate(model, heldout, tc.bf16)})
        if (time.time() - last_save) / 60 >= tc.save_every_minutes or (
            tc.save_every_steps and step % tc.save_every_steps == 0
        ):
            save()
            last_save = time.time()
    progress.close()
    final = {"step": state["step"], "stop": stop_reason}
    if heldout:
        final.update(evaluate(model, heldout, tc.bf16))
    write(final)
    save()
    log_file.close()
    log.info("stopped (%s) at step %d; encoder in %s", stop_reason, state["step"],
             run_dir / "model")
    return final


def benchmark(config: PretrainConfig, vocab_size: int, steps: int = 5, warmup: int = 2) -> dict:
    """Training speed (tokens/s, sequences/s) of config's model on random full-length batches
    (selected = 15 % of positions), with the configured thread count and precision."""
    tc = config.train
    torch.set_num_threads(tc.threads)
    torch.manual_seed(0)
    model = build_pretrainer(tc.objective, bert_config(config.model, vocab_size), 4,
                             config.model.generator_fraction)
    optimizer = make_optimizer(model, tc)
    length = config.data.seq_length
    generator = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(20, vocab_size, (tc.batch_size, length), generator=generator),
        "token_type_ids": torch.zeros(tc.batch_size, length, dtype=torch.long),
        "attention_mask": torch.ones(tc.batch_size, length, dtype=torch.long),
        "selected": torch.rand(tc.batch_size, length, generator=generator) < 0.15,
        "sop_labels": torch.randint(0, 2, (tc.batch_size,), generator=generator),
    }
    batch["original_ids"] = batch["input_ids"].clone()
    timings = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=tc.bf16):
            out = model(batch)
        out["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            timings.append(time.perf_counter() - start)
    seconds = float(np.median(timings))
    exported = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("sop"))
    return {"seconds_per_batch": seconds, "sequences_per_s": tc.batch_size / seconds,
            "tokens_per_s": tc.batch_size * length / seconds,
            "parameters_m": round(exported / 1e6, 2),
            "size_mb": round(exported * 4 / 2**20, 1)}


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    config = load_config(args.config)
    torch.set_num_threads(config.train.threads)
    stats = prepare(config.data, config.data_dir)
    log.info("data %s: %d train tokens, %d blocks; %d dev/test sentences removed",
             config.data_dir, stats["train_tokens"], stats["train_blocks"],
             stats["removed_eval_exact"] + stats["removed_eval_short"]
             + stats["removed_eval_contained"])
    final = train(config)
    print(json.dumps(final))
    return 0 if not any(isinstance(v, float) and math.isnan(v) for v in final.values()) else 1
