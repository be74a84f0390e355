"""The shared character encoder: build ours, or load any local BERT/ELECTRA/RoBERTa directory.

`load_encoder(path)` loads a Hugging Face directory (config.json + weights) with AutoModel,
never touching the network; `build_encoder(config)` makes a freshly initialised BERT from
our model settings. Both return a transformers model whose `last_hidden_state` holds one
vector per token.

`Bert` is the same BERT in plain torch, with the same parameter names (a trained model's
weights load unchanged): what `MultiTaskModel.load` builds, so that inference never imports
transformers (seconds of start-up). `bert_states` is the inference computation, batch
invariant: a sentence's states are bit-identical alone and batched with any neighbours, in
full precision and in int8 (`quantize_linears`).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from itertools import groupby
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from zhnlp.errors import ZhnlpError

# Our defaults (see configs/pretrain-base.toml); any BertConfig keyword may be given.
DEFAULT_ENCODER = {
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}
_NOT_BERT_KEYS = {"generator_fraction"}


def bert_config(config: Any = None, vocab_size: int | None = None):
    """A transformers BertConfig from a dict, a dataclass (ModelConfig) or a BertConfig."""
    from transformers import BertConfig, PretrainedConfig

    if isinstance(config, PretrainedConfig):
        return config
    values = dict(DEFAULT_ENCODER)
    if is_dataclass(config):
        config = asdict(config)
    values.update({k: v for k, v in (config or {}).items() if k not in _NOT_BERT_KEYS})
    if vocab_size is not None:
        values["vocab_size"] = vocab_size
    if "vocab_size" not in values:
        raise ZhnlpError("the encoder config needs a vocab_size (the size of vocab.txt).")
    return BertConfig(**values)


def build_encoder(config: Any = None, vocab_size: int | None = None):
    """A freshly initialised encoder (AutoModel for the config: BertModel for ours)."""
    from transformers import AutoModel

    return AutoModel.from_config(bert_config(config, vocab_size))


def load_encoder(path_or_config: str | Path | Any, vocab_size: int | None = None):
    """Load a local model directory (BERT, ELECTRA, RoBERTa, ... via AutoModel; no network),
    or build a new encoder when given a config (dict, ModelConfig or transformers config)."""
    if not isinstance(path_or_config, str | Path):
        return build_encoder(path_or_config, vocab_size)
    from transformers import AutoModel

    path = Path(path_or_config)
    if not (path / "config.json").exists():
        raise ZhnlpError(
            f"{path} is not a model directory (no config.json); pass a directory written by "
            "`zhnlp pretrain` or by save_pretrained()."
        )
    return AutoModel.from_pretrained(path, local_files_only=True)



# -- the plain-torch BERT ----------------------------------------------------------------


class BertSettings(SimpleNamespace):
    """A BERT config's values as attributes (what `encoder.config` offers)."""

    def to_dict(self) -> dict:
        return dict(vars(self))


class _Embeddings(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size,
                                            padding_idx=getattr(c, "pad_token_id", 0))
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)


