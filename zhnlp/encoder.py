"""The shared character encoder: build ours, or load any local BERT/ELECTRA/RoBERTa directory.

`load_encoder(path)` loads a Hugging Face directory (config.json + weights) with AutoModel,
never touching the network; `build_encoder(config)` makes a freshly initialised BERT from
our model settings. Both return a transformers model whose `last_hidden_state` holds one
vector per token.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

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


def plain_bert(encoder: Any) -> bool:
    """Whether `bert_states` computes this encoder's states: a transformers BertModel with
    absolute positions and no decoder parts (our encoders always are)."""
    from transformers import BertModel

    config = getattr(encoder, "config", None)
    return (isinstance(encoder, BertModel) and not config.is_decoder
            and not config.add_cross_attention
            and getattr(config, "position_embedding_type", "absolute") == "absolute")


def bert_states(encoder: Any, attention_mask, input_ids=None, inputs_embeds=None):
    """[B, T, H] last hidden states of a `plain_bert` encoder in eval mode: the same
    computation as `encoder(...).last_hidden_state` (the same modules, int8 ones too), without
    transformers' per-call wrappers (mask building, output capturing), which cost about a
    fifth of a 2-layer encoder's time on the short batches of a server."""
    embeddings = encoder.embeddings
    if inputs_embeds is None:
        inputs_embeds = embeddings.word_embeddings(input_ids)
    length = inputs_embeds.shape[1]
    states = inputs_embeds + embeddings.token_type_embeddings.weight[0]  # token type 0
    states = embeddings.LayerNorm(states + embeddings.position_embeddings.weight[:length])
    keys = attention_mask[:, None, None, :].bool()  # [B, 1, 1, T]: padding is never attended
    for layer in encoder.encoder.layer:
        states = _bert_layer(layer, states, keys)
    return states


def _bert_layer(layer: Any, states, keys):
    """One BertLayer in eval mode. Functions, so that temporaries die as soon as they do in
    the transformers forward: the peak memory of long batches stays the same."""
    output = layer.attention.output
    states = output.LayerNorm(output.dense(_self_attention(layer.attention.self, states, keys))
                              + states)
    inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(states))
    return layer.output.LayerNorm(layer.output.dense(inner) + states)


def _self_attention(attention: Any, states, keys):
    from torch.nn import functional as F

    batch, length, hidden = states.shape
    query, key, value = (
        projection(states).view(batch, length, attention.num_attention_heads, -1).transpose(1, 2)
        for projection in (attention.query, attention.key, attention.value))
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=keys,
                                             scale=attention.scaling)
    return context.transpose(1, 2).reshape(batch, length, hidden)
