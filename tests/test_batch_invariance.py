"""Batch invariance through the HTTP service (issue 19): concurrent requests are analysed
together in one batch (server/batcher.py), and each still gets the analysis it gets alone."""

import pytest

import zhnlp
from server import create_app
from tests.conftest import run_concurrently

LONG = "北京大学的李白叫汤姆去拿外衣，他说iPhone12好。" * 2
SHORT = ["好！", "他叫汤姆。", "李白iPhone12好"]


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_concurrent_requests_get_the_analysis_they_get_alone(tiny_model_dir, precision):
    nlp = zhnlp.load(tiny_model_dir, threads=1, precision=precision)
    client = create_app(pipeline=nlp).test_client()

    def annotate(text):
        response = client.post("/v1/annotate", json={"text": text})
        assert response.status_code == 200
        return response.get_json()

    alone = {text: annotate(text) for text in SHORT}
    got = {}

    def request(text):
        return lambda: got.setdefault(text, []).append(annotate(text))

    run_concurrently([request(text) for text in SHORT * 4] + [request(LONG)] * 8)
    assert all(len(got[text]) == 4 and all(r == alone[text] for r in got[text])
               for text in SHORT)
