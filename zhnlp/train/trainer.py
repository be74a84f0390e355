"""Training: single-task teachers, then one multitask student on gold labels plus the
teachers' soft targets with teacher annealing (Clark et al. 2019 "BAM!", N-LTP).

loss(student batch of task t) = λ · gold_loss + (1 − λ) · KL(teacher_t ‖ student) at temperature
T, with λ rising linearly from 0 to 1 over training. Sources are sampled ∝ size^α (α = 0.5
by default), times each source's `weight`.

Under torchrun (`zhnlp/train/distributed.py`) every rank takes the same steps on its share of
each global batch; rank 0 alone evaluates, logs and saves.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from zhnlp.checkpoint import TrainingClock, load_checkpoint, save_checkpoint
from zhnlp.evaluate import predict
from zhnlp.model import MultiTaskModel
from zhnlp.pipeline import Pipeline
from zhnlp.task_registry import REGISTRY, head_class
from zhnlp.train import distributed
from zhnlp.train.config import Schedule
from zhnlp.train.data import TaskData, batches, make_training_batch


@dataclass
class TrainState:
    step: int = 0
    best_score: float = -1.0
    history: list[dict] = field(default_factory=list)


def optimizer_for(model: MultiTaskModel, schedule: Schedule) -> torch.optim.AdamW:
    """Two groups: the heads, and everything else (the encoder and any input features such
    as the lexicon projection) at the encoder's learning rate."""
    heads = [p for p in model.heads.parameters() if p.requires_grad]
    in_heads = {id(p) for p in heads}
    encoder = [p for p in model.parameters() if p.requires_grad and id(p) not in in_heads]
    return torch.optim.AdamW(
        [{"params": encoder, "lr": schedule.learning_rate, "base_lr": schedule.learning_rate},
         {"params": heads, "lr": schedule.head_learning_rate,
          "base_lr": schedule.head_learning_rate}],
        weight_decay=schedule.weight_decay)


def lr_factor(progress: float, warmup: float) -> float:
    """Linear warm-up over the first `warmup` of training, then linear decay to 0."""
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    return max(0.0, (1.0 - progress) / (1.0 - warmup))


def sampling_weights(sources: list[TaskData], alpha: float) -> list[float]:
    sizes = [sum(len(s.text) for s in source.sentences) for source in sources]
    weights = [source.weight * size**alpha for source, size in zip(sources, sizes)]
    return [w / sum(weights) for w in weights]


