"""The model in a process of its own (server/model_process.py, what `zhnlp serve` runs): the
same answers as the in-process Pipeline, requests batched in the child, errors kept to the
request that caused them, and a child that dies replaced."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from functools import partial

import pytest

import zhnlp
from server.model_process import ModelProcess
from server.validation import Limits, parse_annotate
from tests.conftest import run_concurrently
from zhnlp.errors import ZhnlpError

TEXTS = ["他叫汤姆去拿外衣。", "北京大学的李白", "ＩＢＭ在臺灣 iPhone12好", "外衣"]


def options(model_dir) -> dict:
    return {"model": str(model_dir), "threads": 1, "batch_size": 32, "user_dict": None,
            "int8": False, "name": "tiny"}


def job(model, **body):
    return parse_annotate(json.dumps(body).encode(), model, Limits())


@pytest.fixture(scope="module")
def model_process(tiny_model_dir):
    process = ModelProcess(options(tiny_model_dir))
    yield process
    process.close()


@pytest.fixture(scope="module")
def nlp(tiny_model_dir):
    return zhnlp.load(tiny_model_dir, threads=1)


def test_answers_match_the_pipeline_under_concurrency(model_process, nlp):
    summary = model_process.summary
    assert summary.name == "tiny" and summary.tasks == nlp.tasks
    assert summary.standards == nlp.standards and summary.piece_chars == nlp.piece_chars
    expected = {text: nlp(text).to_dict() for text in TEXTS}
    calls_before = model_process.calls
    failures: list[str] = []

    def client(number: int) -> None:
        for i in range(10):
            text = TEXTS[(number + i) % len(TEXTS)]
            docs = model_process.process(job(summary, text=text))
            if [doc.to_dict() for doc in docs] != [expected[text]]:
                failures.append(text)

    run_concurrently(partial(client, number) for number in range(8))
    assert not failures
    assert model_process.calls - calls_before <= 80  # one call per batch, not per request
    pretokenized = model_process.process(job(summary, texts=[["北京", "大学"]],
                                             pretokenized=True, tasks=["pos"]))
    assert [d.to_dict() for d in pretokenized] == [
        d.to_dict() for d in nlp.process(["北京大学"], ["pos"], words=[[(0, 2), (2, 4)]])]


def test_an_input_the_pipeline_refuses_fails_alone(model_process, nlp):
    summary = model_process.summary
    too_long = job(summary, text=["长" * (nlp.piece_chars + 5)], pretokenized=True)
    results: dict[int, object] = {}

    def run(number: int, the_job) -> None:
        try:
            results[number] = model_process.process(the_job)
        except ZhnlpError as error:
            results[number] = error

    run_concurrently([partial(run, 0, too_long)]
                     + [partial(run, n, job(summary, text=TEXTS[n])) for n in range(1, 4)])
    assert isinstance(results[0], ZhnlpError)
    for number in range(1, 4):
        assert [d.to_dict() for d in results[number]] == [nlp(TEXTS[number]).to_dict()]


def test_a_dead_model_process_is_replaced(tiny_model_dir, caplog):
    process = ModelProcess(options(tiny_model_dir))
    try:
        first_pid = process.pid
        with caplog.at_level(logging.WARNING, logger="zhnlp.server"):
            os.kill(first_pid, signal.SIGKILL)
            deadline = time.monotonic() + 120
            while (not process.alive or process.pid == first_pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert process.alive and process.pid != first_pid
        assert "exited" in caplog.text
        docs = process.process(job(process.summary, text=TEXTS[0]))
        assert docs[0].text == TEXTS[0]
    finally:
        process.close()
    assert not process.alive


def test_a_model_that_cannot_load_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ZhnlpError, match="holds no zhnlp model"):
        ModelProcess(options(tmp_path))
