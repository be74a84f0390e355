"""The HTTP service on the random tiny model: the API through Flask's test client (answers,
a table of bad inputs, the OpenAPI document checked against real responses), a property
test that no input gives a 500, the app under waitress with concurrent clients, and
`zhnlp serve` as a process (one worker and two spawned workers) on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zhnlp
from server import create_app
from server.openapi import ERRORS
from server.serve import listen, waitress_server
from server.validation import FIELDS, Limits
from tests.conftest import run_concurrently, start_in_subprocess
from zhnlp.cli import build_parser
from zhnlp.errors import ZhnlpError
from zhnlp.tag import Tagger

ROOT = Path(__file__).resolve().parent.parent
TEXT = "他叫汤姆去拿外衣。北京大學的李白！"
LIMITS = {"max_body_bytes": 100_000, "max_texts": 5, "max_chars": 100}


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


@pytest.fixture(scope="module")
def app(nlp):
    return create_app(pipeline=nlp, model_name="tiny-random", **LIMITS)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def openapi(app):
    return app.test_client().get("/v1/openapi.json").get_json()


def post(client, body, **options):
    return client.post("/v1/annotate", json=body, **options)


def tag_json(pipeline, line: str, *options) -> dict:
    """What `zhnlp tag --format json` writes for this line."""
    tagger = Tagger(pipeline, None, "json", *options)
    return json.loads(tagger.tag_chunk([(1, line.encode())]))


# -- answers ------------------------------------------------------------------------------


def test_text_gives_the_zhnlp_tag_json_record(client, nlp):
    response = post(client, {"text": TEXT})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert TEXT.encode() in response.data  # UTF-8, not \u escapes
    assert response.get_json() == tag_json(nlp, TEXT)


def test_texts_give_a_list_in_order(client, nlp):
    texts = ["他叫汤姆。", "", "  \u200b ", "𠀀北京😀大学"]  # astral characters: code point offsets
    docs = post(client, {"texts": texts}).get_json()
    assert docs == [nlp(text).to_dict() for text in texts]
    assert [len(doc["sentences"]) for doc in docs] == [1, 0, 0, 1]
    token = docs[3]["sentences"][0]["tokens"][0]
    assert texts[3][token["start"]:token["end"]] == token["text"]
    assert post(client, {"texts": []}).get_json() == []


def test_tasks_standard_split(client, nlp):
    doc = post(client, {"text": TEXT, "tasks": ["cws", "pos"], "standard": "pku"}).get_json()
    assert doc == nlp(TEXT, tasks=["cws", "pos"], standard="pku").to_dict()
    token = doc["sentences"][0]["tokens"][0]
    assert token["upos"] and token["head"] is None and doc["entities"] == []
    ner = post(client, {"text": TEXT, "tasks": ["ner"]}).get_json()
    assert all(s["tokens"] == [] for s in ner["sentences"])
    one = post(client, {"text": TEXT, "split": False, "standard": None}).get_json()
    assert len(one["sentences"]) == 1 and one == nlp(TEXT, split=False).to_dict()


def test_pretokenized(client, nlp):
    words = ["他", "叫", "汤姆", "去", "拿", "外衣", "。"]
    doc = post(client, {"text": words, "pretokenized": True}).get_json()
    assert [t["text"] for t in doc["sentences"][0]["tokens"]] == words
    assert doc["text"] == "".join(words) and doc == nlp(words, pretokenized=True).to_dict()
    docs = post(client, {"texts": [words, ["北京"], []], "pretokenized": True,
                         "tasks": ["pos"]}).get_json()
    assert [[t["text"] for s in d["sentences"] for t in s["tokens"]] for d in docs] == [
        words, ["北京"], []]
    only_words = post(client, {"text": ["北京", "大学"], "pretokenized": True,
                               "tasks": ["cws"]}).get_json()  # cws is skipped: words only
    assert [t["upos"] for t in only_words["sentences"][0]["tokens"]] == [None, None]


def test_conllu_format(client, nlp):
    assert post(client, {"text": TEXT, "format": "conllu"}).get_json() == {
        "conllu": nlp(TEXT).to_conllu()}
    records = post(client, {"texts": [TEXT, ""], "format": "conllu"}).get_json()
    assert records == [{"conllu": nlp(TEXT).to_conllu("1")}, {"conllu": ""}]


def test_health_info_and_demo_page(client, nlp):
    health = client.get("/v1/health").get_json()
    assert health == {"status": "ok", "model_loaded": True, "model": "tiny-random",
                      "worker": os.getpid()}
    info = client.get("/v1/info").get_json()
    assert info["version"] == zhnlp.__version__ and info["model"] == "tiny-random"
    assert info["tasks"] == ["cws", "pos", "ner", "dep", "srl"]
    assert info["standards"] == ["ctb", "pku"] and info["default_standard"] == "ctb"
    assert info["labels"] == {"pos": {"upos": ["NOUN", "VERB", "PUNCT"],
                                      "xpos": ["NN", "VV", "PU"], "pku": ["n", "v", "w"]},
                              "ner": ["PER", "LOC", "ORG"],
                              "dep": ["root", "nsubj", "dobj", "punct"],
                              "srl": ["A0", "A1", "AM-TMP"]}
    assert info["limits"] == LIMITS
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    for name in ("static/demo.js", "static/demo.css"):
        assert client.get("/" + name).status_code == 200
    # self-contained: no address outside this server (the SVG namespace is a name only)
    for path in (ROOT / "server" / "static").iterdir():
        text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text), path


# -- bad input ----------------------------------------------------------------------------

JSON = "application/json"
BAD = [  # (what, request options, status, code)
    ("not JSON", {"data": b"{text: 1}"}, 400, "invalid_json"),
    ("empty body", {"data": b""}, 400, "invalid_json"),
    ("truncated JSON", {"data": b'{"text": "ab'}, 400, "invalid_json"),
    ("NaN", {"data": b'{"text": NaN}'}, 400, "invalid_json"),
    ("huge int literal", {"data": b'{"text": ' + b"9" * 5000 + b"}"}, 400, "invalid_json"),
    ("nested too deep", {"data": b"[" * 40_000 + b"]" * 40_000}, 400, "invalid_json"),
    ("invalid UTF-8 bytes", {"data": b'{"text": "\xe4\xbd"}'}, 400, "invalid_utf8"),
    ("UTF-16 body", {"data": '{"text": "好"}'.encode("utf-16")}, 400, "invalid_utf8"),
    ("lone surrogate", {"data": b'{"text": "a\\ud800b"}'}, 400, "invalid_text"),
    ("JSON array, not an object", {"json": ["他"]}, 400, "invalid_request"),
    ("JSON string, not an object", {"json": "他叫汤姆"}, 400, "invalid_request"),
    ("missing text", {"json": {"tasks": ["cws"]}}, 400, "invalid_request"),
    ("both text and texts", {"json": {"text": "a", "texts": ["b"]}}, 400, "invalid_request"),
    ("unknown field", {"json": {"text": "a", "task": ["cws"]}}, 400, "invalid_request"),
    ("text not a string", {"json": {"text": 5}}, 400, "invalid_request"),
    ("text null", {"json": {"text": None}}, 400, "invalid_request"),
    ("text a list without pretokenized", {"json": {"text": ["他", "叫"]}}, 400,
     "invalid_request"),
    ("texts not a list", {"json": {"texts": "他叫汤姆"}}, 400, "invalid_request"),
    ("texts with a non-string", {"json": {"texts": ["他", 1]}}, 400, "invalid_request"),
    ("too many texts", {"json": {"texts": ["好"] * 6}}, 413, "too_many_texts"),
    ("too long text", {"json": {"text": "好" * 101}}, 413, "text_too_long"),
    ("too long pretokenized text", {"json": {"text": ["好" * 60, "好" * 41],
                                             "pretokenized": True}}, 413, "text_too_long"),
    ("body too large", {"json": {"text": "a" * 100_000}}, 413, "body_too_large"),
    ("unknown task", {"json": {"text": "a", "tasks": ["cws", "sentiment"]}}, 400,
     "unknown_task"),
    ("comma task string in a list", {"json": {"text": "a", "tasks": ["cws,pos"]}}, 400,
     "unknown_task"),
    ("tasks not a list", {"json": {"text": "a", "tasks": "cws,pos"}}, 400, "invalid_request"),
    ("tasks with a non-string", {"json": {"text": "a", "tasks": ["cws", 2]}}, 400,
     "invalid_request"),
    ("tasks empty", {"json": {"text": "a", "tasks": []}}, 400, "invalid_request"),
    ("unknown standard", {"json": {"text": "a", "standard": "msr"}}, 400, "unknown_standard"),
    ("standard not a string", {"json": {"text": "a", "standard": ["pku"]}}, 400,
     "invalid_request"),
    ("unknown format", {"json": {"text": "a", "format": "xml"}}, 400, "unknown_format"),
    ("format not a string", {"json": {"text": "a", "format": 1}}, 400, "invalid_request"),
    ("pretokenized not a boolean", {"json": {"text": ["a"], "pretokenized": "yes"}}, 400,
     "invalid_request"),
    ("split not a boolean", {"json": {"text": "a", "split": 0}}, 400, "invalid_request"),
    ("pretokenized text a string", {"json": {"text": "他叫", "pretokenized": True}}, 400,
     "invalid_request"),
    ("pretokenized texts of strings", {"json": {"texts": ["他", "叫"], "pretokenized": True}},
     400, "invalid_request"),
    ("pretokenized word not a string", {"json": {"text": ["他", 1], "pretokenized": True}},
     400, "invalid_request"),
    ("pretokenized blank word", {"json": {"text": ["他", " "], "pretokenized": True}}, 400,
     "invalid_text"),
    ("pretokenized word longer than the model reads",
     {"json": {"text": ["好" * 70], "pretokenized": True}}, 400, "invalid_text"),
    ("wrong content type", {"data": b'{"text": "a"}', "content_type": "text/plain"}, 415,
     "unsupported_media_type"),
    ("no content type", {"data": b'{"text": "a"}', "content_type": None}, 415,
     "unsupported_media_type"),
    ("form body", {"data": {"text": "a"}}, 415, "unsupported_media_type"),
    ("non-UTF-8 charset", {"data": b'{"text": "a"}',
                           "content_type": "application/json; charset=latin-1"}, 415,
     "unsupported_media_type"),
    ("GET on the POST route", {"method": "GET"}, 405, "method_not_allowed"),
    ("PUT on the POST route", {"method": "PUT", "json": {"text": "a"}}, 405,
     "method_not_allowed"),
    ("POST on a GET route", {"method": "POST", "path": "/v1/health", "json": {}}, 405,
     "method_not_allowed"),
    ("unknown route", {"method": "GET", "path": "/v2/annotate"}, 404, "not_found"),
    ("unknown static file", {"method": "GET", "path": "/static/nothing.js"}, 404, "not_found"),
]


def send(client, options: dict):
    options = dict(options)
    method, path = options.pop("method", "POST"), options.pop("path", "/v1/annotate")
    if "data" in options and not isinstance(options["data"], dict):
        options.setdefault("content_type", JSON)
    if options.get("content_type", "") is None:
        del options["content_type"]
    return client.open(path, method=method, **options)


def documented_statuses(openapi: dict, path: str, method: str) -> set[str]:
    operation = openapi["paths"].get(path, {}).get(method.lower(), {})
    return set(operation.get("responses", {}))


@pytest.mark.parametrize("what, options, status, code", BAD, ids=[case[0] for case in BAD])
def test_bad_input_gets_a_4xx_error_object(client, openapi, what, options, status, code):
    response = send(client, options)
    assert response.status_code == status, response.data[:300]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(response.data.decode("ascii"))  # messages are ASCII-safe JSON
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and ERRORS[code] == status
    message = body["error"]["message"]
    assert isinstance(message, str) and 10 < len(message) < 400
    if status == 405:
        assert "Allow" in response.headers
    # the OpenAPI document names this outcome: a status listed for the operation (or its
    # "default"); a route or method it does not list gets 404 or 405, as it says
    path, method = options.get("path", "/v1/annotate"), options.get("method", "POST")
    statuses = documented_statuses(openapi, path, method)
    if statuses:
        assert str(status) in statuses or "default" in statuses
    else:
        assert status == (404 if path not in openapi["paths"] else 405)
        assert "404" in openapi["info"]["description"]
    validate(openapi, "Error", body)


def test_bad_input_table_covers_every_client_error_code():
    kinds = {case[3] for case in BAD}
    assert len(BAD) >= 20
    assert kinds == {code for code, status in ERRORS.items() if 400 <= status < 500} - {
        "bad_request", "headers_too_large"}  # waitress's own: test_fault_tolerance.py


def test_an_unexpected_failure_is_a_logged_500_and_the_server_goes_on(client, nlp, caplog,
                                                                      monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(nlp, "process", broken)
    response = post(client, {"text": "好"})
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "boom" not in response.get_json()["error"]["message"]  # no internals to clients
    assert any(record.exc_info and "boom" in str(record.exc_info[1])
               for record in caplog.records)
    monkeypatch.undo()
    assert post(client, {"text": "好"}).status_code == 200


def test_create_app_checks_its_arguments(nlp, tiny_model_dir, tmp_path):
    with pytest.raises(ZhnlpError, match="one of model_path, pipeline or analyser"):
        create_app(tiny_model_dir, pipeline=nlp)
    for bad in (0, -1, "10", True, 1.5):
        with pytest.raises(ZhnlpError, match="max_texts"):
            create_app(pipeline=nlp, max_texts=bad)
    with pytest.raises(ZhnlpError, match="does not exist"):
        create_app(tmp_path / "missing")
    app = create_app(tiny_model_dir, threads=1, max_chars=7)
    info = app.test_client().get("/v1/info").get_json()
    assert info["model"] == Path(tiny_model_dir).name and info["limits"]["max_chars"] == 7


def test_serve_flags_default_to_the_app_limits():
    args = build_parser().parse_args(["serve"])
    assert (args.max_body_bytes, args.max_texts, args.max_chars) == (
        Limits.max_body_bytes, Limits.max_texts, Limits.max_chars)
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 1)


# -- no input gives a 500 -----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12)
field_values = st.one_of(json_values, st.sampled_from(
    ["cws", "pos", "srl", "ctb", "pku", "json", "conllu", ["cws"], ["pos", "ner"], True,
     ["他", "叫"], [["他"], ["叫"]], "他叫汤姆。"]))
requests = st.dictionaries(st.sampled_from([*FIELDS, "other"]), field_values, max_size=4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(body=requests | json_values)
def test_no_json_body_gives_a_500(client, body):
    response = client.post("/v1/annotate", data=json.dumps(body), content_type=JSON)
    assert response.status_code in (200, 400, 413), response.data[:300]
    if response.status_code != 200:
        assert set(response.get_json()["error"]) == {"code", "message"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=64))
def test_no_byte_body_gives_a_500(client, body):
    response = client.post("/v1/annotate", data=body, content_type=JSON)
    assert response.status_code in (200, 400, 413), response.data[:300]


# -- the OpenAPI document -----------------------------------------------------------------


def validate(openapi: dict, schema: str | dict, instance) -> None:
    """Validate against a schema of the document (skipped without jsonschema)."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        return
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    Draft202012Validator({**schema, "components": openapi["components"]}).validate(instance)


