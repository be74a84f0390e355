"""The demo page in a real browser: headless Chromium loads `GET /` from a waitress server
started here on 127.0.0.1 (a free port), types a sentence, clicks Analyse, and the test
checks what the page drew (token chips, the SVG arcs, entities, SRL frames) against the
API's own answer. A screenshot is saved to runs/artifacts/test_browser/demo.png (or
$ZHNLP_ARTIFACTS/test_browser/demo.png); its path is printed.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON
messages ending in NUL on fds 3 and 4), so no driver or Python package is needed. Skipped
when no Chromium is installed ($ZHNLP_CHROMIUM, chromium, chromium-browser, google-chrome;
ZHNLP_CHROMIUM=none skips on purpose);
one that is installed but cannot start fails the test, with its log.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import build_tiny_model

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "他叫汤姆去拿外衣。北京大学的李白来了！"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--no-default-browser-check", "--hide-scrollbars", "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    """$ZHNLP_CHROMIUM (a path; "none" turns the test off), else the usual names."""
    if os.environ.get("ZHNLP_CHROMIUM", "").lower() == "none":
        return None
    for name in (os.environ.get("ZHNLP_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "/usr/bin/chromium"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium and one page, over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0) -> None:
        to_browser_read, self._write = os.pipe()
        self._read, from_browser_write = os.pipe()
        # The browser reads commands on fd 3 and writes on fd 4; subprocess passes fds only
        # under their own numbers, so a Python shim moves them there and execs Chromium.
        shim = ("import fcntl, os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
                "a, b = fcntl.fcntl(r, fcntl.F_DUPFD, 10), fcntl.fcntl(w, fcntl.F_DUPFD, 10); "
                "os.dup2(a, 3); os.dup2(b, 4); [os.close(fd) for fd in {r, w, a, b} - {3, 4}]; "
                "os.execv(sys.argv[3], sys.argv[3:])")
        self.log = profile.parent / "chromium.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", shim, str(to_browser_read), str(from_browser_write),
                 binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                pass_fds=(to_browser_read, from_browser_write), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.timeout, self._buffer, self._next_id = timeout, b"", 0
        self.events: list[dict] = []
        self.session: str | None = None

    def send(self, method: str, params: dict | None = None, session: bool = True,
             timeout: float | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self, width: int = 1200, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                                                         "deviceScaleFactor": 1,
                                                         "mobile": False})

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:60]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0):
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError as error:  # e.g. the page is between two documents
                value, last = None, error
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {expression} (last error: {last})")

    def click(self, selector: str) -> None:
        box = self.evaluate(f"(r => [r.x + r.width / 2, r.y + r.height / 2])("
                            f"document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect())")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1})

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=5)
        except (BrowserError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        pytest.skip("Chromium not installed (apt-get install chromium, or set ZHNLP_CHROMIUM "
                    "to its path)")
    directory = tmp_path_factory.mktemp("chromium")
    browser = Chromium(binary, directory / "profile")
    try:
        version = browser.send("Browser.getVersion", session=False, timeout=60)
    except (BrowserError, OSError) as error:  # installed but broken: a failure, not a skip
        browser.close()
        log = browser.log.read_text(errors="replace")[-800:] if browser.log.exists() else ""
        pytest.fail(f"Chromium at {binary} did not start: {error}\n{log}")
    print(f"\nbrowser: {version.get('product')}")
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The app under waitress on 127.0.0.1, a free port, in a thread; a tiny model with every
    task, the semantic graph (sdp) included."""
    from waitress import create_server

    import zhnlp
    from server import create_app

    model_dir = tmp_path_factory.mktemp("demo_model")
    build_tiny_model(sdp=True).save(model_dir)
    app = create_app(pipeline=zhnlp.load(model_dir, threads=1), model_name="tiny-random")
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    server.task_dispatcher.shutdown(timeout=5)


def artifact_path(name: str) -> Path:
    base = Path(os.environ.get("ZHNLP_ARTIFACTS") or ROOT / "runs" / "artifacts")
    path = base / "test_browser" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


READ_PAGE = """(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  return {
    tokens: q('#results .sentence').map((s) => [...s.querySelectorAll('.token')].map((t) => ({
      id: +t.dataset.id, text: t.querySelector('.word').textContent,
      upos: t.dataset.upos || null, xpos: (t.querySelector('.xpos') || {}).textContent || null}))),
    arcs: q('#results .sentence').map((s) =>
      [...s.querySelectorAll('.svg-wrap:not(.sdp) svg.arcs g.arc')].map((g) =>
        [+g.dataset.head, +g.dataset.dep, g.dataset.label])),
    graphArcs: q('#results .sentence').map((s) =>
      [...s.querySelectorAll('.svg-wrap.sdp svg.arcs g.arc')].map((g) =>
        [+g.dataset.head, +g.dataset.dep, g.dataset.label])),
    arcWords: q('#results .sentence').map((s) =>
      [...s.querySelectorAll('.svg-wrap:not(.sdp) svg.arcs text.arc-word')].map((t) =>
        t.textContent)),
    entities: q('#results mark.ent').map((m) => [m.firstChild.textContent, m.dataset.label]),
    frames: q('#results .sentence').map((s) => [...s.querySelectorAll('.frame')].map((f) => ({
      predicate: +f.dataset.predicate,
      roles: [...f.querySelectorAll('.frame-token.arg')].map((a) => a.dataset.role),
      spans: [...f.querySelectorAll('.frame-token.arg-span')].map((a) =>
        [+a.dataset.id, a.dataset.spanOf])}))),
    svgSize: q('svg.arcs').map((s) => [s.width.baseVal.value, s.height.baseVal.value]),
    height: document.documentElement.scrollHeight,
  };
})()"""


