"""What the benchmarks and the tests share: a random tiny model, and `zhnlp serve` started
in a child process. (The tests import these from here; nothing in the library does.)"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from zhnlp.errors import ZhnlpError

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "corpora" / "samples"


def build_tiny_model(seed: int = 0, labels: dict | None = None, lexicon=None, layers: int = 1,
                     positions: int = 64, sdp: bool = False):
    """A randomly initialised model with the five tree/tag heads (and an sdp head when
    asked): structurally complete, tiny."""
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
    if sdp:
        labels = {**labels, "sdp": ["Root", "Agt", "Pat", "mPunc"]}
    return MultiTaskModel.build(encoder, tokenizer, labels, standards=["ctb", "pku"],
                                lexicon=lexicon).eval()


def start_in_subprocess(options: list[str], timeout: float = 120.0
                        ) -> tuple[subprocess.Popen, str]:
    """`zhnlp serve --host 127.0.0.1 --port 0 OPTIONS` in a child process; waits for its
    ready line and returns (process, base URL). Its stderr is drained in a thread; the
    lines are kept in `process.log_lines`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "zhnlp.cli", "serve", "--host", "127.0.0.1", "--port", "0",
         *options], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    lines: list[str] = []
    process.log_lines = lines
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([process.stderr], [], [], deadline - time.monotonic())[0]:
            break
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"ready on (http://127\.0\.0\.1:\d+)", line)
        if match:
            threading.Thread(target=_drain, args=(process.stderr, lines), daemon=True).start()
            return process, match.group(1)
    process.kill()
    raise ZhnlpError("zhnlp serve did not start:\n" + "".join(lines[-20:]))


def _drain(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)
        del lines[:-2000]  # the last lines are enough


def rss_kib(pids: list[int]) -> int:
    """Resident memory of these processes together, in KiB (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(match.group(1)) if match else 0
    return total


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, queue = [], [pid]
    while queue:
        node = queue.pop()
        tree.append(node)
        queue.extend(parents.get(node, []))
    return tree
