"""What the default segmentation standard costs the word-level tasks: POS and dependency
scores on the UD 1.4 test from raw text (CoNLL-2018 aligned scoring, words matched by
character span), with each segmentation standard the model offers.

    python benchmarks/standards.py --model base [--precision int8]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--dataset", default="ud14_simp")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import zhnlp
    from zhnlp.corpora import get_dataset
    from zhnlp.evaluate import score, sentence_from_json

    nlp = zhnlp.load(args.model, threads=1, precision=args.precision)
    dataset = get_dataset(args.dataset)
    gold = dataset.read("test")
    tasks = ["cws", "pos", "dep"]
    for standard in nlp.standards:
        docs = nlp([s.text for s in gold], tasks, standard, split=False)
        system = []
        for sentence, doc in zip(gold, docs):
            record = doc.to_dict()
            record["text"] = sentence.text
            system.append(sentence_from_json(record))
        result = score(dataset, gold, system, tasks)
        aligned = {name: value for name, value in result.items() if "aligned" in name}
        print(json.dumps({"standard": standard, "cws F1": result["cws"]["F1"], **aligned},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
