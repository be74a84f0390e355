"""What every task head shares: the `TaskHead` interface, the batch it reads, word pooling,
the MLP and biaffine layers, and the soft-target (distillation) loss."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.corpora import Sentence
from zhnlp.errors import ZhnlpError
from zhnlp.tokenizer import DROPPED, Encoding

IGNORE = -100  # target value of positions without a label (cross_entropy's ignore_index)


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
    encodings: list[Encoding] | None = None  # per sentence: its ids and character offsets

    def to(self, device: torch.device) -> Batch:
        """This batch with every tensor on `device` (itself when they already are)."""
        if self.input_ids.device == torch.device(device):
            return self
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(move(self.input_ids), move(self.attention_mask), move(self.char_lengths),
                     move(self.word_spans), move(self.word_lengths),
                     move(self.lexicon_features),
                     {name: move(t) for name, t in self.targets.items()}, self.forms,
                     self.encodings)

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


# -- mapping between characters and tokens -------------------------------------------------
# Token i (0-based, after [CLS]) is the i-th character that has a token; whitespace has none.

CharSpan = tuple[int, int]  # (start, end) character offsets, end exclusive


def token_span_to_chars(encoding: Encoding, start: int, end: int) -> CharSpan:
    """Character span of character tokens start..end-1."""
    return encoding.offsets[start + 1][0], encoding.offsets[end][1]


def chars_to_token_spans(encoding: Encoding, spans: list[CharSpan]) -> list[CharSpan]:
    """Token (start, end) of each character span; a span without tokens is an error."""
    result = []
    for start, end in spans:
        tokens = [t for t in encoding.char_to_token[start:end] if t != DROPPED]
        if not tokens:
            raise ZhnlpError("a word holds no character the model can read (only whitespace?); "
                             "remove empty or blank words.")
        result.append((tokens[0] - 1, tokens[-1]))  # char_to_token counts [CLS]
    return result


def char_rows(encoding: Encoding, char_labels: Sequence[int]) -> list[int]:
    """Per character token, the label of its character (characters without a token, such as
    whitespace, drop out)."""
    return [char_labels[position] for position, token in enumerate(encoding.char_to_token)
            if token != DROPPED]


def _label_list(labels: Any, weight_name: str) -> list[str] | None:
    """The label list a weight's rows stand for: the head's list, or for a head with label
    layers (POS: upos, xpos, pku) the layer named in the weight's name."""
    if isinstance(labels, dict):
        parts = weight_name.split(".")
        return next((list(tags) for layer, tags in labels.items() if layer in parts), None)
    return list(labels)


