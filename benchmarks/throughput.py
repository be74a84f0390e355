"""Throughput of the zhnlp pipeline beside jieba and THULAC, in one run on one machine.

    python benchmarks/throughput.py --model models/zhnlp-base
        [--cws-model models/zhnlp-cws-fast] [--small-model models/zhnlp-small]
        [--sentences 2000]
        [--dataset ctb6 --split test] [--threads N] [--batch-size 32] [--repeat 3]
        [--peers jieba,thulac] [--json raw.json]
        [--markdown benchmarks/results/throughput.md]

Each system runs in its own fresh Python process (so load time and peak memory are its
own) on the same sentences: the first --sentences sentences of the split (cycled when the
split is shorter). Reported per system and task: sentences/s (best of --repeat timed
passes, after an untimed warm-up batch), the ratio zhnlp/peer, cold start (from the
worker's first line, imports and model loading included, to the first analysed sentence)
and peak RSS of the worker process. The machine's load average is printed with the table:
on a shared machine, rerun when it is high.

Rows: `cws` compares segmentation only (zhnlp tasks=["cws"], jieba.lcut, THULAC
seg_only); `full` compares each system's fullest pipeline (zhnlp: its default tasks; jieba
and THULAC: segmentation + POS, all they offer), so the full ratio is not like for like:
zhnlp does more. Rows named `zhnlp...` run in full precision (`precision="fp32"`),
`...-int8` with the encoder's linear layers in int8 (the default on the CPU);
`zhnlp-cws-fast` is the torch-free segmentation-only model (models/zhnlp-cws-fast: a linear
model, `zhnlp.linear_cws`, which has no precision to choose),
`zhnlp-small` the all-task model with two encoder layers (models/zhnlp-small). Peers that
are not installed are listed as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()  # a worker's cold start counts from here

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = [("zhnlp", "cws"), ("zhnlp-int8", "cws"), ("zhnlp-cws-fast", "cws"),
           ("jieba", "cws"), ("thulac", "cws"),
           ("zhnlp", "full"), ("zhnlp-int8", "full"), ("zhnlp-small", "full"),
           ("zhnlp-small-int8", "full"), ("jieba", "full"), ("thulac", "full")]
OURS = ("zhnlp", "zhnlp-int8", "zhnlp-small-int8", "zhnlp-cws-fast")  # the ratio columns
MODEL_OPTION = {"zhnlp-cws-fast": "cws_model", "zhnlp-small": "small_model"}  # else "model"


# -- worker: one system, one task, in its own process ------------------------------------


def make_analyser(system: str, task: str, options: dict):
    """A function texts -> results for one system, after loading it."""
    if system.startswith("zhnlp"):
        sys.path.insert(0, str(ROOT))
        import zhnlp

        model = options[MODEL_OPTION.get(system.removesuffix("-int8"), "model")]
        precision = "int8" if system.endswith("-int8") else "fp32"
        nlp = zhnlp.load(model, threads=options.get("threads"),
                         batch_size=options["batch_size"], precision=precision)
        tasks = ["cws"] if task == "cws" else None
        standard = options.get("standard") if options.get("standard") in nlp.standards else None
        return lambda texts: nlp(texts, tasks=tasks, standard=standard)
    if system == "jieba":
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        jieba.initialize()
        cut = jieba.lcut if task == "cws" else jieba.posseg.lcut
        return lambda texts: [cut(text) for text in texts]
    if system == "thulac":
        import thulac

        model = thulac.thulac(seg_only=task == "cws")
        return lambda texts: [model.cut(text) for text in texts]
    raise ValueError(system)


def worker(spec: dict) -> dict:
    import resource

    texts = Path(spec["texts"]).read_text(encoding="utf-8").split("\n")
    analyse = make_analyser(spec["system"], spec["task"], spec)
    analyse(texts[:1])
    cold = time.perf_counter() - START
    analyse(texts[:64])  # warm-up: batched code paths (numba) compile on first use
    times = []
    for _ in range(spec["repeat"]):
        begin = time.perf_counter()
        results = analyse(texts)
        times.append(time.perf_counter() - begin)
    assert len(results) == len(texts)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"sentences_per_s": len(texts) / min(times), "cold_start_s": cold,
            "peak_rss_mb": peak_kb / 1024, "seconds": min(times)}


# -- parent: read the sentences, run the workers, print the table --------------------------


def load_texts(dataset: str, split: str, count: int) -> tuple[list[str], str | None]:
    """The sentences, and the dataset's segmentation standard (used where the model has it)."""
    sys.path.insert(0, str(ROOT))
    from zhnlp.corpora import get_dataset

    found = get_dataset(dataset)
    texts = [sentence.text for sentence in found.read(split)]
    texts = [text for text in texts if text.strip() and "\n" not in text]
    if not texts:
        raise SystemExit(f"{dataset} {split} holds no sentences")
    return [texts[i % len(texts)] for i in range(count)], getattr(found, "standard", None)


