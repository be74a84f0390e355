"""Checks of a model directory before `MultiTaskModel.load` builds anything from it.

A damaged directory (a truncated or foreign model.safetensors, a config.json that is not
JSON or names an unknown head, sizes that do not match the weights, a missing vocab.txt...)
gives one ZhnlpError naming the file and the fix, instead of a raw exception from
safetensors, json or torch, or an allocation sized by a corrupt number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from zhnlp.errors import ZhnlpError
from zhnlp.tokenizer import VOCAB_FILE

FIX = "restore the model directory from its release, or save the model again"
_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
          "max_position_embeddings")
_MAX_SIZE = 1 << 20  # no dimension of a zhnlp encoder comes near this


def damaged(path: Path, problem: str) -> ZhnlpError:
    return ZhnlpError(f"the model file {path} {problem}; {FIX}.")


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise damaged(path, "is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise damaged(path, f"is not valid JSON ({error})") from None


def check_model_dir(directory: Path, config_file: str, weights_file: str,
                    heads: Iterable[str]) -> dict:
    """The checked config of the model in `directory`; ZhnlpError for the first damaged
    file. `heads` are the task heads zhnlp knows."""
    config_path = directory / config_file
    if not config_path.exists():
        raise ZhnlpError(f"no zhnlp model in {directory} ({config_file} is missing); give "
                         "the directory of a model saved by zhnlp.")
    config = read_json(config_path)
    if not isinstance(config, dict) or config.get("model_type") != "zhnlp":
        raise ZhnlpError(f"{directory} holds no zhnlp model (a bare encoder?); train heads "
                         "on it with `zhnlp train` first.")
    for key, kind in (("encoder", dict), ("heads", dict), ("standards", list)):
        if not isinstance(config.get(key), kind) or not config[key]:
            raise damaged(config_path, f"lacks a valid {key!r} entry")
    unknown = sorted(set(config["heads"]) - set(heads))
    if unknown:
        raise damaged(config_path, f"names unknown task heads {unknown} (this zhnlp knows "
                      f"{sorted(heads)}); a newer zhnlp may read it, or")
    if not all(isinstance(options, dict) for options in config["heads"].values()):
        raise damaged(config_path, "has a head whose settings are not an object")
    encoder = config["encoder"]
    for key in _SIZES:
        value = encoder.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < _MAX_SIZE:
            raise damaged(config_path, f"gives the encoder an impossible {key} ({value!r})")
    _check_weights(directory / weights_file, encoder)
    _check_vocab(directory / VOCAB_FILE, encoder["vocab_size"])
    return config


def _check_weights(path: Path, encoder: dict) -> None:
    from safetensors import safe_open

    if not path.exists():
        raise damaged(path, "is missing")
    try:
        with safe_open(path, "pt") as weights:
            shapes = {name: list(weights.get_slice(name).get_shape()) for name in weights.keys()}
    except Exception as error:  # safetensors raises its own SafetensorError
        raise damaged(path, f"is damaged or truncated ({' '.join(str(error).split())})") from None
    hidden = encoder["hidden_size"]
    expected = {
        "encoder.embeddings.word_embeddings.weight": [encoder["vocab_size"], hidden],
        "encoder.embeddings.position_embeddings.weight": [encoder["max_position_embeddings"],
                                                          hidden],
        "encoder.encoder.layer.0.intermediate.dense.weight": [encoder["intermediate_size"],
                                                              hidden],
    }
    for name, shape in expected.items():
        if shapes.get(name) != shape:
            raise damaged(path, f"does not match config.json: {name} has shape "
                          f"{shapes.get(name)}, config.json says {shape}")
    layers = {name.split(".")[3] for name in shapes if name.startswith("encoder.encoder.layer.")}
    if len(layers) != encoder["num_hidden_layers"]:
        raise damaged(path, f"holds {len(layers)} encoder layers; config.json says "
                      f"{encoder['num_hidden_layers']}")


def _check_vocab(path: Path, size: int) -> None:
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        raise damaged(path, "is missing") from None
    except UnicodeDecodeError as error:
        raise damaged(path, f"is not UTF-8 ({error.reason} at byte {error.start})") from None
    if len(lines) != size:
        raise damaged(path, f"has {len(lines)} entries; config.json says vocab_size {size}")