def train(model: MultiTaskModel, sources: list[TaskData], dev: list[TaskData],
          schedule: Schedule, run_dir: Path,
          teachers: dict[str, MultiTaskModel] | None = None,
          log: Callable[[str], None] = print) -> TrainState:
    """Train model on sources (gold, plus teachers' soft targets where given); evaluate
    on dev after every epoch (or eval_every steps) and keep the best model in run_dir/best.
    On N processes `schedule.batch_chars` is the global batch (each rank trains about 1/N
    of it), so steps, epochs and the schedule are those of a single process."""
    world = distributed.current()
    if not world.main:  # rank 0 speaks for the run
        log = lambda _: None  # noqa: E731
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(schedule.seed)
    torch.manual_seed(schedule.seed)
    weights = sampling_weights(sources, schedule.sampling_alpha)
    batches_per_epoch = sum(
        math.ceil(sum(len(s.text) for s in source.sentences) / schedule.batch_chars)
        for source in sources)
    total_steps = max(1, int(schedule.epochs * batches_per_epoch))
    eval_every = schedule.eval_every or batches_per_epoch
    optimizer = optimizer_for(model, schedule)
    streams = {source.name: iter(()) for source in sources}
    state = TrainState()
    checkpoint = run_dir / "checkpoint"
    seconds_before = 0.0
    if (checkpoint / "trainer.json").exists():  # resume (the batch order starts afresh)
        saved = load_checkpoint(checkpoint, model, optimizer)
        state = TrainState(saved["step"], saved["best_score"], saved["history"])
        seconds_before = saved["seconds"]
        version, internal, gauss = saved["rng"]
        rng.setstate((version, tuple(internal), gauss))
        log(f"resumed from {checkpoint} at step {state.step}")
    world.broadcast_model(model)  # new heads start random: rank 0's on every rank
    clock = TrainingClock(seconds_before, schedule.max_minutes, schedule.checkpoint_minutes)

    def save_checkpoint_now() -> None:
        version, internal, gauss = rng.getstate()
        save_checkpoint(checkpoint, model, optimizer, {
            "step": state.step, "best_score": state.best_score, "history": state.history,
            "seconds": clock.seconds, "rng": [version, list(internal), gauss]})

    log_file = (run_dir / "log.jsonl").open("a", encoding="utf-8") if world.main else None
    progress = tqdm(total=total_steps, initial=state.step, desc=run_dir.name, unit="step",
                    mininterval=5, disable=not world.main)
    running: dict[str, float] = {}
    model.train()
    while state.step < total_steps:
        source = rng.choices(sources, weights)[0]
        sentences = next(streams[source.name], None)
        if sentences is None:  # this source is used up: a new shuffled pass over it
            streams[source.name] = batches(source, schedule.batch_chars, rng)
            sentences = next(streams[source.name])
        sentences, own = world.shard(sentences)
        batch = make_training_batch(model, source, sentences, rng).to(model.device)
        # λ is fully annealed at the end too; rank 0's clock sets it for every rank
        done = world.agree(clock.progress(state.step, total_steps), model.device)
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=schedule.bf16):
            outputs = model(batch, [source.task])[source.task]
            head = model.heads[source.task]
            loss = head.loss(outputs, batch)
            if teachers and source.task in teachers:
                annealing = min(1.0, done)  # λ: 0 → 1
                with torch.no_grad():
                    teacher_outputs = teachers[source.task](batch, [source.task])[source.task]
                soft = head.distill_loss(outputs, teacher_outputs, batch, schedule.temperature)
                loss = annealing * loss + (1 - annealing) * soft
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(done, schedule.warmup)
        optimizer.zero_grad()
        loss.backward()
        loss_value = world.sync_gradients(model, loss, batch, own)  # the global batch's
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        state.step += 1
        progress.update()
        running[source.name] = 0.98 * running.get(source.name, loss_value) + 0.02 * loss_value
        out_of_time = bool(world.agree(clock.out_of_time, model.device))
        evaluating = state.step % eval_every == 0 or state.step == total_steps or out_of_time
        if evaluating and world.main:
            scores = evaluate_sources(model, dev)
            score = sum(scores.values()) / max(1, len(scores))
            record = {"step": state.step, "minutes": round(clock.minutes, 2),
                      "loss": {k: round(v, 4) for k, v in running.items()},
                      "dev": scores, "dev_mean": score, "world_size": world.size}
            state.history.append(record)
            log_file.write(json.dumps(record, ensure_ascii=False) + "\n")
            log_file.flush()
            log(f"step {state.step}/{total_steps}: dev {json.dumps(scores)}")
            if score > state.best_score:
                state.best_score = score
                model.meta["dev"] = scores
                model.save(run_dir / "best")
            model.train()
        checkpointing = (state.step % eval_every == 0 or out_of_time
                         or bool(world.agree(clock.checkpoint_due(), model.device)))
        if checkpointing:
            if world.main:
                save_checkpoint_now()
            clock.checkpointed()
        if evaluating or checkpointing:  # the others wait for rank 0's files
            world.barrier()
        if out_of_time:
            log(f"stopping after {schedule.max_minutes} minutes (max_minutes)")
            break
    progress.close()
    if world.main:
        log_file.close()
        if state.step >= total_steps:  # finished: nothing left to resume
            shutil.rmtree(checkpoint, ignore_errors=True)
    world.barrier()
    model.eval()
    return state


# -- dev evaluation ------------------------------------------------------------------------


def evaluate_sources(model: MultiTaskModel, dev: list[TaskData],
                     batch_size: int = 64) -> dict[str, float]:
    """The main dev score of each source (its head's `main_score`: CWS F1, POS accuracy on
    gold words, NER F1, LAS on gold words, SRL F1 on gold words), predicted through the
    Pipeline as users get it."""
    pipeline = Pipeline(model, batch_size)
    scores = {}
    for source in dev:
        if source.task not in model.heads:
            continue
        standard = None if source.standard == "any" else source.standard
        system = predict(pipeline, source.sentences, [source.task], standard,
                         gold_words=REGISTRY[source.task].needs_words,
                         fields=source.pos_layers or None)
        scores[source.name] = round(
            head_class(source.task).main_score(source.sentences, system, source), 2)
    return scores
