import pytest
import torch
from transformers import BertConfig, BertModel, ElectraConfig, ElectraModel

from zhnlp.encoder import (
    Bert,
    Int8Linear,
    bert_config,
    bert_states,
    build_encoder,
    inference_encoder,
    load_encoder,
    plain_bert,
    quantize_linears,
)
from zhnlp.errors import ZhnlpError
from zhnlp.pretrain.config import ModelConfig

TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "max_position_embeddings": 64}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


def hidden(model, length=7):
    ids = torch.randint(5, 50, (2, length))
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state


def test_build_encoder_from_dict_and_dataclass():
    model = build_encoder(TINY, vocab_size=100)
    assert isinstance(model, BertModel)
    assert hidden(model).shape == (2, 7, 32)
    ours = bert_config(ModelConfig(), vocab_size=6000)
    assert (ours.hidden_size, ours.num_hidden_layers, ours.num_attention_heads) == (256, 4, 4)
    assert not hasattr(ours, "generator_fraction")
    with pytest.raises(ZhnlpError):
        bert_config(TINY)  # no vocab_size


def test_load_encoder_builds_from_config():
    model = load_encoder(BertConfig(vocab_size=100, **TINY))
    assert hidden(model).shape == (2, 7, 32)


def test_load_local_bert_checkpoint(tmp_path):
    saved = BertModel(BertConfig(vocab_size=100, **TINY)).eval()
    saved.save_pretrained(tmp_path)
    loaded = load_encoder(tmp_path).eval()
    assert isinstance(loaded, BertModel)
    ids = torch.randint(5, 50, (1, 9))
    assert torch.allclose(saved(ids).last_hidden_state, loaded(ids).last_hidden_state)


def test_load_local_electra_checkpoint(tmp_path):
    config = ElectraConfig(vocab_size=100, embedding_size=16, **TINY)
    ElectraModel(config).save_pretrained(tmp_path / "electra")
    loaded = load_encoder(str(tmp_path / "electra"))
    assert isinstance(loaded, ElectraModel)
    assert hidden(loaded).shape == (2, 7, 32)


def test_load_encoder_rejects_a_folder_without_config(tmp_path):
    with pytest.raises(ZhnlpError, match="config.json"):
        load_encoder(tmp_path)


def tiny_bert():
    torch.manual_seed(0)
    return BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=64,
                                max_position_embeddings=40), add_pooling_layer=False).eval()


def test_bert_states_compute_what_the_transformers_forward_does():
    encoder = tiny_bert()
    input_ids = torch.randint(1, 50, (3, 12))
    attention_mask = torch.ones(3, 12, dtype=torch.long)
    attention_mask[1, 7:] = attention_mask[2, 3:] = 0  # padded rows
    input_ids[attention_mask == 0] = 0
    real = attention_mask.bool()
    with torch.inference_mode():
        expected = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        states = bert_states(encoder, attention_mask, input_ids=input_ids)
        assert torch.allclose(states[real], expected[real], atol=1e-5)
        assert not states[~real].any()  # padding stays zero
        embeds = encoder.embeddings.word_embeddings(input_ids) * 0.5  # e.g. lexicon features
        expected = encoder(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
        states = bert_states(encoder, attention_mask, inputs_embeds=embeds)
        assert torch.allclose(states[real], expected[real], atol=1e-5)
    assert plain_bert(encoder)
    assert not plain_bert(ElectraModel(ElectraConfig(vocab_size=50, hidden_size=32,
                                                     num_hidden_layers=1,
                                                     num_attention_heads=4,
                                                     intermediate_size=64)))


def test_plain_torch_bert_loads_transformers_weights_and_computes_the_same():
    reference = tiny_bert()
    ours = inference_encoder(reference.config.to_dict())
    assert isinstance(ours, Bert) and plain_bert(ours)
    ours.load_state_dict(reference.state_dict())  # strict: the same parameter names
    ours.eval()
    input_ids = torch.randint(1, 50, (2, 9))
    attention_mask = torch.ones(2, 9, dtype=torch.long)
    attention_mask[1, 5:] = 0
    with torch.inference_mode():
        expected = reference(input_ids=input_ids,
                             attention_mask=attention_mask).last_hidden_state
        got = ours(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        assert torch.equal(got, expected)  # the same operations in the same order
        real = attention_mask.bool()
        packed = bert_states(ours, attention_mask, input_ids=input_ids)
        assert torch.allclose(packed[real], expected[real], atol=1e-5)


def test_int8_linear_is_close_to_the_float_one():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    states = torch.randn(20, 64)
    expected = linear(states)
    error = (Int8Linear(linear)(states) - expected).abs().max() / expected.abs().max()
    assert error < 0.02


def test_fused_int8_linear_gives_each_linear_s_bits():
    torch.manual_seed(0)
    linears = [torch.nn.Linear(64, 48) for _ in range(3)]
    states = torch.randn(20, 64)
    fused = Int8Linear(*linears)(states)
    assert torch.equal(fused, torch.cat([Int8Linear(linear)(states) for linear in linears], 1))


@pytest.mark.parametrize("int8", [False, True])
def test_a_sentence_gets_the_same_bits_beside_sentences_of_its_length(int8):
    """Sentences of one length share an attention call (zhnlp.encoder._packed_attention)."""
    encoder = tiny_bert()
    if int8:
        quantize_linears(encoder)
    torch.manual_seed(2)
    batch = torch.randint(1, 50, (4, 9))
    with torch.inference_mode():
        alone = bert_states(encoder, torch.ones_like(batch[2:3]), input_ids=batch[2:3])
        together = bert_states(encoder, torch.ones_like(batch), input_ids=batch)
    assert torch.equal(alone[0], together[2])


@pytest.mark.parametrize("int8", [False, True])
def test_a_sentence_gets_the_same_bits_alone_and_batched(int8):
    """Batch invariance (issue 19): the states of a sentence do not depend on its
    neighbours or on padding, in full precision and in int8."""
    encoder = tiny_bert()
    if int8:
        quantize_linears(encoder)
    torch.manual_seed(1)
    short = torch.randint(1, 50, (1, 5))
    neighbours = torch.randint(1, 50, (3, 38))
    width = neighbours.shape[1]
    batch = torch.zeros(4, width, dtype=torch.long)
    batch[0, :5], batch[1:] = short, neighbours
    with torch.inference_mode():
        alone = bert_states(encoder, torch.ones_like(short), input_ids=short)
        batched = bert_states(encoder, (batch != 0).long(), input_ids=batch)
    assert torch.equal(alone[0], batched[0, :5])