def test_openapi_document_is_valid(openapi):
    spec_validator = pytest.importorskip("openapi_spec_validator")
    spec_validator.validate(openapi)
    assert openapi["openapi"].startswith("3.")
    enum = openapi["components"]["schemas"]["Error"]["properties"]["error"]["properties"][
        "code"]["enum"]
    assert enum == list(ERRORS)


def test_openapi_matches_the_routes(app, client, openapi):
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules()
              if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method.upper()) for path, item in openapi["paths"].items()
                  for method in item}
    assert routes == documented
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            if method != "get":
                continue
            response = client.get(path)
            assert response.status_code == 200
            media, spec = next(iter(operation["responses"]["200"]["content"].items()))
            assert response.mimetype == media
            if "schema" in spec:
                validate(openapi, spec["schema"], response.get_json())


def test_openapi_examples_are_accepted_and_answers_match_the_schema(client, openapi):
    body = openapi["paths"]["/v1/annotate"]["post"]["requestBody"]["content"][JSON]
    requests = [example["value"] for example in body["examples"].values()]
    requests += [{"texts": ["他。", ""], "format": "conllu"}, {"texts": []},
                 {"texts": [["他"], []], "pretokenized": True, "tasks": ["pos", "dep"]}]
    for request in requests:
        validate(openapi, body["schema"], request)
        response = post(client, request)
        assert response.status_code == 200, response.data[:300]
        validate(openapi, "AnnotateResponse", response.get_json())
    jsonschema = pytest.importorskip("jsonschema")
    for bad in ({}, {"text": "a", "texts": []}, {"text": 1}, {"text": "a", "tasks": []},
                {"text": "a", "format": "xml"}, {"text": "a", "standard": "msr"},
                {"text": "a", "x": 1}, {"texts": [1]}, {"text": "a", "split": "no"}):
        assert post(client, bad).status_code == 400
        with pytest.raises(jsonschema.ValidationError):  # the schema refuses it too
            validate(openapi, body["schema"], bad)


