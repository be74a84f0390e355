"""Pretraining objectives, each an nn.Module that takes a batch (see data.collate) and
returns its loss and counts. Vocabulary logits are computed only at the selected
positions, never over the whole sequence.

- MacBertPretrainer: MLM as correction (inputs corrupted with similar/random words, no
  [MASK]) + sentence-order prediction; exports a BertForMaskedLM.
- ElectraPretrainer: a small generator fills [MASK]ed selected positions, the
  discriminator detects replaced tokens; exports the discriminator (BertModel) and is
  there to be compared with MacBERT.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, BertForMaskedLM, BertModel


def _sop_head(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2))


def _sop(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> dict:
    valid = labels != -100
    if not valid.any():
        zero = hidden.sum() * 0.0
        return {"sop_loss": zero, "sop_correct": 0, "sop_total": 0}
    logits = head(hidden[valid, 0]).float()
    return {
        "sop_loss": F.cross_entropy(logits, labels[valid]),
        "sop_correct": int((logits.argmax(-1) == labels[valid]).sum()),
        "sop_total": int(valid.sum()),
    }


def _mlm_counts(logits: torch.Tensor, labels: torch.Tensor, changed: torch.Tensor) -> dict:
    """Top-1 accuracy at all selected positions and at the corrupted (changed) ones."""
    hits = logits.argmax(-1) == labels
    return {
        "mlm_correct": int(hits.sum()),
        "mlm_total": int(labels.numel()),
        "corrupted_correct": int(hits[changed].sum()),
        "corrupted_total": int(changed.sum()),
    }


class MacBertPretrainer(nn.Module):
    def __init__(self, config: BertConfig, sop_weight: float = 1.0) -> None:
        super().__init__()
        self.mlm = BertForMaskedLM(config)
        self.sop_head = _sop_head(config.hidden_size)
        self.sop_weight = sop_weight

    def forward(self, batch: dict) -> dict:
        hidden = self.mlm.bert(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
        selected = batch["selected"]
        labels = batch["original_ids"][selected]
        logits = self.mlm.cls(hidden[selected]).float()
        changed = batch["input_ids"][selected] != labels
        out = {"mlm_loss": F.cross_entropy(logits, labels)}
        out.update(_mlm_counts(logits, labels, changed))
        out.update(_sop(self.sop_head, hidden, batch["sop_labels"]))
        out["loss"] = out["mlm_loss"] + self.sop_weight * out["sop_loss"]
        return out

    def export(self, directory: Path) -> None:
        """Save a BertForMaskedLM (config.json + model.safetensors)."""
        self.mlm.save_pretrained(directory)


class ElectraPretrainer(nn.Module):
    def __init__(
        self, config: BertConfig, mask_id: int, generator_fraction: float = 0.25,
        disc_weight: float = 50.0, sop_weight: float = 1.0,
    ) -> None:
        super().__init__()
        small = copy.deepcopy(config)
        small.hidden_size = max(64, int(config.hidden_size * generator_fraction))
        small.num_attention_heads = max(1, int(config.num_attention_heads * generator_fraction))
        small.intermediate_size = max(128, int(config.intermediate_size * generator_fraction))
        self.generator = BertForMaskedLM(small)
        self.discriminator = BertModel(config, add_pooling_layer=False)
        self.detector = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size), nn.GELU(),
            nn.Linear(config.hidden_size, 1),
        )
        self.sop_head = _sop_head(config.hidden_size)
        self.mask_id, self.disc_weight, self.sop_weight = mask_id, disc_weight, sop_weight

    def forward(self, batch: dict) -> dict:
        original, selected = batch["original_ids"], batch["selected"]
        common = {"attention_mask": batch["attention_mask"],
                  "token_type_ids": batch["token_type_ids"]}
        masked = original.masked_fill(selected, self.mask_id)
        gen_hidden = self.generator.bert(input_ids=masked, **common).last_hidden_state
        labels = original[selected]
        gen_logits = self.generator.cls(gen_hidden[selected]).float()
        out = {"mlm_loss": F.cross_entropy(gen_logits, labels)}
        out.update(_mlm_counts(gen_logits, labels, torch.ones_like(labels, dtype=torch.bool)))
        with torch.no_grad():
            sampled = torch.distributions.Categorical(logits=gen_logits).sample()
        corrupted = original.clone()
        corrupted[selected] = sampled
        hidden = self.discriminator(input_ids=corrupted, **common).last_hidden_state
        replaced = (corrupted != original).float()
        active = batch["attention_mask"].bool()
        scores = self.detector(hidden).squeeze(-1).float()
        out["disc_loss"] = F.binary_cross_entropy_with_logits(scores[active], replaced[active])
        out.update(_sop(self.sop_head, hidden, batch["sop_labels"]))
        out["loss"] = (out["mlm_loss"] + self.disc_weight * out["disc_loss"]
                       + self.sop_weight * out["sop_loss"])
        return out

    def export(self, directory: Path) -> None:
        """Save the discriminator as a BertModel (AutoModel loads it; no MLM head)."""
        self.discriminator.save_pretrained(directory)


def build_pretrainer(
    objective: str, config: BertConfig, mask_id: int, generator_fraction: float = 0.25,
    disc_weight: float = 50.0, sop_weight: float = 1.0,
) -> nn.Module:
    if objective == "macbert":
        return MacBertPretrainer(config, sop_weight)
    if objective == "electra":
        return ElectraPretrainer(config, mask_id, generator_fraction, disc_weight, sop_weight)
    raise ValueError(f"unknown objective {objective!r}: use 'macbert' or 'electra'")
