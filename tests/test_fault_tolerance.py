"""Fault injection: what surrounds the pipeline under hostile or unlucky conditions.

The model process killed once, twice while it reloads, and again and again (the service
recovers, or gives up and exits non-zero; /v1/health tells the truth meanwhile); damaged
model directories (one ZhnlpError naming the file, exit 2 in the CLI); outputs that are the
input (hard links, stdin) or that cannot be written; interrupted runs (no half-written
output); waitress's own errors as JSON; slow clients. Longer variants: benchmarks/soak.py.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import zhnlp
from benchmarks.support import process_tree
from server.model_process import ModelProcess, ModelUnavailable
from server.validation import Limits, parse_annotate
from tests.conftest import start_in_subprocess
from zhnlp import tag as tag_module
from zhnlp.cli import main
from zhnlp.errors import ZhnlpError

JSON = "application/json"


def options(model_dir) -> dict:
    return {"model": str(model_dir), "threads": 1, "batch_size": 32, "user_dict": None,
            "int8": False, "name": "tiny"}


def job(summary, text="他叫汤姆去拿外衣。"):
    return parse_annotate(json.dumps({"text": text}).encode(), summary, Limits())


def wait_for(condition, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- the model process ----------------------------------------------------------------


def test_killed_twice_while_reloading_it_recovers_then_gives_up(tiny_model_dir):
    gave_up = threading.Event()
    process = ModelProcess(options(tiny_model_dir), on_give_up=gave_up.set, max_restarts=3,
                           backoff=0.1)
    try:
        summary = process.summary
        first = process.pid
        os.kill(first, signal.SIGKILL)  # once ...
        assert wait_for(lambda: process.pid != first)
        second = process.pid
        with pytest.raises(ModelUnavailable):  # down: refused at once, not a hang or a 500
            process.process(job(summary))
        os.kill(second, signal.SIGKILL)  # ... and again while it loads
        assert wait_for(lambda: process.alive)
        assert process.pid not in (first, second) and not gave_up.is_set()
        assert process.process(job(summary))[0].text == "他叫汤姆去拿外衣。"
        for _ in range(3):  # a child that dies as soon as it is up: give up after 3 tries
            pid = process.pid
            assert wait_for(lambda: process.alive or gave_up.is_set())
            if gave_up.is_set():
                break
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda pid=pid: process.pid != pid or gave_up.is_set())
        assert wait_for(gave_up.is_set, 60) and process.gave_up and not process.alive
        with pytest.raises(ModelUnavailable, match="could not be restarted"):
            process.process(job(summary))
    finally:
        process.close()


def request(port: int, method: str, path: str, body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body,
                           headers={"Content-Type": JSON} if body else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def model_child(server_pid: int) -> int | None:
    pids = [pid for pid in process_tree(server_pid)[1:]
            if "zhnlp" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
            or "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    return pids[0] if pids else None


def test_serve_health_is_503_while_the_model_is_down_and_it_exits_1_when_it_gives_up(
        tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    process, url = start_in_subprocess(["--model", str(model), "--threads", "1"])
    port = int(url.rsplit(":", 1)[1])
    try:
        assert request(port, "GET", "/v1/health")[0] == 200
        child = model_child(process.pid)
        assert child is not None
        (model / "model.safetensors").write_bytes(b"damaged")  # the restarts cannot load it
        os.kill(child, signal.SIGKILL)
        assert wait_for(lambda: request(port, "GET", "/v1/health")[0] == 503, 30)
        status, body = request(port, "GET", "/v1/health")
        assert body["status"] == "unavailable" and body["model_loaded"] is False
        status, body = request(port, "POST", "/v1/annotate", b'{"text": "\\u597d"}')
        assert status == 503 and body["error"]["code"] == "model_unavailable"
        assert process.wait(120) == 1  # 5 tries with back-off, then a non-zero exit
        log = "".join(process.log_lines)
        assert "damaged or truncated" in log and "giving up" in log
        assert "Traceback" not in log  # one line per failure, not a traceback per request
    finally:
        if process.poll() is None:
            process.kill()


# -- damaged model directories ----------------------------------------------------------


def _damage(directory: Path, case: str) -> str:
    """Damage a copy of a model; the file name the error must give."""
    config_path = directory / "config.json"
    config = json.loads(config_path.read_text())
    weights = directory / "model.safetensors"
    if case == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:1000])
        return "model.safetensors"
    if case == "foreign weights":
        weights.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        return "model.safetensors"
    if case == "no weights":
        weights.unlink()
        return "model.safetensors"
    if case == "bad json":
        config_path.write_text('{"model_type": "zhnlp", ')
        return "config.json"
    if case == "unknown head":
        config["heads"]["foo"] = {}
    elif case == "huge vocabulary":  # would be a 2 TB allocation
        config["encoder"]["vocab_size"] = 1 << 40
    elif case == "wrong hidden size":
        config["encoder"]["hidden_size"] = 48
    elif case == "wrong layer count":
        config["encoder"]["num_hidden_layers"] = 3
    elif case == "no heads":
        del config["heads"]
    elif case == "missing vocab":
        (directory / "vocab.txt").unlink()
        return "vocab.txt"
    elif case == "short vocab":
        lines = (directory / "vocab.txt").read_text().splitlines()
        (directory / "vocab.txt").write_text("\n".join(lines[:-5]) + "\n")
        return "vocab.txt"
    elif case == "bad tag lexicon":
        (directory / "priors.json").write_bytes(b"\xff{")
        return "priors.json"
    elif case == "bad head setting":
        config["heads"]["pos"]["labels"] = 7
        config_path.write_text(json.dumps(config))
        return str(directory)
    config_path.write_text(json.dumps(config))
    return "config.json"


DAMAGES = ["truncated weights", "foreign weights", "no weights", "bad json", "unknown head",
           "huge vocabulary", "wrong hidden size", "wrong layer count", "no heads",
           "missing vocab", "short vocab", "bad tag lexicon", "bad head setting"]


@pytest.mark.parametrize("case", DAMAGES)
def test_a_damaged_model_directory_is_one_clear_error(tiny_model_dir, tmp_path, case, capsys):
    directory = tmp_path / "model"
    shutil.copytree(tiny_model_dir, directory)
    named = _damage(directory, case)
    with pytest.raises(ZhnlpError) as error:
        zhnlp.load(directory)
    message = str(error.value)
    assert named in message and ("restore" in message or "train" in message), message
    (tmp_path / "in.txt").write_text("好\n", encoding="utf-8")
    assert main(["tag", str(tmp_path / "in.txt"), "--model", str(directory)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zhnlp: error:") and err.count("\n") == 1


# -- outputs of zhnlp tag -----------------------------------------------------------------


@pytest.fixture
def tag(tiny_model_dir):
    def tag(*arguments: str) -> int:
        return main(["tag", "--model", str(tiny_model_dir), "--threads", "1",
                     "--no-progress", *arguments])

    return tag


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tag, tmp_path, capsys,
                                                                    monkeypatch):
    source = tmp_path / "a.txt"
    source.write_text("他叫汤姆去拿外衣。\n", encoding="utf-8")
    os.link(source, tmp_path / "hard.txt")
    (tmp_path / "soft.txt").symlink_to(source)
    for output in ("hard.txt", "soft.txt", "a.txt"):
        assert tag(str(source), "-o", str(tmp_path / output)) == 2
        assert "also the input" in capsys.readouterr().err
    with open(source, "rb") as stdin:  # zhnlp tag -o a.txt < a.txt
        monkeypatch.setattr(sys, "stdin", stdin)
        assert tag("-o", str(source)) == 2
    assert "also the input" in capsys.readouterr().err
    assert source.read_text(encoding="utf-8") == "他叫汤姆去拿外衣。\n"


def test_a_bad_output_location_fails_before_the_model_loads(tag, tmp_path, capsys,
                                                             monkeypatch):
    source = tmp_path / "a.txt"
    source.write_text("好\n", encoding="utf-8")

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("zhnlp.pipeline.load", no_loading)
    for output, message in [(tmp_path, "is a directory"),
                            (tmp_path / "missing" / "out.txt", "does not exist")]:
        assert tag(str(source), "-o", str(output)) == 2
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_is_one_clear_error(tag, tmp_path, capsys):
    source = tmp_path / "a.txt"
    source.write_text("好\n", encoding="utf-8")
    assert tag(str(source), "-o", "/dev/full") == 2
    err = capsys.readouterr().err
    assert "cannot write the output /dev/full" in err and err.count("\n") == 1


def test_an_interrupted_run_leaves_the_old_output_and_reports_only_written_lines(
        tag, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tag_module, "CHUNK_LINES", 2)
    source, output = tmp_path / "a.txt", tmp_path / "out.txt"
    source.write_bytes("好\n好\n".encode() + b"\xff\n" + "好\n".encode())
    output.write_text("the previous results\n")
    original = tag_module.Tagger.tag_chunk
    calls = []

    def interrupted(self, chunk, source, doc_prefix=""):
        calls.append(chunk)
        text = original(self, chunk, source, doc_prefix)
        if len(calls) == 2:  # Ctrl-C while the second chunk (with the bad line) is done
            raise KeyboardInterrupt
        return text

    monkeypatch.setattr(tag_module.Tagger, "tag_chunk", interrupted)
    assert tag(str(source), "-o", str(output)) == 130
    assert output.read_text() == "the previous results\n"  # not half-written, not emptied
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "out.txt"]  # no temporary left
    assert "a.txt:3" not in capsys.readouterr().err  # its record was never written
    monkeypatch.setattr(tag_module.Tagger, "tag_chunk", original)
    output.chmod(0o640)
    assert tag(str(source), "-o", str(output)) == 3
    assert len(output.read_text().split("\n\n")) >= 4 and output.stat().st_mode & 0o777 == 0o640


def test_sigterm_stops_zhnlp_tag_without_a_partial_output(tiny_model_dir, tmp_path):
    source, output = tmp_path / "a.txt", tmp_path / "out.txt"
    source.write_text("他叫汤姆去拿外衣。\n" * 50_000, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "zhnlp.cli", "tag", str(source), "-o", str(output),
         "--model", str(tiny_model_dir), "--threads", "1", "--tasks", "cws"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE)
    assert wait_for(lambda: any(p.name.endswith(".partial") for p in tmp_path.iterdir()), 120)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 130
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


# -- smaller wrong outputs ------------------------------------------------------------------


def test_user_words_survive_the_piece_boundary_and_lone_surrogates(tiny_model_dir):
    nlp = zhnlp.load(tiny_model_dir, threads=1)
    nlp.add_words(["汤姆去"])
    limit = nlp.piece_chars
    text = "他" * (limit - 1) + "汤姆去" + "好" * 40  # the match starts at limit - 1
    words = [token.text for token in nlp(text, "cws").tokens]
    assert "汤姆去" in words and "".join(words) == text
    nlp.add_words(["汤姆"])
    doc = nlp("他\ud800叫汤姆")  # OpenCC cannot encode a lone surrogate
    assert "汤姆" in [token.text for token in doc.tokens]


def test_no_split_conllu_gives_a_block_for_every_non_empty_line(tag, tmp_path):
    lines = ["他叫汤姆。", "\x00", "\u3000", "\u200b", "", "好"]
    source, output = tmp_path / "a.txt", tmp_path / "out.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert tag(str(source), "-o", str(output), "--no-split") == 0
    blocks = output.read_text(encoding="utf-8").split("\n\n")[:-1]
    assert len(blocks) == 5 and all(block.startswith("# sent_id = ") and "\n# text = " in block
                                    for block in blocks)


def test_a_predicate_is_never_its_own_argument(tiny_model_dir):
    import torch

    nlp = zhnlp.load(tiny_model_dir, threads=1)
    head = nlp.model.heads["srl"]
    words = 4
    roles = torch.full((1, 2, words, len(head.labels)), -5.0)
    roles[..., 0] = 0.0
    roles[0, 0, 1, 1] = 10.0  # predicate 1 strongly "takes itself" as A0
    roles[0, 1, 3, 2] = 10.0

    class Batch:
        word_lengths = torch.tensor([words])

    decoded = head.decode({"roles": roles, "predicate_index": torch.tensor([[1, 3]])}, Batch)
    for predicate, arguments in decoded[0]:
        assert predicate not in [argument for argument, _ in arguments]


# -- waitress: JSON errors, slow clients ------------------------------------------------------


@pytest.fixture(scope="module")
def live_server(tiny_model_dir):
    """The app under waitress as `zhnlp serve` configures it (request deadline: 3 s)."""
    from server import create_app
    from server.serve import listen, waitress_server

    app = create_app(pipeline=zhnlp.load(tiny_model_dir, threads=1))
    server = waitress_server(app, listen("127.0.0.1", 0), http_threads=4, request_timeout=3)
    threading.Thread(target=server.run, daemon=True).start()
    yield server.effective_port
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def raw(port: int, data: bytes) -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # it closed with our bytes unread: the answer came first
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"POST /v1/annotate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /v1/annotate HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST /v1/annotate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n", 431),
    ("GET /v1/\u597d HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400),  # raw non-ASCII path
]


@pytest.mark.parametrize("data, status", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_errors_waitress_answers_itself_are_json(live_server, data, status):
    got, headers, body = raw(live_server, data)
    assert got == status
    assert headers.get("Content-Type") == "application/json; charset=utf-8"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert set(json.loads(body)["error"]) == {"code", "message"}


def test_slow_clients_do_not_block_normal_ones(live_server):
    port = live_server
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(120)]
    try:
        for sock in slow:
            sock.sendall(b"G")
        latencies = []
        for _ in range(4):  # one header byte a second from each slow client
            for sock in slow:
                try:
                    sock.sendall(b"E")
                except OSError:  # closed by the request deadline (3 s here)
                    pass
            started = time.monotonic()
            assert request(port, "GET", "/v1/health")[0] == 200
            latencies.append(time.monotonic() - started)
            time.sleep(1)
        assert max(latencies) < 1.0, latencies
        closed = 0
        for sock in slow:  # past the deadline: the server has closed them
            sock.settimeout(5)
            try:
                sock.sendall(b"T")
                closed += sock.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == len(slow)
    finally:
        for sock in slow:
            sock.close()