class _SelfAttention(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.num_attention_heads = c.num_attention_heads
        self.scaling = (c.hidden_size // c.num_attention_heads) ** -0.5
        self.dropout_p = c.attention_probs_dropout_prob
        self.query, self.key, self.value = (nn.Linear(c.hidden_size, c.hidden_size)
                                            for _ in range(3))


class _Output(nn.Module):
    def __init__(self, n_in: int, c: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)


class _Attention(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _Output(c.hidden_size, c)


class _Intermediate(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = nn.GELU()


class _Layer(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _Output(c.intermediate_size, c)


class _Stack(nn.Module):
    def __init__(self, c: BertSettings) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class Bert(nn.Module):
    """transformers' BertModel without the pooler, in plain torch: the same parameter
    names and the same computation (`last_hidden_state`), dropout in training mode."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = BertSettings(**config)
        if (self.config.hidden_act != "gelu" or self.config.is_decoder
                or getattr(self.config, "position_embedding_type", "absolute") != "absolute"):
            raise ZhnlpError("this encoder is not a plain BERT; load it with load_encoder().")
        self.embeddings = _Embeddings(self.config)
        self.encoder = _Stack(self.config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.embeddings.word_embeddings(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long,
                                        device=inputs_embeds.device)
        embeddings = self.embeddings
        length = inputs_embeds.shape[1]
        states = inputs_embeds + embeddings.token_type_embeddings.weight[0]
        states = embeddings.dropout(embeddings.LayerNorm(
            states + embeddings.position_embeddings.weight[:length]))
        keys = attention_mask[:, None, None, :].bool()
        for layer in self.encoder.layer:
            attention = layer.attention
            context = _self_attention(attention.self, states, keys, self.training)
            states = _residual(attention.output, context, states)
            states = _residual(layer.output, layer.intermediate.intermediate_act_fn(
                layer.intermediate.dense(states)), states)
        return SimpleNamespace(last_hidden_state=states)


def inference_encoder(config: dict) -> nn.Module:
    """The encoder a saved model's config describes, untrained: our `Bert` for a plain BERT
    (no transformers import), else the transformers model (`AutoModel`)."""
    config = {k: v for k, v in config.items() if k not in _NOT_BERT_KEYS}
    if (config.get("model_type") == "bert" and config.get("hidden_act", "gelu") == "gelu"
            and not config.get("is_decoder") and not config.get("add_cross_attention")
            and config.get("position_embedding_type", "absolute") == "absolute"):
        defaults = {"layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1,
                    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
                    "is_decoder": False, "pad_token_id": 0}
        return Bert({**defaults, **config})
    from transformers import AutoConfig, AutoModel

    return AutoModel.from_config(AutoConfig.for_model(**config))


def plain_bert(encoder: Any) -> bool:
    """Whether `bert_states` computes this encoder's states: our `Bert`, or a transformers
    BertModel with absolute positions and no decoder parts (checked without importing
    transformers)."""
    if isinstance(encoder, Bert):
        return True
    config = getattr(encoder, "config", None)
    return (type(encoder).__name__ == "BertModel"
            and type(encoder).__module__.startswith("transformers")
            and not config.is_decoder and not config.add_cross_attention
            and getattr(config, "position_embedding_type", "absolute") == "absolute")


# -- batch-invariant inference ---------------------------------------------------------
# A sentence's result must not depend on its batch (issue 19). Row-wise operations
# (embeddings, LayerNorm, GELU, the int8 linears) are run on the real tokens only, packed
# into one [N, H] matrix, so padding never enters them; attention runs per sentence, on its
# own tokens. Full-precision matrix products give a row the same bits whatever the number
# of rows, except that MKL switches to another kernel below MIN_ROWS rows (measured on
# this CPU), so shorter inputs are padded to MIN_ROWS rows.

MIN_ROWS = 16


def bert_states(encoder: Any, attention_mask, input_ids=None, inputs_embeds=None):
    """[B, T, hidden] last hidden states of a `plain_bert` encoder in eval mode (zeros at
    padding): the computation of `encoder(...).last_hidden_state` (the same modules, int8
    ones too) on the real tokens only, so that each sentence gets the same bits alone or
    in any batch."""
    embeddings = encoder.embeddings
    real = attention_mask.bool()
    lengths = real.sum(1).tolist()
    if inputs_embeds is None:
        packed = embeddings.word_embeddings(input_ids[real])  # [N, H]
    else:
        packed = inputs_embeds[real]
    positions = torch.cat([torch.arange(n, device=packed.device) for n in lengths])
    states = packed + embeddings.token_type_embeddings.weight[0]  # token type 0
    states = embeddings.LayerNorm(states + embeddings.position_embeddings(positions))
    for layer in encoder.encoder.layer:
        attention = layer.attention
        context = _packed_attention(attention.self, states, lengths)
        states = _residual(attention.output, context, states)
        states = _residual(layer.output, layer.intermediate.intermediate_act_fn(
            rows(layer.intermediate.dense, states)), states)
    out = states.new_zeros(*attention_mask.shape, states.shape[-1])
    out[real] = states
    return out


def rows(linear: nn.Module, states):
    """linear(states) for [N, in] rows, each row's result independent of N."""
    if isinstance(linear, Int8Linear) or len(states) >= MIN_ROWS:
        return linear(states)
    padded = torch.cat([states, states.new_zeros(MIN_ROWS - len(states), states.shape[1])])
    return linear(padded)[: len(states)]


def _residual(output: nn.Module, inner, states):
    """LayerNorm(dense(inner) + states), the end of a BERT sub-layer (dropout in training)."""
    if inner.dim() == 2:  # packed inference rows
        return output.LayerNorm(rows(output.dense, inner) + states)
    return output.LayerNorm(output.dropout(output.dense(inner)) + states)


def _packed_attention(attention: Any, states, lengths: list[int]):
    """Self-attention of packed rows, each sentence attending to its own tokens only.
    Consecutive sentences of one length (batches are sorted by length) share one call, each
    its own batch element: attention never mixes batch elements, so the bits are those of
    the sentence alone (tests/test_batch_invariance.py)."""
    heads = attention.num_attention_heads
    query, key, value = _query_key_value(attention, states, packed=True)
    contexts, start = [], 0
    for n, group in groupby(lengths):
        size = n * len(list(group))
        q, k, v = (t[start : start + size].view(-1, n, heads, t.shape[1] // heads)
                   .transpose(1, 2) for t in (query, key, value))
        context = F.scaled_dot_product_attention(q, k, v, scale=attention.scaling)
        contexts.append(context.transpose(1, 2).reshape(size, -1))
        start += size
    return torch.cat(contexts)


def _query_key_value(attention: Any, states, packed: bool = False):
    """Query, key and value of the states: the int8 model's one fused product, split, or
    three products (through `rows` for packed rows)."""
    fused = getattr(attention, "query_key_value", None)
    if fused is not None:
        return fused(states).chunk(3, dim=-1)
    linears = (attention.query, attention.key, attention.value)
    return tuple(rows(linear, states) if packed else linear(states) for linear in linears)


def _self_attention(attention: Any, states, keys, training: bool = False):
    batch, length, hidden = states.shape
    query, key, value = (
        projection.view(batch, length, attention.num_attention_heads, -1).transpose(1, 2)
        for projection in _query_key_value(attention, states))
    dropout = getattr(attention, "dropout_p", 0.0) if training else 0.0
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=keys,
                                             dropout_p=dropout, scale=attention.scaling)
    return context.transpose(1, 2).reshape(batch, length, hidden)


# -- int8 ------------------------------------------------------------------------------


class Int8Linear(nn.Module):
    """A Linear in int8: weights per output channel, activations per row (token), both
    symmetric, multiplied in int32 (torch._int_mm), so the product is exact and each row's
    result depends on that row alone (dynamic quantization scales by the whole batch).
    Several linears of one input make one Int8Linear of their outputs side by side (exactly
    theirs: the scales are per row and per output channel), quantizing the input once."""

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        weight = torch.cat([linear.weight.detach().float() for linear in linears])
        scale = weight.abs().amax(1).clamp(min=1e-12) / 127
        self.register_buffer("weight_t", (weight / scale[:, None]).round().clamp(-127, 127)
                             .to(torch.int8).t().contiguous())  # [in, out]
        self.register_buffer("weight_scale", scale)
        bias = torch.cat([linear.bias.detach().float() if linear.bias is not None
                          else torch.zeros(linear.out_features) for linear in linears])
        self.register_buffer("bias", bias)

    def forward(self, states):
        shape = states.shape
        states = states.reshape(-1, shape[-1]).float()
        scale = states.abs().amax(1, keepdim=True).clamp_(min=1e-12).div_(127)
        quantized = (states / scale).round_().to(torch.int8)  # |values| <= 127 by the scale
        out = torch._int_mm(quantized, self.weight_t).float()
        out.mul_(scale).mul_(self.weight_scale).add_(self.bias)  # in place: a third faster
        return out.reshape(*shape[:-1], -1)


def quantize_linears(encoder: nn.Module) -> None:
    """Replace the linear layers of the encoder's layers by `Int8Linear`, in place; query,
    key and value by one (`query_key_value`)."""
    for layer in encoder.encoder.layer:
        attention = layer.attention.self
        attention.query_key_value = Int8Linear(attention.query, attention.key, attention.value)
        del attention.query, attention.key, attention.value
        for parent in (layer.attention.output, layer.intermediate, layer.output):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, Int8Linear(child))