def test_argument_spans_match_the_schema(openapi):
    """The tiny model finds no arguments, so a hand-built Document stands in: its JSON
    (what /v1/annotate answers) with SRL spans fits the Document schema."""
    pytest.importorskip("jsonschema")
    from tests.test_document import sample_document

    record = sample_document().to_dict()
    argument = record["sentences"][0]["predicates"][0]["arguments"][1]
    assert argument["span"] == [2, 4] and argument["span_text"] == "湯姆 去"
    validate(openapi, "Document", record)
    import jsonschema

    for bad in ([2], [2, -1], "2:4"):
        broken = json.loads(json.dumps(record))
        broken["sentences"][0]["predicates"][0]["arguments"][1]["span"] = bad
        with pytest.raises(jsonschema.ValidationError):
            validate(openapi, "Document", broken)


# -- requests analysed together ------------------------------------------------------------


def test_queued_requests_are_analysed_together_and_errors_stay_apart(nlp):
    from server.batcher import Batcher
    from server.validation import parse_annotate

    class Gated:  # the first call waits until the other requests are queued
        def __init__(self):
            self.gate, self.calls = threading.Event(), []

        def process(self, texts, *args, **kwargs):
            if not self.calls:
                self.calls.append(list(texts))
                self.gate.wait(30)
            else:
                self.calls.append(list(texts))
            if "坏" in texts:
                raise ZhnlpError("bad text")
            return nlp.process(texts, *args, **kwargs)

    gated = Gated()
    batcher = Batcher(gated, max_batch=64)
    bodies = [{"text": "他叫汤姆。"}, {"texts": ["北京大学", "李白"]}, {"text": "坏"},
              {"text": "好", "tasks": ["cws"]}, {"text": "外衣"}]
    results: dict[int, object] = {}

    def run(number: int) -> None:
        job = parse_annotate(json.dumps(bodies[number]).encode(), nlp, Limits())
        try:
            results[number] = batcher.process(job)
        except ZhnlpError as error:
            results[number] = error

    first = threading.Thread(target=run, args=(0,))
    first.start()
    while not gated.calls:
        time.sleep(0.01)
    others = [threading.Thread(target=run, args=(n,)) for n in range(1, len(bodies))]
    for thread in others:
        thread.start()
    while len(batcher._queue) < len(others):
        time.sleep(0.01)
    gated.gate.set()
    for thread in [first, *others]:
        thread.join(60)
    # one call for the first; then the three with default options together (the culprit
    # found by rerunning them one by one), and the cws-only request alone
    batched = [call for call in gated.calls if len(call) == 4]
    assert len(batched) == 1 and sorted(batched[0]) == sorted(["北京大学", "李白", "坏", "外衣"])
    assert ["好"] in gated.calls and len(gated.calls) == 1 + 1 + 3 + 1
    assert isinstance(results[2], ZhnlpError)
    for number in (0, 1, 4):
        texts = bodies[number].get("texts") or [bodies[number]["text"]]
        assert [d.to_dict() for d in results[number]] == [nlp(t).to_dict() for t in texts]
    assert [d.to_dict() for d in results[3]] == [nlp("好", tasks=["cws"]).to_dict()]