def padded(rows: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    """[len(rows), width] long tensor of the rows, IGNORE after each row's end."""
    out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(list(row)[:width], dtype=torch.long)
    return out


class TaskHead(nn.Module):
    """The interface every task implements (registered in `zhnlp.tasks.REGISTRY`). The
    model, the trainer, the evaluator and the faces loop over tasks through it; none of them
    switches on a task's name.

    Labels: `collect_labels` (from the training data), `config`/`from_config` (stored with
    the model), `summary_labels` (what /v1/info shows). Training: `targets`, `forward`,
    `loss`, `distill_loss`. Prediction: `decode` (per sentence results), `annotate` (fills
    the Document), `finish` (completes a stitched sentence, `uses`). Scoring: `score`
    (`zhnlp evaluate`), `main_score` (dev selection),
    `provided_by`. Decoding priors (optional): `prior_config`, `attach_prior`,
    `clear_prior`, `has_prior`.
    """

    task: ClassVar[str]
    cuttable: ClassVar[bool] = True  # long training sentences may be cut between words
    # Tasks whose output `finish` reads when they ran too (`zhnlp evaluate` runs them along).
    uses: ClassVar[tuple[str, ...]] = ()
    # Weights stored in float16 in model.safetensors (loaded back into float32): large ones
    # whose rounding does not change what the head decodes, to keep model files small.
    stored_in_float16: ClassVar[tuple[str, ...]] = ()

    # -- labels -----------------------------------------------------------------------------

    @classmethod
    def collect_labels(cls, sentences: list[Sentence], previous: Any, source: Any) -> Any:
        """This task's labels from training sentences, merged with `previous` (another
        source's, or None); sorted, so stable."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, hidden_size: int, config: dict) -> TaskHead:
        return cls(hidden_size, **config)

    def config(self) -> dict:
        return {"labels": self.labels}

    def summary_labels(self) -> Any:
        return list(self.labels)

    def relabelled(self, hidden_size: int, labels: Any) -> TaskHead:
        """This head for another label set (e.g. UD v2 relations instead of v1): every weight
        kept, the output rows of labels in both sets copied, rows of new labels fresh."""
        new = type(self).from_config(hidden_size, {**self.config(), "labels": labels})
        old_state = self.state_dict()
        state = new.state_dict()
        for name, weight in state.items():
            old = old_state[name]
            old_labels, new_labels = _label_list(self.labels, name), _label_list(labels, name)
            axis = None
            if old_labels != new_labels:  # the axis of the label rows, where sizes differ
                axis = next((a for a in range(weight.dim()) if old.shape[a] == len(old_labels)
                             and weight.shape[a] == len(new_labels)), None)
            if axis is None:
                if old.shape == weight.shape:
                    state[name] = old.clone()
                continue
            for i, label in enumerate(new_labels):
                if label in old_labels:
                    state[name].select(axis, i).copy_(old.select(axis, old_labels.index(label)))
        new.load_state_dict(state)
        return new

    # -- training ---------------------------------------------------------------------------

    def targets(self, sentences: list[Sentence], batch: Batch, source: Any
                ) -> dict[str, torch.Tensor]:
        """The gold targets of these sentences (batch made from them)."""
        raise NotImplementedError

    def loss(self, outputs: dict, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def distill_loss(self, outputs: dict, teacher: dict, batch: Batch,
                     temperature: float) -> torch.Tensor:
        raise NotImplementedError

    # -- prediction -------------------------------------------------------------------------

    def decode(self, outputs: dict, batch: Batch) -> list:
        """One result per sentence of the batch."""
        raise NotImplementedError

    def annotate(self, sentence: Any, tokens: list, result: Any, text: str,
                 offset: int) -> None:
        """Fill a `zhnlp.document.Sentence` with one piece's result: `tokens` are the
        piece's tokens (already in the sentence), `offset` the piece's start in `text`."""
        raise NotImplementedError

    def finish(self, sentence: Any, tasks: Sequence[str]) -> None:
        """Complete a `zhnlp.document.Sentence` once all its pieces are stitched (and its
        tree converted): what needs the whole sentence or another task's output (`uses`).
        `tasks` are the tasks that were run. Default: nothing."""

    # -- scoring (class-level: `zhnlp evaluate --system` has no model) ---------------------

    @classmethod
    def score(cls, gold: list[Sentence], system: list[Sentence], context: dict
              ) -> dict[str, dict]:
        """Named score tables; context: `oov_words`, `gold_words` (same segmentation)."""
        raise NotImplementedError

    @classmethod
    def main_score(cls, gold: list[Sentence], system: list[Sentence], source: Any) -> float:
        """The dev score that selects models."""
        raise NotImplementedError

    @classmethod
    def provided_by(cls, system: list[Sentence]) -> bool:
        """Whether a system output holds this task's annotation."""
        raise NotImplementedError

    # -- decoding priors ---------------------------------------------------------------------

    @property
    def has_prior(self) -> bool:
        return False

    def prior_config(self) -> dict | None:
        return None

    def attach_prior(self, config: dict) -> None:
        raise NotImplementedError(f"the {self.task} head has no decoding prior")

    def clear_prior(self) -> None:
        pass
