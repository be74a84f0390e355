"""Held-out corrupted-character restoration of pretrained encoders (issue 15's measure).

In held-out pretraining blocks (never trained on), 15 % of the CJK characters are replaced
by random CJK characters of the vocabulary (the same positions and replacements for every
model: seed 7); the encoder reads the corrupted block ([CLS] block [SEP]) and its MLM head
must name the original at each replaced position. Top-1 accuracy, over all replaced
positions.

    python benchmarks/restoration.py --config configs/pretrain-v2.toml \\
        models/encoder-base runs/pretrain-v2/model [--blocks 1000] [--markdown FILE]

The held-out blocks come from the config's prepared data (`zhnlp pretrain` prepares it, or
`python -m zhnlp.pretrain.data CONFIG`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForMaskedLM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from zhnlp.pretrain.config import load_config  # noqa: E402
from zhnlp.pretrain.data import PreparedSplit  # noqa: E402
from zhnlp.tokenizer import CharTokenizer  # noqa: E402


def is_cjk(token: str) -> bool:
    return len(token) == 1 and "\u4e00" <= token <= "\u9fff"


def corrupted_blocks(split: PreparedSplit, tokenizer: CharTokenizer, count: int,
                     rate: float = 0.15, seed: int = 7) -> list[tuple[np.ndarray, np.ndarray]]:
    """(corrupted ids, replaced positions) of the first `count` held-out blocks."""
    cjk = np.array([i for i, token in enumerate(tokenizer.vocab) if is_cjk(token)])
    is_cjk_id = np.zeros(len(tokenizer), bool)
    is_cjk_id[cjk] = True
    rng = np.random.default_rng(seed)
    blocks = []
    for start, _, end, _ in split.blocks[:count]:
        ids = np.array(split.ids[start:end], dtype=np.int64)
        candidates = np.flatnonzero(is_cjk_id[ids])
        chosen = rng.choice(candidates, size=int(round(rate * len(candidates))), replace=False)
        corrupted = ids.copy()
        for position in chosen:
            replacement = ids[position]
            while replacement == ids[position]:
                replacement = rng.choice(cjk)
            corrupted[position] = replacement
        blocks.append((ids, corrupted, np.sort(chosen)))
    return blocks


@torch.inference_mode()
def restoration(model_dir: str, blocks: list, tokenizer: CharTokenizer) -> tuple[int, int]:
    model = AutoModelForMaskedLM.from_pretrained(model_dir, local_files_only=True).eval()
    right = total = 0
    for original, corrupted, positions in blocks:
        if not len(positions):
            continue
        ids = torch.tensor([[tokenizer.cls_id, *corrupted, tokenizer.sep_id]])
        logits = model(input_ids=ids).logits[0, 1:-1]
        predicted = logits[positions].argmax(-1).numpy()
        right += int((predicted == original[positions]).sum())
        total += len(positions)
    return right, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="exported encoder directories")
    parser.add_argument("--config", required=True, help="pretraining config (held-out data)")
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    tokenizer = CharTokenizer.from_pretrained(config.data_dir / "tokenizer")
    blocks = corrupted_blocks(PreparedSplit(config.data_dir, "heldout"), tokenizer, args.blocks)
    lines = ["| encoder | replaced characters | restored (top-1) |", "|---|---:|---:|"]
    for model_dir in args.models:
        right, total = restoration(model_dir, blocks, tokenizer)
        lines.append(f"| {model_dir} | {total} | {100 * right / total:.2f} % |")
        print(lines[-1], flush=True)
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
