"""HanLP's RESTful protocol (`server/hanlp.py`): HanLP's own unmodified client
(`hanlp_restful.HanLPClient`) against a live `zhnlp serve` on the random tiny model, every
answer checked against the zhnlp Document of the same text; bad requests through HTTP."""

from __future__ import annotations

import http.client
import json
import re
import signal
from pathlib import Path
from urllib.error import HTTPError

import pytest

hanlp_restful = pytest.importorskip("hanlp_restful", reason="HanLP's client: pip install "
                                    "hanlp-restful (in the test extra)")

import zhnlp  # noqa: E402
from server import create_app  # noqa: E402
from server.hanlp import CTB, NER_MSRA, NER_PKU, hanlp_role  # noqa: E402
from tests.conftest import build_tiny_model, start_in_subprocess  # noqa: E402
from zhnlp.interop import entity_words  # noqa: E402
from zhnlp.pipeline import Pipeline  # noqa: E402

TEXT = "北京大学的李白教授昨天在上海发表了演讲。他叫汤姆去拿外衣。"


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    process, url = start_in_subprocess(["--model", str(tiny_model_dir), "--threads", "1",
                                        "--max-texts", "3"])
    yield url
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture(scope="module")
def HanLP(served):  # noqa: N802 - HanLP's docs name the client so
    return hanlp_restful.HanLPClient(served + "/hanlp", auth=None, language="zh")


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


def test_parse_answers_every_task_in_hanlps_format(HanLP, nlp):  # noqa: N803
    doc, document = HanLP.parse(TEXT), nlp(TEXT)
    assert list(doc) == ["tok/fine", "pos/ctb", "pos/pku", "ner/msra", "ner/pku", "srl", "dep"]
    sentences = document.sentences
    assert doc.count_sentences() == len(sentences) == 2
    assert doc["tok/fine"] == [s.words for s in sentences]
    assert doc["pos/pku"] == [[t.pku for t in s.tokens] for s in sentences]
    assert doc["pos/ctb"] == [[CTB.get(t.xpos, t.xpos) for t in s.tokens] for s in sentences]
    assert doc["dep"] == [[[t.head, t.deprel] for t in s.tokens] for s in sentences]
    for key, labels in (("ner/msra", NER_MSRA), ("ner/pku", NER_PKU)):
        assert doc[key] == [
            [["".join(s.words[slice(*entity_words(s, e))]), labels[e.label],
              *entity_words(s, e)] for e in s.entities] for s in sentences]
    for frames, sentence in zip(doc["srl"], sentences):
        assert len(frames) == len(sentence.predicates)
        for frame, predicate in zip(frames, sentence.predicates):
            assert [item for item in frame if item[1] == "PRED"] == [
                [predicate.text, "PRED", predicate.id - 1, predicate.id]]
            assert sorted((item[1], item[2]) for item in frame if item[1] != "PRED") == sorted(
                (hanlp_role(a.role), a.id - 1) for a in predicate.arguments)
            assert [item[2] for item in frame] == sorted(item[2] for item in frame)


def test_role_names_are_hanlps():
    assert [hanlp_role(r) for r in ("A0", "A4", "AM-TMP", "C-A1", "R-A0")] == [
        "ARG0", "ARG4", "ARGM-TMP", "C-ARG1", "R-ARG0"]


def test_tasks_by_name_or_prefix(HanLP, nlp):  # noqa: N803
    assert list(HanLP.parse(TEXT, tasks=["pos"])) == ["tok/fine", "pos/ctb", "pos/pku"]
    assert list(HanLP.parse(TEXT, tasks="ner/msra")) == ["tok/fine", "ner/msra"]
    doc = HanLP.parse(TEXT, tasks=["dep", "srl"], skip_tasks="srl")
    assert list(doc) == ["tok/fine", "dep"]
    assert doc["dep"] == [[[t.head, t.deprel] for t in s.tokens] for s in nlp(TEXT).sentences]


def test_tokens_and_sentence_lists(HanLP, nlp):  # noqa: N803
    tokens = [["他", "叫", "汤姆"], ["去", "拿", "外衣", "。"]]
    doc = HanLP.parse(tokens=tokens, tasks=["pos", "dep"])
    assert doc["tok/fine"] == tokens
    expected = nlp(tokens, pretokenized=True)
    assert doc["pos/pku"] == [[t.pku for t in d.tokens] for d in expected]
    assert doc["dep"] == [[[t.head, t.deprel] for t in d.tokens] for d in expected]
    assert HanLP.parse(tokens=tokens, tasks="tok") == {"tok/fine": tokens}
    # a list of str: one sentence each, never split (the first holds two)
    doc = HanLP.parse([TEXT, "李白"], tasks="tok")
    assert doc["tok/fine"] == [nlp(TEXT, split=False).words, nlp("李白").words]


