"""Resumable training checkpoints without pickle: model.safetensors, optimizer state as
safetensors, and the trainer's state as JSON. Written to a temporary folder first, so a run
killed while saving keeps its previous checkpoint."""

from __future__ import annotations

import json
import shutil
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
