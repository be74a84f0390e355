"""What both training loops (`zhnlp train`, `zhnlp pretrain`) share: resumable checkpoints
without pickle (model.safetensors, optimizer state as safetensors, the loop's state as JSON;
written to a temporary folder first, so a run killed while saving keeps its previous
checkpoint) and the `TrainingClock` (training time over resumed invocations, the time
budget, when to checkpoint, and progress through a schedule)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, load_model, save_file, save_model


def save_checkpoint(directory: Path, model, optimizer, state: dict) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))  # handles the tied embeddings
    tensors, meta = {}, {"param_groups": optimizer.state_dict()["param_groups"]}
    for index, values in optimizer.state_dict()["state"].items():
        for key, value in values.items():
            tensors[f"{index}.{key}"] = torch.as_tensor(value).contiguous()
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    state = dict(state, optimizer=meta)
    (tmp / "trainer.json").write_text(json.dumps(state, indent=1))
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def load_checkpoint(directory: Path, model, optimizer) -> dict:
    load_model(model, str(directory / "model.safetensors"))
    state = json.loads((directory / "trainer.json").read_text())
    tensors = load_file(str(directory / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    per_param: dict[int, dict] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        per_param.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": per_param,
                               "param_groups": state["optimizer"]["param_groups"]})
    return state


class TrainingClock:
    """Training time summed over every invocation of a resumable run (`seconds_before`: what
    earlier ones trained, from their checkpoint), its budget and the checkpoint interval."""

    def __init__(self, seconds_before: float = 0.0, max_minutes: float | None = None,
                 checkpoint_minutes: float = 10.0) -> None:
        self.started = time.monotonic() - seconds_before
        self.max_minutes = max_minutes or None  # 0 and None: no budget
        self.checkpoint_minutes = checkpoint_minutes
        self.last_checkpoint = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def minutes(self) -> float:
        return self.seconds / 60

    @property
    def out_of_time(self) -> bool:
        return self.max_minutes is not None and self.minutes >= self.max_minutes

    def progress(self, step: int, total_steps: int) -> float:
        """Steps done or time used, whichever is further: a run cut by the time budget still
        ends with a fully decayed learning rate."""
        done = step / max(1, total_steps)
        return max(done, self.minutes / self.max_minutes) if self.max_minutes else done

    def checkpoint_due(self) -> bool:
        return (time.monotonic() - self.last_checkpoint) / 60 >= self.checkpoint_minutes

    def checkpointed(self) -> None:
        self.last_checkpoint = time.monotonic()
