"""The results table of issue 5: test-split scores of trained zhnlp models, one row per model.

Rows: the single-task teachers of a run (each column scored with the teacher of its task),
any number of multitask models, and LTP's perceptron from `benchmarks/peers.py` where its
results are on disk. Every score comes from `zhnlp.evaluate` (the code behind
`zhnlp evaluate --model DIR`); test splits only, nothing is tuned on them.

    python benchmarks/accuracy.py --teachers runs/train-base/teachers \\
        --model "multitask, no distillation=runs/train-base-multitask/model" \\
        --model "multitask + distillation (shipped)=models/zhnlp-base" \\
        --int8 "shipped, int8 (--int8)=models/zhnlp-base"

Scores are cached per model file in runs/accuracy/ (delete it to rescore); the table goes to
benchmarks/results/accuracy.md. SIGHAN MSR has no training data here, so it is scored with
the model's default segmentation standard (cross-standard), like every peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing zhnlp

import torch  # noqa: E402

from zhnlp.corpora import file_sha256, get_dataset  # noqa: E402
from zhnlp.evaluate import predict_split, score  # noqa: E402
from zhnlp.model import PRIORS_FILE  # noqa: E402
from zhnlp.pipeline import Pipeline, load  # noqa: E402

CACHE = ROOT / "runs" / "accuracy"
RESULTS_MD = ROOT / "benchmarks" / "results" / "accuracy.md"
PEERS_JSON = ROOT / "runs" / "peers" / "results.json"


def aligned_or_plain(result: dict, task: str, metric: str) -> float:
    """A dependency score from raw text: CoNLL-2018 aligned F1, or the plain score when the
    predicted segmentation happened to equal gold everywhere."""
    if f"{task} (aligned)" in result:
        return result[f"{task} (aligned)"][metric]["F1"]
    return result[task][metric]


@dataclass(frozen=True)
class Column:
    header: str
    dataset: str
    task: str
    gold_words: bool  # predict from the gold segmentation, else from the raw text
    pick: Callable[[dict], float]


COLUMNS = [
    Column("CWS CTB6", "ctb6", "cws", False, lambda r: r["cws"]["F1"]),
    Column("CWS SIGHAN PKU", "sighan_pku", "cws", False, lambda r: r["cws"]["F1"]),
    Column("CWS SIGHAN MSR", "sighan_msr", "cws", False, lambda r: r["cws"]["F1"]),
    Column("UPOS (UD)", "ud14_simp", "pos", True, lambda r: r["pos upos"]["accuracy"]),
    Column("PKU-POS (pd1998)", "pd1998", "pos", True, lambda r: r["pos xpos"]["accuracy"]),
    Column("NER MSRA", "msra", "ner", False, lambda r: r["ner"]["F1"]),
    Column("UAS gold words", "ud14_simp", "dep", True, lambda r: r["dep"]["UAS"]),
    Column("LAS gold words", "ud14_simp", "dep", True, lambda r: r["dep"]["LAS"]),
    Column("UAS raw text", "ud14_simp", "dep", False,
           lambda r: aligned_or_plain(r, "dep", "UAS")),
    Column("LAS raw text", "ud14_simp", "dep", False,
           lambda r: aligned_or_plain(r, "dep", "LAS")),
    Column("SRL UP", "up", "srl", True, lambda r: r["srl"]["F1"]),
    Column("UPOS (UD v2)", "ud2_gsdsimp", "pos", True, lambda r: r["pos upos"]["accuracy"]),
    Column("LAS gold words (UD v2)", "ud2_gsdsimp", "dep", True, lambda r: r["dep"]["LAS"]),
    Column("LAS raw text (UD v2)", "ud2_gsdsimp", "dep", False,
           lambda r: aligned_or_plain(r, "dep", "LAS")),
    Column("SDP LF", "semeval16_news", "sdp", True, lambda r: r["sdp"]["LF"]["F1"]),
    Column("SDP non-local LF", "semeval16_news", "sdp", True, lambda r: r["sdp"]["NLF"]["F1"]),
]
UD1_DATASETS = {"ud14_simp"}  # scored on the model's own labels: UD 1.4 models only


@cache
def pipeline_for(model_dir: str, int8: bool, ud_version: int = 2) -> Pipeline:
    return load(model_dir, precision="int8" if int8 else "fp32", ud_version=ud_version)


@cache
def test_split(dataset: str) -> list:
    return get_dataset(dataset).read("test")


@cache  # hashing the weights once per model, not once per column
def model_key(model_dir: str, int8: bool) -> str:
    """Cache key: checksums of the model's weights and of its config less `meta` (the
    config holds inference settings such as piece_chars), so a changed model rescores."""
    config = json.loads(Path(model_dir, "config.json").read_text(encoding="utf-8"))
    config.pop("meta", None)
    settings = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    key = file_sha256(Path(model_dir, "model.safetensors"))[:12] + settings[:8]
    return key + ("-int8-per-token" if int8 else "")  # per-token int8 (zhnlp/encoder.py)


def evaluate(model_dir: str, column: Column, int8: bool = False) -> dict | None:
    """score() results of one model on one column's dataset/task/input; None when the model
    cannot do it (no such task, or raw text without a segmenter)."""
    pipeline = pipeline_for(model_dir, int8, get_dataset(column.dataset).ud_version)
    needs_segmenter = not column.gold_words and column.task != "ner"  # NER reads characters
    if column.task not in pipeline.tasks or (needs_segmenter and "cws" not in pipeline.tasks):
        return None
    if (column.dataset in UD1_DATASETS and column.task in ("pos", "dep")
            and pipeline.model_ud_version != 1):
        return None  # a model trained on UD v2 labels: its UD columns are the v2 ones
    mode = "gold" if column.gold_words else "raw"
    key = model_key(model_dir, int8)
    priors = Path(model_dir, PRIORS_FILE)
    if column.task in ("pos", "ner") and priors.exists():  # they change only these
        key += "-priors" + file_sha256(priors)[:8]
    path = CACHE / key / f"{column.dataset}.{column.task}.{mode}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    dataset, gold = get_dataset(column.dataset), test_split(column.dataset)
    started = time.monotonic()
    system = predict_split(pipeline, dataset, gold, [column.task], column.gold_words)
    result = score(dataset, gold, system, [column.task])
    result["seconds"] = round(time.monotonic() - started, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{model_dir}{' (int8)' if int8 else ''}: {column.dataset} {column.task} ({mode}) "
          f"{column.pick(result):.2f} in {result['seconds']} s", flush=True)
    return result


def peer_row() -> list[str] | None:
    """LTP's perceptron (trained here on the same train splits) from benchmarks/peers.py."""
    if not PEERS_JSON.exists():
        return None
    peers = json.loads(PEERS_JSON.read_text(encoding="utf-8"))
    cws = peers["cws"]["scores"]
    values = {
        "CWS CTB6": cws["ltp-ctb6"]["ctb6"]["F1"],
        "CWS SIGHAN PKU": cws["ltp-pd"]["sighan_pku"]["F1"],
        "CWS SIGHAN MSR": cws["ltp-pd"]["sighan_msr"]["F1"],
        "PKU-POS (pd1998)": peers["pos"]["gold_words"]["ltp-pd"]["accuracy"],
        "NER MSRA": peers["ner"]["ltp-msra"]["F1"],
    }
    return [f"{values[c.header]:.2f}" if c.header in values else "—" for c in COLUMNS]


