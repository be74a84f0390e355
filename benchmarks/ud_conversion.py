"""How close the UD 1.4 -> v2 conversion (`zhnlp.ud_convert`) comes to the official v2.

Converts UD Chinese 1.4 (simplified) dev and compares it with UD_Chinese-GSDSimp v2 dev,
the same sentences re-annotated: heads, relations, both, and UPOS agree on how many words,
over the sentences whose words have the same boundaries in both (forms differ in some
characters and punctuation widths). Rows: no conversion, udapi's generic
`ud.Convert1to2` (when udapi is installed: `pip install udapi`), and ours. The rules were
chosen on dev; `--split test` scores them once on the test split, unseen while writing them.

    python benchmarks/ud_conversion.py [--split test]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing zhnlp

from zhnlp.corpora import Sentence, corpora_root, get_dataset, read_conll  # noqa: E402
from zhnlp.ud_convert import to_ud2  # noqa: E402


def udapi_convert1to2(split: str) -> list[Sentence] | None:
    """udapi's ud.Convert1to2 on the 1.4 split, read back with our CoNLL-U reader."""
    try:
        from udapi.block.ud.convert1to2 import Convert1to2
        from udapi.core.document import Document
    except ImportError:
        return None
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # its "ToDo overview" on stderr
    path = corpora_root() / get_dataset("ud14_simp").splits[split].path
    document = Document(str(path))
    Convert1to2().apply_on_document(document)
    return list(read_conll(document.to_conllu_string().splitlines()))


def agreement(converted: list[Sentence], official: list[Sentence]) -> dict[str, float]:
    words = heads = relations = both = upos = sentences = 0
    for ours, theirs in zip(converted, official, strict=True):
        if [len(w) for w in ours.words] != [len(w) for w in theirs.words]:
            continue
        sentences += 1
        for i in range(len(ours.words)):
            words += 1
            heads += ours.heads[i] == theirs.heads[i]
            relations += ours.deprels[i] == theirs.deprels[i]
            both += ours.heads[i] == theirs.heads[i] and ours.deprels[i] == theirs.deprels[i]
            upos += ours.upos[i] == theirs.upos[i]
    return {"sentences": sentences, "words": words, "heads": 100 * heads / words,
            "relations": 100 * relations / words, "heads+relations": 100 * both / words,
            "UPOS": 100 * upos / words}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=["dev", "test"], default="dev")
    args = parser.parse_args()
    ud14 = get_dataset("ud14_simp").read(args.split)
    official = get_dataset("ud2_gsdsimp").read(args.split)
    rows = {"UD 1.4 as is": ud14}
    generic = udapi_convert1to2(args.split)
    if generic is not None:
        rows["udapi ud.Convert1to2"] = generic
    rows["zhnlp.ud_convert.to_ud2"] = [to_ud2(sentence) for sentence in ud14]
    print(f"UD 1.4 {args.split} converted vs UD_Chinese-GSDSimp v2 {args.split}")
    print("| conversion | sentences | words | heads | relations | heads+relations | UPOS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sentences in rows.items():
        a = agreement(sentences, official)
        print(f"| {name} | {a['sentences']} | {a['words']} | {a['heads']:.1f} | "
              f"{a['relations']:.1f} | {a['heads+relations']:.1f} | {a['UPOS']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
