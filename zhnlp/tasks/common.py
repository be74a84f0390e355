"""What every task head shares: the batch it reads, word pooling, the MLP and biaffine
layers, and the soft-target (distillation) loss."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Batch:
    """Encoder inputs plus, per task, the gold targets (training) or nothing (prediction).

    Token layout of one sentence: [CLS] [standard] c_1 ... c_n [SEP] [PAD]...; character
    c_i sits at token position i + CHAR_OFFSET - 1.
    """

    input_ids: torch.Tensor  # [B, T]
    attention_mask: torch.Tensor  # [B, T]
    char_lengths: torch.Tensor  # [B] number of character tokens n
    word_spans: torch.Tensor | None = None  # [B, W, 2] token (start, end) per word, end excl.
    word_lengths: torch.Tensor | None = None  # [B]
    lexicon_features: torch.Tensor | None = None  # [B, T, F] (models with a lexicon)
    targets: dict[str, torch.Tensor] = field(default_factory=dict)
    # Per sentence, the lookup form of each character token (one character per token): what
    # the decoding priors (POS, NER) match. Set by MultiTaskModel.predict.
    forms: list[str] | None = None

    def to(self, device: torch.device) -> Batch:
        """This batch with every tensor on `device` (itself when they already are)."""
        if self.input_ids.device == torch.device(device):
            return self
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(move(self.input_ids), move(self.attention_mask), move(self.char_lengths),
                     move(self.word_spans), move(self.word_lengths),
                     move(self.lexicon_features),
                     {name: move(t) for name, t in self.targets.items()}, self.forms)

    @property
    def char_mask(self) -> torch.Tensor:
        """[B, n_max] True for real character positions."""
        n_max = int(self.char_lengths.max()) if len(self.char_lengths) else 0
        positions = torch.arange(n_max, device=self.char_lengths.device)
        return positions[None, :] < self.char_lengths[:, None]

    @property
    def word_mask(self) -> torch.Tensor:
        assert self.word_lengths is not None, "this task needs words"
        w_max = self.word_spans.shape[1]
        positions = torch.arange(w_max, device=self.word_lengths.device)
        return positions[None, :] < self.word_lengths[:, None]


CHAR_OFFSET = 2  # [CLS] and the standard marker come before the first character


def char_states(hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
    """[B, n_max, H] encoder states of the characters."""
    n_max = int(batch.char_lengths.max())
    return hidden[:, CHAR_OFFSET : CHAR_OFFSET + n_max]


def word_states(hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
    """[B, W, H] mean of each word's character states (prefix sums: no Python loop)."""
    assert batch.word_spans is not None, "this task needs words"
    prefix = F.pad(hidden.cumsum(dim=1), (0, 0, 1, 0))  # prefix[:, t] = sum of states < t
    starts, ends = batch.word_spans[..., 0], batch.word_spans[..., 1]
    index = lambda positions: positions[..., None].expand(-1, -1, hidden.shape[-1])  # noqa: E731
    total = prefix.gather(1, index(ends)) - prefix.gather(1, index(starts))
    return total / (ends - starts).clamp(min=1)[..., None].to(hidden.dtype)


class MLP(nn.Sequential):
    def __init__(self, n_in: int, n_out: int, dropout: float = 0.1) -> None:
        super().__init__(nn.Linear(n_in, n_out), nn.GELU(), nn.Dropout(dropout))


class Biaffine(nn.Module):
    """s[b, o, i, j] = [x_i; 1]^T W_o [y_j; 1] (Dozat & Manning)."""

    def __init__(self, n_in: int, n_out: int = 1) -> None:
        super().__init__()
        self.n_out = n_out
        self.weight = nn.Parameter(torch.zeros(n_out, n_in + 1, n_in + 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 1), value=1.0)
        y = F.pad(y, (0, 1), value=1.0)
        scores = torch.einsum("bxi,oij,byj->boxy", x, self.weight, y)
        return scores.squeeze(1) if self.n_out == 1 else scores

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """s[b, n, o] = [x_n; 1]^T W_o [y_n; 1] for aligned x, y [B, N, n_in]: the scores of
        given pairs only (forward scores all N × N)."""
        x = F.pad(x, (0, 1), value=1.0)
        y = F.pad(y, (0, 1), value=1.0)
        return torch.einsum("bni,oij,bnj->bno", x, self.weight, y)  # autocasts, unlike F.bilinear


def soft_target_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher ‖ student) over the last axis, averaged over masked positions (scaled by
    T² as in Hinton et al., so gradients keep their size across temperatures)."""
    student = F.log_softmax(logits[mask] / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits[mask] / temperature, dim=-1)
    kl = F.kl_div(student, teacher, log_target=True, reduction="batchmean")
    return kl * temperature**2
