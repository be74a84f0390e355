"""Batch invariance (issue 19): does a sentence get the same analysis alone as in a batch?

Analyses N test sentences one at a time (batch_size=1, no padding, no neighbours) and in
batches (the Pipeline sorts by length, so each batch holds sentences of similar length),
and in batches where every sentence sits beside the longest ones of the set (padding of up
to the longest sentence's length), then counts the sentences whose analysis (every task:
the full `Document.to_dict()`) differs. Goal: 0 for every precision.

    python benchmarks/batch_invariance.py --model base --precision int8 --sentences 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--dataset", default="ctb6")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import zhnlp
    from zhnlp.corpora import get_dataset

    texts = [s.text for s in get_dataset(args.dataset).read("test")][: args.sentences]
    nlp = zhnlp.load(args.model, threads=args.threads, precision=args.precision)
    start = time.perf_counter()
    alone = [nlp(text, split=False).to_dict() for text in texts]
    seconds_alone = time.perf_counter() - start
    batched = [d.to_dict() for d in nlp(texts, split=False, batch_size=args.batch_size)]
    # each sentence in a batch with the longest sentences of the set (the most padding)
    longest = sorted(range(len(texts)), key=lambda i: -len(texts[i]))[: args.batch_size - 1]
    padded = [nlp([text] + [texts[i] for i in longest], split=False,
                  batch_size=args.batch_size)[0].to_dict() for text in texts[:200]]
    report = {
        "model": args.model, "precision": args.precision, "sentences": len(texts),
        "threads": args.threads, "batch_size": args.batch_size,
        "differ_batched": sum(a != b for a, b in zip(alone, batched)),
        "differ_beside_longest (first 200)": sum(a != b for a, b in zip(alone, padded)),
        "alone_sentences_per_s": round(len(texts) / seconds_alone, 1),
    }
    print(json.dumps(report, ensure_ascii=False))


if __name__ == "__main__":
    main()
