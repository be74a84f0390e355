from pathlib import Path

import pytest

from zhnlp.corpora import corpora_root

SAMPLES = Path(__file__).resolve().parent.parent / "corpora" / "samples"

needs_corpora = pytest.mark.skipif(
    not corpora_root().is_dir(),
    reason=f"real corpora not found at {corpora_root()} (set ZHNLP_CORPORA)",
)


def build_tiny_model(seed: int = 0, labels: dict | None = None, lexicon=None, layers: int = 1,
                     positions: int = 64):
    """A randomly initialised model with all five heads: structurally complete, tiny."""
    import torch
    from transformers import BertConfig, BertModel

    from zhnlp.model import MultiTaskModel
    from zhnlp.tasks.ner import bioes_labels
    from zhnlp.tokenizer import CharTokenizer, build_vocab, count_chars

    torch.manual_seed(seed)
    text = (SAMPLES / "segmented.txt").read_text(encoding="utf-8")
    text += "他叫汤姆去拿外衣。北京大学李白iPhone12"
    tokenizer = CharTokenizer(build_vocab(count_chars([text]), min_count=1))
    encoder = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32,
                                   num_hidden_layers=layers,
                                   num_attention_heads=2, intermediate_size=64,
                                   max_position_embeddings=positions),
                       add_pooling_layer=False)
    labels = labels or {
        "cws": None,
        "pos": {"upos": ["NOUN", "VERB", "PUNCT"], "xpos": ["NN", "VV", "PU"],
                "pku": ["n", "v", "w"]},
        "ner": bioes_labels(["PER", "LOC", "ORG"]),
        "dep": ["root", "nsubj", "dobj", "punct"],
        "srl": ["_", "A0", "A1", "AM-TMP"],
    }
    return MultiTaskModel.build(encoder, tokenizer, labels, standards=["ctb", "pku"],
                                lexicon=lexicon).eval()


def run_concurrently(functions, timeout: float = 120) -> None:
    """Call each function in a thread of its own, all at once; wait for them all."""
    import threading

    threads = [threading.Thread(target=function) for function in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_model")
    build_tiny_model().save(directory)
    return directory