# -- under waitress -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(app):
    """The app under waitress as `zhnlp serve` configures it (request deadline: 3 s)."""
    server = waitress_server(app, listen("127.0.0.1", 0), http_threads=4,
                             max_body_bytes=app.config["ZHNLP_LIMITS"].max_body_bytes,
                             request_timeout=3)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, connection=None):
    connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read(), response


def test_concurrent_clients_get_the_same_answers(app, live_server, nlp):
    calls_before = app.config["ZHNLP_ANALYSER"].calls
    texts = [TEXT, "他叫汤姆。", "北京大学的李白", "ＩＢＭ在臺灣 iPhone12好"]
    expected = {text: nlp(text).to_dict() for text in texts}
    failures: list[str] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", live_server, timeout=60)
        for i in range(6):  # keep-alive: one connection per client
            text = texts[(number + i) % len(texts)]
            status, data, _ = request(live_server, "POST", "/v1/annotate",
                                      json.dumps({"text": text}).encode(),
                                      {"Content-Type": JSON}, connection)
            if status != 200 or json.loads(data) != expected[text]:
                failures.append(f"{status} {data[:100]!r}")
        connection.close()

    run_concurrently(partial(client, number) for number in range(8))
    assert not failures
    batcher = app.config["ZHNLP_ANALYSER"]
    print(f"48 requests in {batcher.calls - calls_before} model calls")