def model_row(model_for_task: Callable[[str], str | None], int8: bool = False) -> list[str]:
    cells = []
    for column in COLUMNS:
        model_dir = model_for_task(column.task)
        result = evaluate(model_dir, column, int8) if model_dir else None
        cells.append("—" if result is None else f"{column.pick(result):.2f}")
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", metavar="DIR",
                        help="a run's teachers directory (DIR/<task>/best)")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--int8", action="append", default=[], metavar="LABEL=DIR",
                        help="a model run with its encoder quantized to int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS_MD, help="the table's file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[tuple[str, list[str]]] = []
    if args.teachers:
        def teacher(task: str) -> str | None:
            best = Path(args.teachers, task, "best")
            return str(best) if (best / "config.json").exists() else None
        rows.append(("single-task teachers", model_row(teacher)))
    for spec, int8 in [(spec, False) for spec in args.model] + [(s, True) for s in args.int8]:
        label, _, model_dir = spec.partition("=")
        rows.append((label, model_row(lambda task, model_dir=model_dir: model_dir, int8)))
    peers = peer_row()
    if peers:
        rows.append(("LTP perceptron (peers.py)", peers))
    header = "| model | " + " | ".join(c.header for c in COLUMNS) + " |"
    lines = [
        "# Accuracy of trained models on the test splits",
        "",
        "Generated by `benchmarks/accuracy.py` (issue 5); do not edit by hand. Command:",
        "",
        "```",
        "python benchmarks/" + shlex.join(sys.argv).split("benchmarks/", 1)[-1],
        "```",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. CWS: word F1 from raw text with the "
        "dataset's segmentation standard (SIGHAN MSR: none trained, the model's default "
        "standard, cross-standard). POS: accuracy on gold words (UD 1.4 simplified UPOS; "
        "People's Daily PKU tags on the pd1998 test split). NER: exact-span F1. DEP: UD "
        "1.4 simplified test, gold words, and from raw text (CoNLL-2018 aligned F1). SRL: "
        "Universal Propositions test, labelled argument F1 on gold words. UD v2: the official "
        "GSDSimp v2 test (a UD 1.4 model's output converted, `zhnlp.ud_convert`); a model "
        "trained on UD v2 labels has — in the UD 1.4 columns (other labels). SDP: SemEval-2016 "
        "news.valid (our re-split's test), gold words, labelled F1 of all arcs and of the "
        "non-local (multi-head) arcs. — = the model has no such task or input. A model "
        "with priors.json decodes POS and NER with its priors from the training data "
        "(`zhnlp tune-priors`). LTP: legacy perceptron "
        "trained here on the same train splits (CTB6 column: ltp-ctb6; PKU/MSR/POS: ltp-pd; "
        "NER: ltp-msra).",
        "",
        header,
        "|---|" + "---:|" * len(COLUMNS),
    ]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[-len(rows) - 2:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