def _span_words(predicate: dict) -> list[list]:
    """(token id, role) of each word inside an argument's span that is neither an argument's
    head nor the predicate: what the frame draws lighter in its argument's colour."""
    heads = {a["id"] for a in predicate["arguments"]} | {predicate["id"]}
    inside = {token_id: a["role"] for a in predicate["arguments"]
              for token_id in range(a["span"][0] + 1, a["span"][1] + 1)}
    return [[token_id, role] for token_id, role in sorted(inside.items()) if token_id not in heads]


def test_demo_page_renders_an_analysis(chromium, live_server):
    chromium.open_page()
    chromium.send("Page.navigate", {"url": live_server + "/"})
    chromium.wait_for("document.body && document.body.dataset.ready === '1'")
    assert chromium.evaluate("[...document.querySelectorAll('#tasks input')].map(i => i.value)"
                             ) == ["cws", "pos", "ner", "dep", "srl", "sdp"]

    # type a sentence as a user would (replacing the sample text), then click Analyse
    chromium.evaluate("(() => { const t = document.getElementById('text'); t.focus(); "
                      "t.select(); })()")
    chromium.send("Input.insertText", {"text": SENTENCE})
    assert chromium.evaluate("document.getElementById('text').value") == SENTENCE
    chromium.click("#analyse")
    chromium.wait_for("document.getElementById('results').dataset.state === 'done'")
    page = chromium.evaluate(READ_PAGE)

    with urllib.request.urlopen(live_server + "/v1/info", timeout=30) as response:
        every_task = json.load(response)["tasks"]  # what the page asks for (sdp included)
    request = urllib.request.Request(live_server + "/v1/annotate", method="POST",
                                     data=json.dumps({"text": SENTENCE,
                                                      "tasks": every_task}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        doc = json.load(response)
    sentences = doc["sentences"]
    assert len(sentences) == 2 and len(page["tokens"]) == 2
    for drawn, sentence, arcs, words in zip(page["tokens"], sentences, page["arcs"],
                                            page["arcWords"]):
        tokens = sentence["tokens"]
        assert drawn == [{"id": t["id"], "text": t["text"], "upos": t["upos"],
                          "xpos": t["xpos"]} for t in tokens]
        assert words == [t["text"] for t in tokens]
        # one arc per token: head -> dependent with its label (head 0: the root arrow)
        assert sorted(map(tuple, arcs)) == sorted((t["head"], t["id"], t["deprel"])
                                                  for t in tokens)
    # the semantic graph above its own copy of the sentence: every (head, dependent, label)
    # of every word's semantic_heads (a word with several heads has an arc from each)
    for drawn, sentence in zip(page["graphArcs"], sentences):
        expected = sorted((head, t["id"], label) for t in sentence["tokens"]
                          for head, label in t["semantic_heads"])
        assert expected and sorted(map(tuple, drawn)) == expected
    assert "".join(t["text"] for s in page["tokens"] for t in s) == SENTENCE
    assert page["entities"] == [[e["text"], e["label"]] for e in doc["entities"]]
    assert page["frames"] == [[{"predicate": p["id"],
                                "roles": [a["role"] for a in sorted(p["arguments"],
                                                                    key=lambda a: a["id"])
                                          if a["id"] != p["id"]],
                                "spans": _span_words(p)}
                               for p in s["predicates"]] for s in sentences]
    assert all(width > 100 and height > 60 for width, height in page["svgSize"])

    # the whole page in one picture
    chromium.resize(1200, min(int(page["height"]) + 20, 4000))
    time.sleep(0.2)
    shot = chromium.send("Page.captureScreenshot", {"format": "png"})
    path = artifact_path("demo.png")
    import base64

    path.write_bytes(base64.b64decode(shot["data"]))
    print(f"\nscreenshot: {path}")
    assert path.stat().st_size > 10_000

    # nothing but this server was asked for, and the page logged no error
    urls = [event["params"]["request"]["url"] for event in chromium.events
            if event.get("method") == "Network.requestWillBeSent"]
    assert urls and all(url.startswith(live_server) or url.startswith("data:") for url in urls)
    errors = [event["params"] for event in chromium.events
              if event.get("method") in ("Runtime.exceptionThrown",)
              or (event.get("method") == "Log.entryAdded"
                  and event["params"]["entry"]["level"] == "error")
              or (event.get("method") == "Runtime.consoleAPICalled"
                  and event["params"]["type"] == "error")]
    assert not errors, errors


def test_demo_page_shows_an_api_error(chromium, live_server):
    chromium.open_page()
    chromium.send("Page.navigate", {"url": live_server + "/"})
    chromium.wait_for("document.body && document.body.dataset.ready === '1'")
    # untick every task: the API refuses an empty task list and the page says why
    chromium.evaluate("document.querySelectorAll('#tasks input').forEach(i => i.checked = false)")
    chromium.click("#analyse")
    chromium.wait_for("document.getElementById('results').dataset.state === 'error'")
    assert chromium.evaluate("document.getElementById('error').hidden") is False
    text = chromium.evaluate("document.getElementById('error').textContent")
    assert text.startswith("invalid_request") and "tasks" in text