def run_worker(spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        command = [sys.executable, __file__, "--worker", json.dumps(spec), "--result",
                   result.name]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["failed"]
            return {"error": lines[-1]}
        return json.loads(Path(result.name).read_text() or "{}")


def installed(system: str) -> bool:
    from importlib.util import find_spec

    return system.startswith("zhnlp") or find_spec(system) is not None


def format_table(rows: list[dict], header: dict) -> str:
    lines = [f"Throughput: {header['sentences']} sentences of {header['dataset']} "
             f"{header['split']} (avg {header['avg_chars']:.1f} characters), "
             f"model {header['model']}, small model {header['small_model']}, "
             f"fast CWS model {header['cws_model']}",
             f"Machine: {header['machine']}; torch threads {header['threads']}; "
             f"batch size {header['batch_size']}; best of {header['repeat']}; "
             f"load average at start {header['load']}", "",
             "| system | task | sentences/s | "
             + " | ".join(f"{ours} ÷ system" for ours in OURS)
             + " | cold start s | peak RSS MB |",
             "|---|---|---:|" + "---:|" * len(OURS) + "---:|---:|"]
    speed = {(row["system"], row["task"]): row.get("sentences_per_s") for row in rows}

    def ratio(ours: float | None, theirs: float) -> str:
        return f"{ours / theirs:.2f}" if ours else "–"

    for row in rows:
        if "error" in row:
            lines.append(f"| {row['system']} | {row['task']} | {row['error']} |"
                         + " |" * (len(OURS) + 2))
            continue
        task, theirs = row["task"], row["sentences_per_s"]
        ratios = " | ".join(ratio(speed.get((ours, task)), theirs) for ours in OURS)
        lines.append(f"| {row['system']} | {task} | {theirs:.1f} | {ratios} | "
                     f"{row['cold_start_s']:.2f} | {row['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="zhnlp model directory (default: the "
                        "shipped model)")
    parser.add_argument("--cws-model", default=None, help="the fast segmentation-only model "
                        "(default: models/zhnlp-cws-fast)")
    parser.add_argument("--small-model", default=None, help="the 2-layer all-task model "
                        "(default: models/zhnlp-small)")
    parser.add_argument("--dataset", default="ctb6")
    parser.add_argument("--split", default="test")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--threads", type=int, help="torch threads for zhnlp")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; best is kept")
    parser.add_argument("--peers", default="jieba,thulac", help="comma-separated; empty: none")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--json", dest="json_out", help="also write the raw numbers here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        Path(args.result).write_text(json.dumps(worker(json.loads(args.worker))))
        return

    sys.path.insert(0, str(ROOT))
    from zhnlp.shipped import model_directory

    model = str(model_directory(args.model))
    cws_model = args.cws_model or str(ROOT / "models" / "zhnlp-cws-fast")
    small_model = args.small_model or str(ROOT / "models" / "zhnlp-small")
    texts, standard = load_texts(args.dataset, args.split, args.sentences)
    peers = [peer for peer in args.peers.split(",") if peer]
    header = {"sentences": len(texts), "dataset": args.dataset, "split": args.split,
              "avg_chars": sum(map(len, texts)) / len(texts), "model": model,
              "cws_model": cws_model, "small_model": small_model,
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
              "threads": args.threads or "default", "batch_size": args.batch_size,
              "repeat": args.repeat, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    rows = []
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as handle:
        handle.write("\n".join(texts))
        handle.flush()
        for system, task in SYSTEMS:
            if not system.startswith("zhnlp") and system not in peers:
                continue
            row = {"system": system, "task": task}
            if not installed(system):
                row["error"] = "not installed"
            else:
                spec = {"system": system, "task": task, "texts": handle.name, "model": model,
                        "cws_model": cws_model, "small_model": small_model,
                        "threads": args.threads, "batch_size": args.batch_size,
                        "repeat": args.repeat, "standard": standard}
                row.update(run_worker(spec))
            rows.append(row)
            print(f"{system} {task}: {row}", file=sys.stderr)
    table = format_table(rows, header)
    print(table)
    if args.markdown:
        command = "python benchmarks/" + shlex.join(sys.argv).split("benchmarks/", 1)[-1]
        Path(args.markdown).write_text(
            "# Throughput of the pipeline beside jieba and THULAC\n\n"
            f"Generated by `{command}` (issue 6); do not edit by hand. Each system runs in its "
            "own process on the same sentences. `zhnlp...` rows run in full precision, "
            "`...-int8` in int8 (the default on the CPU). `full` is not like for like: zhnlp "
            "runs its default tasks; jieba and THULAC segment and tag only.\n\n" + table,
            encoding="utf-8")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"header": header, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
