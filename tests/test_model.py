import torch

from tests.conftest import build_tiny_model
from zhnlp.model import MultiTaskModel
from zhnlp.segmentation import tags_to_word_lengths, words_to_tags


def test_bmes_round_trip():
    assert words_to_tags([1, 2, 3]) == [3, 0, 2, 0, 1, 2]
    assert tags_to_word_lengths(words_to_tags([1, 2, 3, 1])) == [1, 2, 3, 1]


def test_predict_gives_well_formed_analyses():
    model = build_tiny_model()
    text = "他叫汤姆 去拿外衣。"
    (analysis,) = model.predict([text], ["cws", "pos", "ner", "dep", "srl"])
    covered = "".join(text[s:e] for s, e in analysis.words)
    assert covered == text.replace(" ", "")
    assert all(e > s for s, e in analysis.words)
    n = len(analysis.words)
    heads, relations = analysis.results["dep"]
    assert len(heads) == len(relations) == n and sorted(heads).count(0) == 1
    tags = analysis.results["pos"]
    assert set(tags) == {"upos", "xpos", "pku"} and len(tags["upos"]) == n
    assert all(0 <= s < e <= len(text) for _, s, e in analysis.results["ner"])
    assert all(0 <= p < n for p, _ in analysis.results["srl"])


def test_user_words_are_kept_whole():
    model = build_tiny_model()
    text = "他叫汤姆去拿外衣。"
    forced = [[(2, 5), (6, 8)]]  # 汤姆去, 外衣
    (analysis,) = model.predict([text], ["cws"], forced_words=forced)
    assert (2, 5) in analysis.words and (6, 8) in analysis.words


def test_pretokenized_words_skip_segmentation():
    model = build_tiny_model()
    words = [[(0, 1), (1, 2), (2, 4)]]
    (analysis,) = model.predict(["他叫汤姆"], ["pos", "dep"], words=words)
    assert analysis.words == words[0] and len(analysis.results["dep"][0]) == 3


def test_save_load_round_trip(tiny_model_dir):
    model = build_tiny_model()
    loaded = MultiTaskModel.load(tiny_model_dir)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    text = ["北京大学的李白。", "iPhone12好"]
    tasks = ["cws", "pos", "ner", "dep", "srl"]
    assert model.predict(text, tasks) == loaded.predict(text, tasks)


def test_srl_inference_scores_only_the_predicted_predicates_like_forward():
    """RoleHead.inference (used for prediction) must give exactly forward's role scores for
    the predicates forward predicts, in word order, and nothing for other words."""
    from zhnlp.model import attach_words

    model = build_tiny_model(seed=3)
    head = model.heads["srl"]
    texts = ["他叫汤姆去拿外衣。", "北京大学的李白", "好"]
    words = [[(i, i + 1) for i in range(len(text))] for text in texts]
    encodings = [model.tokenizer.encode(text) for text in texts]
    batch = model.make_batch(encodings, None)
    attach_words(batch, encodings, words)
    torch.manual_seed(0)
    hidden = torch.randn(len(texts), batch.input_ids.shape[1], 32)
    with torch.no_grad():
        full, fast = head(hidden, batch), head.inference(hidden, batch)
    found = 0
    for b, n in enumerate(batch.word_lengths.tolist()):
        expected = [i for i in range(n) if full["predicates"][b, i].argmax() == 1]
        index = fast["predicate_index"][b].tolist()
        assert [p for p in index if p >= 0] == expected
        assert all(p == -1 for p in index[len(expected):])
        for k, p in enumerate(expected):
            assert torch.allclose(fast["roles"][b, k, :n], full["roles"][b, p, :n], atol=1e-6)
        found += len(expected)
    assert found > 0  # the random model predicts some predicates: the test compares scores


def test_biaffine_pairs_score_like_forward_at_those_pairs():
    """The parser scores labels only at one head per word (Biaffine.pairs); the scores equal
    the all-pairs forward's at those pairs."""
    from zhnlp.tasks.common import Biaffine

    torch.manual_seed(0)
    scorer = Biaffine(6, 4)
    torch.nn.init.normal_(scorer.weight)
    x, y = torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    heads = torch.tensor([[1, 0, 4, 4, 2], [3, 3, 0, 1, 1]])
    everything = scorer(x, y).permute(0, 2, 3, 1)  # [B, dep, head, label]
    expected = everything[torch.arange(2)[:, None], torch.arange(5), heads]
    chosen = y[torch.arange(2)[:, None], heads]
    assert torch.allclose(scorer.pairs(x, chosen), expected, atol=1e-5)