def test_chunked_and_oversize_bodies_under_waitress(live_server):
    def chunked(payload: bytes):
        connection = http.client.HTTPConnection("127.0.0.1", live_server, timeout=60)
        connection.putrequest("POST", "/v1/annotate")
        connection.putheader("Content-Type", JSON)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for start in range(0, len(payload), 4096):
            piece = payload[start : start + 4096]
            connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    assert chunked(json.dumps({"text": "他叫汤姆"}).encode())[0] == 200
    status, body = chunked(json.dumps({"text": "a" * 150_000}).encode())
    assert status == 413 and body["error"]["code"] == "body_too_large"
    status, data, _ = request(live_server, "POST", "/v1/annotate", b"{" * 200_000,
                              {"Content-Type": JSON})
    assert status == 413 and json.loads(data)["error"]["code"] == "body_too_large"
    status, data, _ = request(live_server, "GET", "/v1/health")  # still up
    assert status == 200


# -- zhnlp serve ---------------------------------------------------------------------------


def start_serve(*options: str) -> tuple[subprocess.Popen, int]:
    """`zhnlp serve --port 0 ...` in a process; waits for its ready line."""
    process, url = start_in_subprocess(list(options))
    return process, int(url.rsplit(":", 1)[1])


def stop_serve(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_serve_with_two_spawned_workers(tiny_model_dir):
    process, port = start_serve("--model", str(tiny_model_dir), "--workers", "2",
                                "--threads", "1", "--max-texts", "3")
    try:
        workers = set(children(process.pid)) - {process.pid}
        seen = set()
        for _ in range(200):  # each new connection goes to one of the workers
            status, data, _ = request(port, "GET", "/v1/health")
            assert status == 200
            seen.add(json.loads(data)["worker"])
            if len(seen) == 2:
                break
        assert len(seen) == 2 and process.pid not in seen
        assert seen <= workers or not workers  # /proc may hide children on some systems
        status, data, _ = request(port, "POST", "/v1/annotate",
                                  json.dumps({"texts": [TEXT]}).encode(), {"Content-Type": JSON})
        assert status == 200 and json.loads(data)[0]["text"] == TEXT
        status, data, _ = request(port, "POST", "/v1/annotate",
                                  json.dumps({"texts": ["a"] * 4}).encode(),
                                  {"Content-Type": JSON})
        assert status == 413 and json.loads(data)["error"]["code"] == "too_many_texts"
    finally:
        assert stop_serve(process) == 0
    time.sleep(0.5)
    assert not [pid for pid in seen if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text()]


def test_serve_one_worker_and_startup_errors(tiny_model_dir, tmp_path):
    user_dict = tmp_path / "words.txt"
    user_dict.write_text("汤姆去 5 nr\n", encoding="utf-8")
    process, port = start_serve("--model", str(tiny_model_dir), "--threads", "1",
                                "--user-dict", str(user_dict))
    model_processes = children(process.pid)  # the model runs in a child process
    try:
        status, data, _ = request(port, "GET", "/v1/health")
        assert status == 200 and json.loads(data)["worker"] == process.pid
        assert json.loads(data)["model_loaded"] is True
        status, data, _ = request(port, "POST", "/v1/annotate",
                                  json.dumps({"text": TEXT, "tasks": ["cws"]}).encode(),
                                  {"Content-Type": JSON})
        assert "汤姆去" in [t["text"] for s in json.loads(data)["sentences"]
                           for t in s["tokens"]]
        # the port is taken: a clear error, exit status 2
        taken = subprocess.run([sys.executable, "-m", "zhnlp.cli", "serve", "--port",
                                str(port), "--model", str(tiny_model_dir)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert taken.returncode == 2 and "cannot listen" in taken.stderr
    finally:
        assert stop_serve(process) == 0
    time.sleep(0.5)
    assert not [pid for pid in model_processes if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text()]
    # a worker that cannot load the model stops the service with the worker's message
    failed = subprocess.run([sys.executable, "-m", "zhnlp.cli", "serve", "--port", "0",
                             "--model", str(tmp_path), "--workers", "2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert failed.returncode == 2 and "no zhnlp model" in failed.stderr, failed.stderr[-500:]
