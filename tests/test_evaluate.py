import json

import pytest

from tests.conftest import needs_corpora
from zhnlp.cli import main
from zhnlp.corpora import Entity, Sentence, get_dataset
from zhnlp.errors import ZhnlpError
from zhnlp.evaluate import guess_format, read_system, score, sentence_from_json


def test_read_system_segmented_text(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("他 叫 汤姆\n\n去  拿\n", encoding="utf-8")
    system = read_system(path)
    assert [s.words for s in system] == [["他", "叫", "汤姆"], [], ["去", "拿"]]


def test_guess_format():
    assert guess_format(['{"text": "x"}']) == "json"
    assert guess_format(["# text = 他", "1\t他\t_\tPRON\tPN\t_\t0\troot\t_\t_"]) == "conllu"
    assert guess_format(["他 叫"]) == "text"


def test_json_record_of_two_sentences_becomes_one_sentence():
    record = {
        "text": "他来了。我走。",
        "sentences": [
            {"start": 0, "end": 4, "tokens": [
                {"id": 1, "text": "他", "start": 0, "end": 1, "upos": "PRON", "xpos": "PN",
                 "head": 2, "deprel": "nsubj"},
                {"id": 2, "text": "来", "start": 1, "end": 2, "upos": "VERB", "xpos": "VV",
                 "head": 0, "deprel": "root"},
                {"id": 3, "text": "了。", "start": 2, "end": 4, "upos": "PART", "xpos": "AS",
                 "head": 2, "deprel": "aux"}],
             "predicates": [{"id": 2, "arguments": [{"id": 1, "role": "A0"}]}]},
            {"start": 4, "end": 7, "tokens": [
                {"id": 1, "text": "我", "start": 4, "end": 5, "head": 2, "deprel": "nsubj"},
                {"id": 2, "text": "走。", "start": 5, "end": 7, "head": 0, "deprel": "root"}],
             "predicates": [{"id": 2, "arguments": [{"id": 1, "role": "A0"}]}]},
        ],
        "entities": [{"text": "他", "label": "PER", "start": 0, "end": 1}],
    }
    sentence = sentence_from_json(record)
    assert sentence.words == ["他", "来", "了。", "我", "走。"]
    assert sentence.heads == [2, 0, 2, 5, 0]
    assert [(p.index, p.arguments) for p in sentence.predicates] == [(1, [(0, "A0")]),
                                                                       (4, [(3, "A0")])]
    assert sentence.entities == [Entity("PER", 0, 1)]
    with pytest.raises(ZhnlpError, match="error record"):
        sentence_from_json({"error": "bad line"}, 3)


def test_score_rejects_a_different_number_of_sentences():
    gold = [Sentence(text="他叫", words=["他", "叫"])]
    with pytest.raises(ZhnlpError, match="has 2 sentences but ctb6 has 1"):
        score(get_dataset("ctb6"), gold, gold * 2, ["cws"])


@needs_corpora
def test_evaluate_cli_on_gold_is_perfect_and_writes_json(tmp_path, capsys):
    gold = get_dataset("ctb6").read("dev")
    system = tmp_path / "dev.txt"
    system.write_text("".join(" ".join(s.words) + "\n" for s in gold), encoding="utf-8")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--dataset", "ctb6", "--split", "dev", "--task", "cws",
                 "--system", str(system), "--json", str(out)]) == 0
    assert "F1" in capsys.readouterr().out
    scores = json.loads(out.read_text(encoding="utf-8"))["scores"]["cws"]
    assert scores["F1"] == pytest.approx(100.0)


def test_evaluate_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "--dataset", "nope", "--system", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zhnlp: error: unknown dataset 'nope'") and "\n" not in err


def test_evaluate_model_scores_raw_text_and_gold_words(tiny_model_dir, monkeypatch):
    from tests.conftest import SAMPLES
    from zhnlp.corpora import Dataset, SplitFile
    from zhnlp.evaluate import evaluate_model

    monkeypatch.setenv("ZHNLP_CORPORA", str(SAMPLES))
    dataset = Dataset("sample", ["cws", "pos", "dep"], "conll", {},
                      {"test": SplitFile("sample", "test", "sample.conllu", 2, "")},
                      standard="ctb")
    results = evaluate_model(str(tiny_model_dir), dataset, "test", None)
    assert set(results) == {"cws", "pos (aligned)", "dep (aligned)", "pos upos (gold words)",
                            "pos xpos (gold words)", "dep (gold words)"} or set(results) == {
        "cws", "pos upos", "pos xpos", "dep", "pos upos (gold words)", "pos xpos (gold words)",
        "dep (gold words)"}
    assert 0 <= results["cws"]["F1"] <= 100
    assert results["dep (gold words)"]["total"] == 10  # words of the two sentences


def test_evaluate_cli_needs_system_or_model(capsys):
    assert main(["evaluate", "--dataset", "ctb6"]) == 2
    assert "--system FILE" in capsys.readouterr().err
