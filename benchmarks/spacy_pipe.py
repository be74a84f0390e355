"""spaCy's `nlp.pipe` with zhnlp as its tokenizer (`zhnlp.spacy`) against zhnlp's own batched
`Pipeline.__call__` on the same texts, in one run: what the spaCy Docs cost on top.

Rounds alternate the two (the machine drifts), each over N CTB6 test sentences with every
task of the model; the best round of each is compared. The spaCy Docs are checked to hold
zhnlp's words. Also timed: `nlp(text)` one text at a time on the first 200 (what `pipe`
saves). Writes benchmarks/results/spacy_pipe.md.

    python benchmarks/spacy_pipe.py --model base --sentences 2000 --threads 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per model batch")
    parser.add_argument("--pipe-batch", type=int, default=1000, help="texts per nlp.pipe group")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/spacy_pipe.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import spacy

    import zhnlp.spacy as zspacy
    from zhnlp.corpora import get_dataset

    all_texts = [s.text for s in get_dataset("ctb6").read("test")]
    texts = all_texts[: args.sentences]
    nlp = zspacy.load_pipeline(args.model, threads=args.threads, precision=args.precision,
                               batch_size=args.batch_size)
    pipeline = nlp.tokenizer.pipeline  # the same loaded model for both
    pipeline(texts[:50])  # warm-up (numba, first-call costs)

    zhnlp_times, spacy_times = [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        documents = pipeline(texts)
        zhnlp_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        docs = list(nlp.pipe(texts, batch_size=args.pipe_batch))
        spacy_times.append(time.perf_counter() - start)
    assert [[t.text for t in d if t.text.strip()] for d in docs] == [
        d.words for d in documents], "spaCy Docs differ from zhnlp's words"
    start = time.perf_counter()
    for text in texts[:200]:
        nlp(text)
    one_by_one = (time.perf_counter() - start) / min(200, len(texts))
    start = time.perf_counter()
    for document in documents:
        zspacy.to_spacy(nlp.vocab, document)
    convert = time.perf_counter() - start

    best_zhnlp, best_spacy = min(zhnlp_times), min(spacy_times)
    n = len(texts)
    rows = [
        ("zhnlp `Pipeline(texts)` (batched)", best_zhnlp, 1.0),
        (f"spaCy `nlp.pipe(texts, batch_size={args.pipe_batch})`", best_spacy,
         best_spacy / best_zhnlp),
        ("spaCy `nlp(text)`, one text at a time (first 200)", one_by_one * n,
         one_by_one * n / best_zhnlp),
    ]
    lines = [
        "# spaCy `nlp.pipe` over zhnlp vs zhnlp's own pipeline",
        "",
        f"`python benchmarks/spacy_pipe.py --model {args.model} --sentences {args.sentences} "
        f"--threads {args.threads} --rounds {args.rounds}`: CTB6 test, the first {n} sentences "
        f"({sum(map(len, texts))} characters; the split has {len(all_texts)}), every task "
        f"of `{args.model}` ({', '.join(pipeline.tasks)}), "
        f"{args.precision}, {args.threads} torch thread(s), {args.batch_size} sentences per "
        f"model batch; best of {args.rounds} alternating rounds. {platform.processor() or ''}"
        f" {os.cpu_count()} CPUs, shared with a background training job (timings drift; the "
        "ratio is what to read).",
        "",
        "| path | seconds | sentences/s | time vs zhnlp |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {seconds:.1f} | {n / seconds:.1f} | {ratio:.2f}× |"
          for name, seconds, ratio in rows],
        "",
        f"Rounds (s): zhnlp {', '.join(f'{t:.1f}' for t in zhnlp_times)}; spaCy pipe "
        f"{', '.join(f'{t:.1f}' for t in spacy_times)}. Building the spaCy Docs from the "
        f"Documents alone: {convert:.2f} s ({1000 * convert / n:.2f} ms a sentence). The "
        "one-at-a-time row is extrapolated from 200 texts.",
        "",
        f"spaCy {spacy.__version__}; the Docs' words were checked to equal zhnlp's.",
        "",
    ]
    Path(args.output).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
