"""Independent word-segmentation scorer: the logic of the SIGHAN bakeoff `score` script.

A cross-check for `zhnlp.metrics.cws_scores`, written without it: it imports nothing from
zhnlp and compares *word strings*, not character spans. Like the Perl original (Sproat and
Emerson, SIGHAN 2003/2005), for each pair of lines it aligns the gold and the system word
sequences with a minimal diff (longest common subsequence, what `diff -y` prints for inputs
this small) and counts, per change hunk of n gold and m system words, min(n, m)
substitutions plus the rest as deletions (gold side) or insertions (system side):

    recall    = (gold words - deletions - substitutions) / gold words
    precision = (system words - insertions - substitutions) / system words

OOV rate and OOV/IV recall use the dictionary (the training word list), counted over the gold
words as in the original. Lines pair by line number; an empty gold line is skipped.

    python benchmarks/sighan_score.py --words TRAIN_WORDS GOLD SYSTEM [--json]

prints the original's `=== SUMMARY` block (or one JSON object with --json).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# The Perl script turns U+3000 into a space, then splits on ASCII whitespace (it reads bytes).
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def split_words(line: str) -> list[str]:
    line = line.replace("\u3000", " ").strip(" \t\n\r\f\v")
    return [word for word in _SPACES.split(line) if word]


def lcs_pairs(gold: list[str], test: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of one longest common subsequence of two word lists."""
    start = 0  # common prefix and suffix first, as diff does
    while start < len(gold) and start < len(test) and gold[start] == test[start]:
        start += 1
    end_g, end_t = len(gold), len(test)
    while end_g > start and end_t > start and gold[end_g - 1] == test[end_t - 1]:
        end_g, end_t = end_g - 1, end_t - 1
    pairs = [(i, i) for i in range(start)]
    a, b = gold[start:end_g], test[start:end_t]
    if a and b:
        n, m = len(a), len(b)
        # table[i][j]: LCS length of a[i:] and b[j:]
        table = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            row, below = table[i], table[i + 1]
            for j in range(m - 1, -1, -1):
                row[j] = below[j + 1] + 1 if a[i] == b[j] else max(below[j], row[j + 1])
        i = j = 0
        while i < n and j < m:
            if a[i] == b[j]:
                pairs.append((start + i, start + j))
                i, j = i + 1, j + 1
            elif table[i + 1][j] >= table[i][j + 1]:
                i += 1
            else:
                j += 1
    pairs += [(end_g + k, end_t + k) for k in range(len(gold) - end_g)]
    return pairs


def score_line(gold: list[str], test: list[str]) -> dict[str, int | list[bool]]:
    """Diff counts of one line, plus which gold words the diff left unchanged."""
    pairs = lcs_pairs(gold, test) + [(len(gold), len(test))]  # sentinel closes the last hunk
    found = [False] * len(gold)
    ins = dele = subst = 0
    prev_g = prev_t = 0
    for g, t in pairs:
        n, m = g - prev_g, t - prev_t  # one change hunk between two unchanged words
        subst += min(n, m)
        dele += n - min(n, m)
        ins += m - min(n, m)
        if g < len(gold):
            found[g] = True
        prev_g, prev_t = g + 1, t + 1
    return {"ins": ins, "del": dele, "subst": subst, "found": found}


def score_files(gold_path: Path, test_path: Path, words: set[str] | None) -> dict:
    gold_lines = gold_path.read_text(encoding="utf-8").splitlines()
    test_lines = test_path.read_text(encoding="utf-8").splitlines()
    if any(line.strip() for line in gold_lines[len(test_lines):]):
        raise SystemExit(f"{test_path} has {len(test_lines)} lines, {gold_path} has "
                         f"{len(gold_lines)}: give one system line per gold line")
    totals = dict.fromkeys(["ins", "del", "subst", "true", "test", "oov", "oov_found", "iv",
                            "iv_found"], 0)
    for number, (gold_line, test_line) in enumerate(zip(gold_lines, test_lines), 1):
        gold, test = split_words(gold_line), split_words(test_line)
        if not gold:
            if test:
                print(f"warning: gold line {number} is empty but the system line is not",
                      file=sys.stderr)
            continue
        if "".join(gold) != "".join(test):
            print(f"warning: line {number}: gold and system spell different text",
                  file=sys.stderr)
        line = score_line(gold, test)
        for key in ("ins", "del", "subst"):
            totals[key] += line[key]
        totals["true"] += len(gold)
        totals["test"] += len(test)
        if words is not None:
            for word, found in zip(gold, line["found"]):
                kind = "iv" if word in words else "oov"
                totals[kind] += 1
                totals[kind + "_found"] += found
    recall = (totals["true"] - totals["del"] - totals["subst"]) / totals["true"]
    precision = (totals["test"] - totals["ins"] - totals["subst"]) / totals["test"]
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result = {
        "insertions": totals["ins"], "deletions": totals["del"],
        "substitutions": totals["subst"],
        "nchange": totals["ins"] + totals["del"] + totals["subst"],
        "true_words": totals["true"], "test_words": totals["test"],
        "recall": recall, "precision": precision, "f1": f1,
        "oov_rate": None, "oov_recall": None, "iv_recall": None,
    }
    if words is not None:
        result["oov_rate"] = totals["oov"] / totals["true"]
        result["oov_recall"] = totals["oov_found"] / totals["oov"] if totals["oov"] else None
        result["iv_recall"] = totals["iv_found"] / totals["iv"] if totals["iv"] else None
    return result


def read_words(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()}


def summary(result: dict) -> str:
    def number(value: float | None) -> str:
        return "--" if value is None else f"{value:.4f}"

    return "\n".join([
        "=== SUMMARY:",
        f"=== TOTAL INSERTIONS:\t{result['insertions']}",
        f"=== TOTAL DELETIONS:\t{result['deletions']}",
        f"=== TOTAL SUBSTITUTIONS:\t{result['substitutions']}",
        f"=== TOTAL NCHANGE:\t{result['nchange']}",
        f"=== TOTAL TRUE WORD COUNT:\t{result['true_words']}",
        f"=== TOTAL TEST WORD COUNT:\t{result['test_words']}",
        f"=== TOTAL TRUE WORDS RECALL:\t{number(result['recall'])}",
        f"=== TOTAL TEST WORDS PRECISION:\t{number(result['precision'])}",
        f"=== F MEASURE:\t{number(result['f1'])}",
        f"=== OOV Rate:\t{number(result['oov_rate'])}",
        f"=== OOV Recall Rate:\t{number(result['oov_recall'])}",
        f"=== IV Recall Rate:\t{number(result['iv_recall'])}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gold", type=Path, help="gold segmentation, one sentence per line")
    parser.add_argument("system", type=Path, help="system segmentation, same lines")
    parser.add_argument("--words", type=Path, help="training word list, one word a line (OOV)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = parser.parse_args(argv)
    words = read_words(args.words) if args.words else None
    result = score_files(args.gold, args.system, words)
    print(json.dumps(result) if args.json else summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
