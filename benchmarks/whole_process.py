"""Whole-process speed: what a user waits for, start-up included, beside THULAC and jieba.

Each command is a fresh process reading a file of texts and writing its analysis to a
file; the wall time includes interpreter start, imports and model loading. Texts: SIGHAN
PKU test paragraphs (one per line, as distributed) and CTB6 test sentences. Also the
start-up ratio `echo 你好 | zhnlp tag` ÷ `python -c "import torch"` and each command's peak
RSS (os.wait4). Systems run interleaved, --repeat rounds, best time kept; on a shared
machine only ratios within one run mean anything.

    python benchmarks/whole_process.py [--repeat 2] [--markdown benchmarks/results/whole_process.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ZHNLP = [PY, "-m", "zhnlp", "tag"]


def run(command: list[str], stdin: bytes | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one command, which must succeed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=env)
    process.stdin.write(stdin or b"")
    process.stdin.close()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{command} failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=2000)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from zhnlp.corpora import get_dataset

    work = Path(tempfile.mkdtemp(prefix="zhnlp-whole-"))
    pku = [s.text for s in get_dataset("sighan_pku").read("test")][: args.paragraphs]
    ctb = [s.text for s in get_dataset("ctb6").read("test")][: args.sentences]
    files = {"pku": work / "pku.txt", "ctb": work / "ctb.txt"}
    files["pku"].write_text("\n".join(pku) + "\n", encoding="utf-8")
    files["ctb"].write_text("\n".join(ctb) + "\n", encoding="utf-8")
    out = str(work / "out")

    def thulac(name: str) -> list[str]:
        code = "import sys, thulac; thulac.thulac(seg_only=True).cut_f(*sys.argv[1:])"
        return [PY, "-c", code, str(files[name]), out]

    def jieba(name: str) -> list[str]:
        code = ("import sys, jieba; jieba.setLogLevel(60); out = open(sys.argv[2], 'w')\n"
                "for line in open(sys.argv[1]):\n"
                "    out.write(' '.join(jieba.lcut(line.rstrip())) + '\\n')")
        return [PY, "-c", code, str(files[name]), out]

    def tag(name: str, *options: str) -> list[str]:
        return [*ZHNLP, str(files[name]), "-o", out, "--no-split", *options]

    commands = {}
    for name in ("pku", "ctb"):
        commands[(name, "THULAC seg_only")] = thulac(name)
        commands[(name, "jieba lcut")] = jieba(name)
        commands[(name, "zhnlp tag --tasks cws (default)")] = tag(
            name, "--tasks", "cws", "--format", "text")
        commands[(name, "zhnlp tag --tasks cws --model cws-fast")] = tag(
            name, "--tasks", "cws", "--format", "text", "--model", "cws-fast")
        commands[(name, "zhnlp tag --tasks cws --precision fp32")] = tag(
            name, "--tasks", "cws", "--format", "text", "--precision", "fp32")
    commands[("ctb", "zhnlp tag (default: all five tasks)")] = tag("ctb")
    commands[("ctb", "zhnlp tag --precision fp32 (all five tasks)")] = tag(
        "ctb", "--precision", "fp32")
    startup = {"python -c 'import torch'": ([PY, "-c", "import torch"], None),
               "echo 你好 | zhnlp tag": ([*ZHNLP], "你好\n".encode())}

    run([*ZHNLP], "你好\n".encode())  # compile/cache the decoders before timing anything
    best: dict = {}
    for _ in range(args.repeat):
        for key, (command, stdin) in startup.items():
            result = run(command, stdin)
            best[key] = min(best.get(key, result), result)
        for key, command in commands.items():
            result = run(command)
            best[key] = min(best.get(key, result), result)

    counts = {"pku": len(pku), "ctb": len(ctb)}
    chars = {"pku": sum(map(len, pku)), "ctb": sum(map(len, ctb))}
    lines = [f"# Whole-process speed ({datetime.now(UTC):%Y-%m-%d %H:%M UTC})", "",
             f"`python benchmarks/whole_process.py --repeat {args.repeat}`; best of "
             f"{args.repeat} interleaved rounds; {os.cpu_count()} CPUs shared with other jobs "
             f"(load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end); "
             f"Python {platform.python_version()} ({PY}; scipy "
             f"{'installed' if importlib.util.find_spec('scipy') else 'not installed'}: numba "
             "imports it at start-up when it can). Wall time includes start-up.", "",
             "| texts | command | seconds | texts/s | ÷ THULAC | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|"]
    for (name, label) in commands:
        seconds, rss = best[(name, label)]
        ratio = best[(name, "THULAC seg_only")][0] / seconds
        texts = (f"SIGHAN PKU test, {counts['pku']} paragraphs ({chars['pku']} chars)"
                 if name == "pku" else f"CTB6 test, {counts['ctb']} sentences")
        lines.append(f"| {texts} | `{label}` | {seconds:.2f} | {counts[name] / seconds:.0f} "
                     f"| {ratio:.2f} | {rss:.0f} |")
    torch_s, torch_rss = best["python -c 'import torch'"]
    tag_s, tag_rss = best["echo 你好 | zhnlp tag"]
    lines += ["", "| start-up | seconds | peak RSS MB |", "|---|---:|---:|",
              f"| `python -c 'import torch'` | {torch_s:.2f} | {torch_rss:.0f} |",
              f"| `echo 你好 \\| zhnlp tag` | {tag_s:.2f} | {tag_rss:.0f} |",
              f"| ratio | {tag_s / torch_s:.2f} | |"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
