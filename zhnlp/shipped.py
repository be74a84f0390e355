"""The models that ship with zhnlp, addressable by name: `zhnlp.load("small")`,
`zhnlp tag --model cws-fast`, `zhnlp serve --model base`; a directory path works too.

In a source checkout they are in models/; an installed package (wheel or `pip install .`)
carries them as the data package `zhnlp_models` (setup.py maps it onto models/). Imports
nothing heavy, so the CLI can check a name before loading torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from zhnlp.errors import ZhnlpError

DEFAULT_MODEL = "base"
NAMES = {"base": "zhnlp-base", "small": "zhnlp-small", "cws-fast": "zhnlp-cws-fast"}
_CHECKOUT_MODELS = Path(__file__).resolve().parent.parent / "models"


def shipped_root() -> Path | None:
    """The directory holding the shipped models, or None when they are not installed."""
    if (_CHECKOUT_MODELS / NAMES[DEFAULT_MODEL] / "config.json").is_file():
        return _CHECKOUT_MODELS
    spec = importlib.util.find_spec("zhnlp_models")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return None


def model_directory(model: str | Path | None = None) -> Path:
    """The directory of `model`: a shipped model's name (base, small, cws-fast; default
    base; the directory names zhnlp-base... work too) or a model directory's path. An
    existing directory wins over a name."""
    if model is None:
        model = DEFAULT_MODEL
    if not isinstance(model, str | Path):
        raise ZhnlpError(f"the model must be a name or a path (str or Path), not "
                         f"{type(model).__name__}.")
    path = Path(model)
    if path.is_dir():
        return path
    name = NAMES.get(str(model), str(model))
    if name in NAMES.values():
        root = shipped_root()
        if root is None or not (root / name / "config.json").is_file():
            raise ZhnlpError(f"the shipped model {model!r} is not installed; reinstall zhnlp "
                             "(pip install zhnlp) or pass a model directory.")
        return root / name
    raise ZhnlpError(f"model directory {path} does not exist; give a shipped model's name "
                     f"({', '.join(NAMES)}) or the directory of a model saved by zhnlp.")
