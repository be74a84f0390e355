"""Issue 20: zhnlp models on the official UD v2 test (UD_Chinese-GSDSimp), comparable with
published results, beside the UD 1.4 test they were trained for.

CoNLL 2018 shared-task semantics: Tokens, UPOS, UAS and LAS are F1 over words aligned by
character span (`zhnlp.metrics.aligned_scores`, the scorer behind `zhnlp evaluate`); LAS
compares the universal relation only (`nmod:tmod` = `nmod`), as the official script does;
"LAS full" compares whole labels. Raw text: the model segments the text of each gold
sentence (the shared task also had systems split documents into sentences: ours are given
the gold sentences); gold words: the gold segmentation, pretokenized.

Columns: the v2 test with the default output (`ud_version=2`: a model trained on UD 1.4 has
its trees converted by `zhnlp.ud_convert`), the v2 test with the model's own UD 1.4 labels
(what the conversion gains), and the UD 1.4 test with its own labels (earlier tables); a
model trained on UD v2 labels has the v2 row only.
With udtools installed, the official scorer (`udtools.udeval`, the CoNLL 2018 script)
rescores the v2 predictions as `Document.to_conllu` writes them: a check of our scorer.
Published points are copied from their papers/model pages, not run here.

    python benchmarks/ud2_accuracy.py [--model LABEL=DIR ...] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing zhnlp

import torch  # noqa: E402

from zhnlp import metrics  # noqa: E402
from zhnlp.corpora import corpora_root, get_dataset  # noqa: E402
from zhnlp.evaluate import sentence_from_json  # noqa: E402
from zhnlp.pipeline import load  # noqa: E402

RESULTS_MD = ROOT / "benchmarks" / "results" / "ud2_accuracy.md"
TASKS = ["cws", "pos", "dep"]
PUBLISHED = [  # (system, raw Tokens, raw UPOS, raw UAS, raw LAS, gold UPOS, gold UAS, gold LAS)
    ("UDPipe 2 (UD 2.12 GSDSimp, published)", "90.29", "—", "—", "70.28", "96.10", "—",
     "83.97"),
    ("UDPipe 1.2 (UD 2.5 GSDSimp, published)", "—", "—", "—", "—", "—", "—", "69.0"),
]


def predict(pipeline, dataset, gold, gold_words: bool):
    """(system Sentences, the same analyses as CoNLL-U) for each gold sentence."""
    standard = dataset.standard if dataset.standard in pipeline.standards else None
    if gold_words:
        docs = pipeline([s.words for s in gold], TASKS[1:], standard, pretokenized=True)
    else:
        docs = pipeline([s.text for s in gold], TASKS, standard, split=False)
    system = []
    for sentence, doc in zip(gold, docs):
        record = doc.to_dict()
        record["text"] = sentence.text
        system.append(sentence_from_json(record))
    conllu = "".join(doc.to_conllu(str(number)) for number, doc in enumerate(docs, 1))
    return system, conllu


def scores(gold, system) -> dict[str, float]:
    universal = metrics.aligned_scores(gold, system, strip_subtypes=True)
    full = metrics.aligned_scores(gold, system)
    result = {name: universal[name]["F1"] for name in ("Tokens", "UPOS", "UAS", "LAS")}
    result["LAS full"] = full["LAS"]["F1"]
    return result


def official_scores(gold_path: Path, conllu: str) -> dict[str, float] | None:
    """The CoNLL 2018 script's F1s (udtools.udeval) on our CoNLL-U, or None without it."""
    try:
        from udtools.udeval import evaluate, load_conllu_file
    except ImportError:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".conllu", encoding="utf-8") as handle:
        handle.write(conllu)
        handle.flush()
        result = evaluate(load_conllu_file(str(gold_path)), load_conllu_file(handle.name))
    return {name: 100 * result[name].f1 for name in ("Tokens", "UPOS", "UAS", "LAS")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", metavar="LABEL=DIR",
                        help="default: zhnlp-base (shipped)=models/zhnlp-base")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    v2, v1 = get_dataset("ud2_gsdsimp"), get_dataset("ud14_simp")
    gold_v2, gold_v1 = v2.read("test"), v1.read("test")
    header = ("| model | output | test | raw Tokens | raw UPOS | raw UAS | raw LAS | raw LAS full "
              "| gold UPOS | gold UAS | gold LAS | gold LAS full |")
    rows, checks = [], []
    for spec in args.model or ["zhnlp-base (shipped)=models/zhnlp-base"]:
        label, _, model_dir = spec.partition("=")
        default = load(ROOT / model_dir)  # ud_version=2
        runs = [("UD v2 (trained on v2)", 2, v2, gold_v2)] if default.model_ud_version == 2 else [
            ("UD v2 (converted, default)", 2, v2, gold_v2),
            ("UD 1.4 labels as predicted", 1, v2, gold_v2),
            ("UD 1.4 labels as predicted", 1, v1, gold_v1)]
        for output, ud_version, dataset, gold in runs:
            pipeline = default if ud_version == 2 else load(ROOT / model_dir, ud_version=1)
            started = time.monotonic()
            raw_system, raw_conllu = predict(pipeline, dataset, gold, gold_words=False)
            gold_system, gold_conllu = predict(pipeline, dataset, gold, gold_words=True)
            raw, words = scores(gold, raw_system), scores(gold, gold_system)
            test = "v2 GSDSimp" if dataset is v2 else "UD 1.4 (simplified)"
            print(f"{label} / {output} / {test}: raw {raw}, gold words {words} "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
            cells = [f"{raw[k]:.2f}" for k in ("Tokens", "UPOS", "UAS", "LAS", "LAS full")]
            cells += [f"{words[k]:.2f}" for k in ("UPOS", "UAS", "LAS", "LAS full")]
            rows.append(f"| {label} | {output} | {test} | " + " | ".join(cells) + " |")
            if dataset is v2:
                gold_path = corpora_root() / v2.splits["test"].path
                for mode, conllu, ours in [("raw", raw_conllu, raw), ("gold", gold_conllu, words)]:
                    official = official_scores(gold_path, conllu)
                    if official is not None:
                        checks.append(f"| {label} | {output} | {mode} | " + " | ".join(
                            f"{ours[k]:.2f} / {official[k]:.2f}"
                            for k in ("Tokens", "UPOS", "UAS", "LAS")) + " |")
    rows += [f"| {name} | UD v2 | v2 GSDSimp | {raw_t} | {raw_u} | {raw_ua} | {raw_l} | — "
             f"| {gold_u} | {gold_ua} | {gold_l} | — |"
             for name, raw_t, raw_u, raw_ua, raw_l, gold_u, gold_ua, gold_l in PUBLISHED]
    lines = [
        "# UD v2 (GSDSimp) test: zhnlp beside published parsers",
        "",
        "Generated by `benchmarks/ud2_accuracy.py` (issue 20); do not edit by hand. Command:",
        "",
        "```",
        "python benchmarks/" + " ".join(sys.argv).split("benchmarks/", 1)[-1],
        "```",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. " + __doc__.split("\n\n")[1].replace(
            "\n", " ") + " Raw text uses the dataset's segmentation standard (ud).",
        "",
        header,
        "|---|---|---|" + "---:|" * 9,
        *rows,
    ]
    if checks:
        lines += ["", "Our scorer / the official CoNLL 2018 scorer (udtools.udeval) on the same "
                  "predictions (v2 test):", "",
                  "| model | output | input | Tokens | UPOS | UAS | LAS |",
                  "|---|---|---|---:|---:|---:|---:|", *checks]
    RESULTS_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[-len(rows) - len(checks) - 8:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
