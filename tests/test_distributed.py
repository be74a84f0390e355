"""One model trained on two processes (gloo, CPU) follows the single-process run: the same
steps on the same global batches, rank 0 alone writing files; and a checkpoint resumes on
either number of processes.

Losses are compared within TOLERANCE. Dropout is off (each rank would draw its own masks
for its rows); what is left is float arithmetic in another order (each rank pads to its own
longest sentence, gradients are summed as weighted shards, not in one reduction) and the log's
rounding of losses to 4 decimals: ~1e-7 relative per step, so 5e-4 leaves room for it to
grow through Adam over the 12 steps (measured: equal to all 4 decimals). A wrong shard
weight (a plain mean of the ranks' losses) moved them by 1.4e-2 here, where the two ranks'
sentences differ in length up to threefold, and skipping the initial broadcast by 0.24.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from tests.conftest import build_tiny_model
from tests.test_train import sample_sources
from zhnlp.model import MultiTaskModel
from zhnlp.train import distributed, trainer
from zhnlp.train.data import TaskData, collect_labels
from zhnlp.train.trainer import train

TOLERANCE = 5e-4
SCHEDULE = trainer.Schedule(epochs=2, batch_chars=60, eval_every=1, warmup=0.0,
                            learning_rate=1e-3, head_learning_rate=5e-3)


def sources() -> list[TaskData]:
    """The sample sources, repeated so that a global batch holds 2-5 sentences of unequal
    lengths (CWS, NER, POS, dep) or a single one (SRL, drawn more often here: the second
    rank trains a stand-in at weight 0)."""
    return [replace(source, sentences=source.sentences * copies, weight=weight)
            for source, copies, weight in zip(sample_sources(), [5, 4, 3, 3, 1],
                                              [1, 1, 1, 1, 4])]


def fresh_model(seed: int) -> MultiTaskModel:
    model = build_tiny_model(seed=seed, labels=collect_labels(sources()))
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # BERT's attention reads its dropout's p too
    return model


def run_rank(rank: int, size: int, port: int, jobs: list[str], record: str) -> None:
    """One rank (a child process, as torchrun would start it): the env torchrun sets, then
    each job (a run directory) trained in turn, noting every file write of this rank."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    writes: list[str] = []
    save_model, save_checkpoint = MultiTaskModel.save, trainer.save_checkpoint
    MultiTaskModel.save = lambda model, where: (writes.append(str(where)),
                                                save_model(model, where))[1]
    trainer.save_checkpoint = lambda where, *rest: (writes.append(str(where)),
                                                    save_checkpoint(where, *rest))[1]
    world, _ = distributed.join("cpu")
    assert world.size == size and world.rank == rank
    try:
        data = sources()
        for job in jobs:  # a different random start on each rank: rank 0's must win
            train(fresh_model(seed=10 + rank), data, data[:1], SCHEDULE, Path(job),
                  log=lambda _: None)
    finally:
        distributed.leave()
    Path(record, f"writes-{rank}.json").write_text(json.dumps(writes))


def spawn(size: int, jobs: list[Path], record: Path, timeout: float = 120) -> None:
    with socket.socket() as probe:  # a free port for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.spawn(run_rank, args=(size, port, [str(j) for j in jobs], str(record)),
                       nprocs=size, join=False)
    deadline = time.monotonic() + timeout
    while not context.join(timeout=1):
        if time.monotonic() > deadline:  # a hang (ranks waiting on each other): fail
            for process in context.processes:
                process.kill()
            pytest.fail(f"{size} ranks did not finish in {timeout} s")


def losses(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def assert_same_losses(one: list[dict], two: list[dict]) -> None:
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two):
        assert a["loss"].keys() == b["loss"].keys()
        for name in a["loss"]:
            assert abs(a["loss"][name] - b["loss"][name]) <= TOLERANCE, (a["step"], name)


def interrupted_run(run_dir: Path, monkeypatch) -> None:
    """A single-process run killed at its third evaluation: a checkpoint at step 2."""
    real_evaluate, calls = trainer.evaluate_sources, []

    def die_on_third(model, dev):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(model, dev)

    monkeypatch.setattr(trainer, "evaluate_sources", die_on_third)
    data = sources()
    with pytest.raises(KeyboardInterrupt):
        train(fresh_model(seed=3), data, data[:1], SCHEDULE, run_dir, log=lambda _: None)
    monkeypatch.setattr(trainer, "evaluate_sources", real_evaluate)
    assert (run_dir / "checkpoint" / "trainer.json").exists()


def test_two_processes_train_what_one_does_and_resume_alike(tmp_path, monkeypatch):
    data = sources()
    single = tmp_path / "single"
    train(fresh_model(seed=10), data, data[:1], SCHEDULE, single, log=lambda _: None)
    interrupted_run(tmp_path / "killed", monkeypatch)
    for name in ("resumed-single", "resumed-two"):
        shutil.copytree(tmp_path / "killed", tmp_path / name)
    train(fresh_model(seed=4), data, data[:1], SCHEDULE, tmp_path / "resumed-single",
          log=lambda _: None)

    spawn(2, [tmp_path / "two", tmp_path / "resumed-two"], tmp_path)

    one, two = losses(single), losses(tmp_path / "two")
    assert len(one) > 10 and {r["world_size"] for r in one} == {1}
    assert {r["world_size"] for r in two} == {2}
    assert_same_losses(one, two)
    # Resumed on two processes: the history kept from the checkpoint, then the same steps.
    assert_same_losses(losses(tmp_path / "resumed-single"), losses(tmp_path / "resumed-two"))
    assert losses(tmp_path / "resumed-two")[2]["step"] == 3  # steps 1-2 came from the first
    assert not (tmp_path / "resumed-two" / "checkpoint").exists()  # finished

    writes = [json.loads((tmp_path / f"writes-{rank}.json").read_text()) for rank in (0, 1)]
    assert writes[1] == [] and any(w.endswith("best") for w in writes[0])
    model = MultiTaskModel.load(tmp_path / "two" / "best")
    assert model.eval().predict(["他叫汤姆去拿外衣。"], ["cws", "pos"])[0].words


def test_a_single_process_world_changes_nothing():
    world = distributed.current()
    assert (world.size, world.rank, world.main) == (1, 0, True)
    assert world.shard([1, 2, 3]) == ([1, 2, 3], True)
    assert world.agree(0.25, torch.device("cpu")) == 0.25
    two = distributed.World(rank=1, size=2)
    assert two.shard([1, 2, 3]) == ([2], True) and two.shard([1]) == ([1], False)
