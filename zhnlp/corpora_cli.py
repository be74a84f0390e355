"""`zhnlp corpora`: the dataset table, verified against the files under ZHNLP_CORPORA."""

from __future__ import annotations

import argparse
import sys

from zhnlp.corpora import corpora_root, load_manifest, verify_split


def main(args: argparse.Namespace) -> int:
    root = corpora_root()
    if not args.no_verify and not root.is_dir():
        print(f"zhnlp: error: corpora folder {root} does not exist: set ZHNLP_CORPORA to the "
              "shared corpora folder.", file=sys.stderr)
        return 1
    print(f"corpora root: {root}")
    print(f"{'dataset':<16} {'tasks':<12} {'format':<13} {'split':<6} {'sentences':>9}  file")
    problems = []
    for dataset in load_manifest().values():
        for split in dataset.splits.values():
            status = "" if args.no_verify else verify_split(dataset, split)
            if status:
                problems.append(status)
            where = split.path
            if split.lines:
                where += f" [lines {split.lines[0]}:{split.lines[1]}]"
            print(f"{dataset.name:<16} {','.join(dataset.tasks):<12} {dataset.format:<13} "
                  f"{split.split:<6} {split.sentences:>9}  {where}{'  FAILED' if status else ''}")
    for problem in problems:
        print(f"zhnlp: error: {problem}", file=sys.stderr)
    if not args.no_verify and not problems:
        print("all files present and unchanged")
    return 1 if problems else 0