def test_tokenize(HanLP, nlp):  # noqa: N803
    assert HanLP.tokenize(TEXT) == [s.words for s in nlp(TEXT).sentences]
    assert HanLP.tokenize(["他叫汤姆去拿外衣。", "北京大学"]) == [
        nlp("他叫汤姆去拿外衣。").words, nlp("北京大学").words]


def test_about(HanLP):  # noqa: N803
    about = HanLP.about()
    assert about["service"] == "zhnlp" and about["languages"] == ["zh"]
    assert about["tasks"] == ["tok/fine", "pos/ctb", "pos/pku", "ner/msra", "ner/pku", "srl",
                              "dep"]


@pytest.mark.parametrize("call, message", [
    (lambda H: H.parse(TEXT, tasks="con"), "HanLP has it, zhnlp does not"),
    (lambda H: H.parse(TEXT, tasks=["pos", "tok/coarse"]), "tok/coarse"),
    (lambda H: H.parse(TEXT, tasks="sdp"), "not a task this model has"),
    (lambda H: H.parse(TEXT, tasks="parse"), "not a task this model has"),
    (lambda H: H.tokenize(TEXT, coarse=True), "tok/coarse"),
    (lambda H: H.parse(TEXT, skip_tasks="tok/fine"), "coarse"),
    (lambda H: H.parse(TEXT, language="en"), "Chinese"),
    (lambda H: H.parse(["a", "b", "c", "d"]), "limit is 3"),
    (lambda H: H.parse(tokens=[["他", " "]]), "empty or blank"),
])
def test_unsupported_requests_get_hanlps_error_style(HanLP, call, message):  # noqa: N803
    with pytest.raises(HTTPError) as caught:
        call(HanLP)
    assert 400 <= caught.value.code < 500
    try:  # with requests, the client puts the answer's body in msg; with urllib, read it
        body = json.loads(caught.value.msg)
    except ValueError:
        body = json.loads(caught.value.read())
    assert message in body["detail"] and body["error"]["message"] == body["detail"]
    assert HanLP.tokenize("李白")  # and the server goes on


def test_bad_bodies_get_4xx_json(served):
    port = int(served.rsplit(":", 1)[1])
    for body, status in [(b"{", 400), (b"[1]", 400), (b'{"text": 1}', 400),
                         (b'{"text": "a", "tokens": [["a"]]}', 400), (b"{}", 400),
                         (b'{"tokens": "a"}', 400), (b'{"text": "a", "tasks": [1]}', 400),
                         (b"\xff", 400)]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("POST", "/hanlp/parse", body=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == status and answer["detail"], (body, answer)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/hanlp/parse")
    response = connection.getresponse()
    assert response.status == 405 and json.loads(response.read())["error"]


def test_pretty_print_and_to_conll(HanLP, nlp, capsys):  # noqa: N803
    doc = HanLP.parse(TEXT)
    doc.pretty_print()
    printed = capsys.readouterr().out
    document = nlp(TEXT)
    assert all(word in printed for word in document.words)
    assert "Dep Tree" in printed or "Tok" in printed
    conll = doc.to_conll()
    assert len(conll) == 2
    for sentence, block in zip(document.sentences, conll):
        assert [(w.form, w.head, w.deprel) for w in block] == [
            (t.text, t.head, t.deprel) for t in sentence.tokens]
    assert str(conll[0]).count("\n") == len(document.sentences[0].tokens) - 1


def test_one_analyser_for_both_protocols_and_sdp(nlp):
    """/hanlp runs on the app's own analyser (no second model), here with an SDP head."""
    labels = {"cws": None, "sdp": ["Agt", "Pat", "Root"]}
    app = create_app(pipeline=Pipeline(build_tiny_model(seed=5, labels=labels)))
    client, analyser = app.test_client(), app.config["ZHNLP_ANALYSER"]
    before = analyser.calls
    answer = client.post("/hanlp/parse", json={"text": "他叫汤姆去拿外衣。"}).get_json()
    assert analyser.calls == before + 1 and list(answer) == ["tok/fine", "sdp"]
    document = analyser.pipeline("他叫汤姆去拿外衣。", ["cws", "sdp"])  # asked for by name
    assert answer["sdp"] == [[[list(pair) for pair in t.semantic_heads] for t in s.tokens]
                             for s in document.sentences]
    assert hanlp_restful.Document(answer).to_conll()  # hanlp_common reads the graph


def test_the_readme_snippet_runs_against_zhnlp_serve(served, capsys):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "HanLPClient(" in block)
    assert "http://127.0.0.1:8000/hanlp" in block
    exec(compile(block.replace("http://127.0.0.1:8000", served), "README.md", "exec"),
         {"__name__": "__readme__"})
    printed = capsys.readouterr().out
    assert "北京" in printed and "tok/fine" in printed and "ner/msra" in printed
