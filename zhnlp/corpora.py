"""Readers for every corpus format under ZHNLP_CORPORA, and the dataset registry.

One reader per format; each yields `Sentence` records, never raw rows. Which file of which
dataset uses which reader is written down once, in `corpora/manifest.toml`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from zhnlp.errors import ZhnlpError
from zhnlp.sentence import Entity, Predicate, Sentence
from zhnlp.ud_convert import to_ud2 as convert_to_ud2

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = PROJECT_ROOT / "corpora" / "manifest.toml"


def corpora_root() -> Path:
    return Path(os.environ.get("ZHNLP_CORPORA", PROJECT_ROOT.parent / "shared" / "corpora"))


def open_text(path: Path) -> Iterator[str]:
    """Lines of a UTF-8 (optionally gzip'd) file, without line endings."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\r\n")


# ---------------------------------------------------------------------------------------
# Readers, one per format


def read_segmented(lines: Iterable[str], strip_brackets: bool = False) -> Iterator[Sentence]:
    """Words separated by runs of whitespace (one or two spaces, or U+3000)."""
    for line in lines:
        words = line.split()
        if strip_brackets:  # People's Daily compounds: "[中国 驻 西班牙 大使馆]nt"
            words = [_strip_bracket(word) for word in words]
        words = [word for word in words if word]
        if words:
            yield Sentence(text="".join(words), words=words)


def _strip_bracket(word: str) -> str:
    if len(word) > 1 and word.startswith("["):
        word = word[1:]
    if len(word) > 1 and "]" in word[1:]:
        word = word[: word.rindex("]")]
    return word


def read_word_tag(lines: Iterable[str], separator: str = "/") -> Iterator[Sentence]:
    """Tokens `word/TAG` (People's Daily) or `word_TAG` (CTB style), whitespace-separated."""
    for line in lines:
        words, tags = [], []
        for token in line.split():
            word, sep, tag = token.rpartition(separator)
            if not sep or not word:
                raise ValueError(f"token {token!r} has no {separator!r}TAG")
            words.append(word)
            tags.append(tag)
        if words:
            yield Sentence(text="".join(words), words=words, xpos=tags)


def _conll_blocks(
    lines: Iterable[str], separator: str = "\t"
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(comment lines, token rows) for each blank-line separated block."""
    comments: list[str] = []
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            if rows:
                yield comments, rows
            comments, rows = [], []
        elif line.startswith("#") and not rows and separator == "\t":
            comments.append(line)
        else:
            rows.append(line.split(separator))
    if rows:
        yield comments, rows


def _word_rows(rows: list[list[str]]) -> list[list[str]]:
    """Drop CoNLL-U multiword ranges (1-2) and empty nodes (1.1)."""
    return [row for row in rows if row[0].isdigit()]


def read_conll(lines: Iterable[str], to_ud2: bool = False) -> Iterator[Sentence]:
    """CoNLL-U or CoNLL-X (10 columns). Repeated token ids (SemEval-2016 graphs) become arcs.
    `to_ud2`: UD 1.4 trees converted to UD v2 as they are read (`zhnlp.ud_convert`)."""

    for _comments, rows in _conll_blocks(lines):
        rows = _word_rows(rows)
        sentence = _conll_sentence(rows)
        sentence.predicates = _misc_predicates(rows)
        yield convert_to_ud2(sentence) if to_ud2 else sentence


def _misc_predicates(rows: list[list[str]]) -> list[Predicate] | None:
    """Semantic roles from MISC as `zhnlp tag --format conllu` writes them: `Pred=Yes` on
    predicates, `SRL=PRED:ROLE,...` and `SRLSpan=PRED:FIRST-LAST,...` on the arguments' head
    words (PRED, FIRST, LAST: token ids); None when no row has them."""
    index = {row[0]: i for i, row in enumerate(rows)}
    misc = [dict(item.partition("=")[::2] for item in row[9].split("|"))
            if len(row) > 9 else {} for row in rows]
    if not any("Pred" in items or "SRL" in items for items in misc):
        return None
    predicates = {i: Predicate(i, "_", [], []) for i, items in enumerate(misc)
                  if items.get("Pred") == "Yes"}
    for word, items in enumerate(misc):
        spans = dict(entry.split(":", 1) for entry in items.get("SRLSpan", "").split(",")
                     if ":" in entry)
        for entry in items["SRL"].split(",") if "SRL" in items else []:
            head, _, role = entry.partition(":")
            if head not in index or not role:
                raise ValueError(f"MISC SRL={items['SRL']!r} is not PRED:ROLE,... with "
                                 "PRED a token id of the sentence")
            predicate = predicates.setdefault(index[head], Predicate(index[head], "_", [], []))
            first, _, last = spans.get(head, "").partition("-")
            span = ((index[first], index[last] + 1) if first in index and last in index
                    else (word, word + 1))
            predicate.arguments.append((word, role))
            predicate.spans.append(span)
    return [predicates[i] for i in sorted(predicates)]


def _conll_sentence(rows: list[list[str]]) -> Sentence:
    first_rows: dict[str, list[str]] = {}
    for row in rows:
        first_rows.setdefault(row[0], row)
    words = [row[1] for row in first_rows.values()]
    arcs = [(int(row[0]), _head(row[6]), row[7]) for row in rows]
    return Sentence(
        text="".join(words),
        words=words,
        upos=[row[3] for row in first_rows.values()],
        xpos=[row[4] for row in first_rows.values()],
        heads=[_head(row[6]) for row in first_rows.values()],
        deprels=[row[7] for row in first_rows.values()],
        arcs=arcs if len(arcs) > len(first_rows) else None,
    )


def _head(column: str) -> int:
    """HEAD column; "_" (not parsed) reads as 0."""
    return int(column) if column.isdigit() else 0


def read_propositions(lines: Iterable[str]) -> Iterator[Sentence]:
    """Universal Propositions: CoNLL-U columns 1-8, col 9 `Y` marks a predicate, col 10
    its sense, then one argument column per predicate (in word order)."""
    for _comments, rows in _conll_blocks(lines):
        rows = _word_rows(rows)
        sentence = _conll_sentence(rows)
        sentence.predicates = []
        predicate_rows = [i for i, row in enumerate(rows) if row[8] == "Y"]
        for column, index in enumerate(predicate_rows, start=10):
            arguments = [(i, row[column]) for i, row in enumerate(rows) if row[column] != "_"]
            sentence.predicates.append(Predicate(index, rows[index][9], arguments))
        yield sentence


def read_char_tags(
    lines: Iterable[str], separator: str = "\t", position_suffix: bool = False
) -> Iterator[Sentence]:
    """One `CHAR<separator>TAG` per line, blank line between sentences. Typed tags (B-PER,
    M-LOC …, O) give entities; untyped tags (B/M/I/E/S only) give words. `position_suffix`:
    Weibo NER characters carry their position in a word after them (科0, p10)."""
    for _comments, rows in _conll_blocks(lines, separator):
        chars = [separator.join(row[:-1]) for row in rows]
        if position_suffix:
            chars = [char[0] for char in chars]
        tags = [row[-1] for row in rows]
        text = "".join(chars)
        if len(text) != len(chars):
            raise ValueError(f"a row holds more than one character near {text[:20]!r}")
        spans = tags_to_spans(tags)
        if all(tag in {"B", "M", "I", "E", "S"} for tag in tags):  # untyped, no O: segmentation
            yield Sentence(text=text, words=[text[start:end] for _, start, end in spans])
        else:
            yield Sentence(text=text, entities=[Entity(lab, s, e) for lab, s, e in spans])


def read_iob2_words(lines: Iterable[str]) -> Iterator[Sentence]:
    """Universal NER: `ID TOKEN TAG - ANNOTATOR` rows with word-level IOB2 tags."""
    for _comments, rows in _conll_blocks(lines):
        words = [row[1] for row in rows]
        sentence = Sentence(text="".join(words), words=words, entities=[])
        spans = sentence.word_spans()
        for label, first, last in tags_to_spans([row[2] for row in rows]):
            sentence.entities.append(Entity(label, spans[first][0], spans[last - 1][1]))
        yield sentence


def read_cluener(lines: Iterable[str]) -> Iterator[Sentence]:
    """CLUENER JSON lines: {"text", "label": {type: {mention: [[start, end_inclusive]]}}}."""
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        entities = [
            Entity(label, start, end + 1)
            for label, mentions in record.get("label", {}).items()
            for positions in mentions.values()
            for start, end in positions
        ]
        entities.sort(key=lambda entity: (entity.start, entity.end))
        yield Sentence(text=record["text"], entities=entities)


def tags_to_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(label, start, end) spans from BIO / BIOES / BMES / BIES tags, untyped or typed.

    Lenient like conlleval: an I/M/E that does not continue the open span starts a new one.
    """
    spans: list[tuple[str, int, int]] = []
    label, start = None, 0
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if prefix == "O":
            if label is not None:
                spans.append((label, start, i))
            label = None
            continue
        continues = prefix in "IME" and label == kind
        if not continues:
            if label is not None:
                spans.append((label, start, i))
            label, start = kind, i
        if prefix in "ES":
            spans.append((label, start, i + 1))
            label = None
    if label is not None:
        spans.append((label, start, len(tags)))
    return spans


READERS = {
    "segmented": read_segmented,
    "word_tag": read_word_tag,
    "conll": read_conll,
    "propositions": read_propositions,
    "char_tags": read_char_tags,
    "iob2_words": read_iob2_words,
    "cluener": read_cluener,
}


# ---------------------------------------------------------------------------------------
# Dataset registry (corpora/manifest.toml)


@dataclass
class SplitFile:
    dataset: str
    split: str
    path: str  # relative to corpora_root()
    sentences: int
    sha256: str
    lines: tuple[int, int] | None = None  # a slice of the file's lines, for derived splits


@dataclass
class Dataset:
    name: str
    tasks: list[str]
    format: str
    options: dict
    splits: dict[str, SplitFile]
    description: str = ""
    words_list: str | None = None  # official training word list (for OOV), if any
    standard: str | None = None  # segmentation standard of its words (ctb, pku, ud, ...)
    ud_version: int = 2  # its UD labels: 1 for UD 1.4 (dobj, case:dec, ...), else 2

    def read(self, split: str) -> list[Sentence]:
        if split not in self.splits:
            raise ZhnlpError(
                f"dataset {self.name!r} has no {split!r} split; it has: {', '.join(self.splits)}."
            )
        return list(iter_split(self, self.splits[split]))


def iter_split(dataset: Dataset, split: SplitFile) -> Iterator[Sentence]:
    path = corpora_root() / split.path
    if not path.exists():
        raise ZhnlpError(
            f"corpus file {path} is missing; set ZHNLP_CORPORA to the folder that holds "
            f"{split.path}."
        )
    lines: Iterable[str] = open_text(path)
    if split.lines is not None:
        first, last = split.lines
        lines = (line for number, line in enumerate(lines) if first <= number < last)
    yield from READERS[dataset.format](lines, **dataset.options)


@lru_cache(maxsize=1)
def load_manifest(path: Path = MANIFEST_PATH) -> dict[str, Dataset]:
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    datasets = {}
    for name, entry in raw["dataset"].items():
        splits = {
            split: SplitFile(
                dataset=name,
                split=split,
                path=spec["path"],
                sentences=spec["sentences"],
                sha256=spec["sha256"],
                lines=tuple(spec["lines"]) if "lines" in spec else None,
            )
            for split, spec in entry["splits"].items()
        }
        datasets[name] = Dataset(
            name=name,
            tasks=entry["tasks"],
            format=entry["format"],
            options=entry.get("options", {}),
            splits=splits,
            description=entry.get("description", ""),
            words_list=entry.get("words_list"),
            standard=entry.get("standard"),
            ud_version=entry.get("ud_version", 2),
        )
    return datasets


def get_dataset(name: str) -> Dataset:
    datasets = load_manifest()
    if name not in datasets:
        raise ZhnlpError(f"unknown dataset {name!r}; known datasets: {', '.join(datasets)}.")
    return datasets[name]


def read_words_list(dataset: Dataset) -> set[str] | None:
    """The official training word list of a test-only dataset (SIGHAN), or None."""
    if dataset.words_list is None:
        return None
    return {line.strip() for line in open_text(corpora_root() / dataset.words_list) if line.strip()}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_split(dataset: Dataset, split: SplitFile) -> str | None:
    """None when the file is present and unchanged, else one sentence naming the problem."""
    path = corpora_root() / split.path
    if not path.exists():
        return (f"{path} is missing: set ZHNLP_CORPORA to the shared corpora folder "
                f"(now {corpora_root()}).")
    if file_sha256(path) != split.sha256:
        return (f"{path} differs from the manifest (sha256 mismatch): restore the original "
                f"file from shared/corpora.")
    count = sum(1 for _ in iter_split(dataset, split))
    if count != split.sentences:
        return f"{path} gives {count} sentences, the manifest says {split.sentences}."
    return None


def evaluation_texts() -> set[str]:
    """Normalised text of every dev and test sentence of every dataset (for de-duplicating
    pretraining text). Files that are missing are skipped."""
    from zhnlp.text import normalize

    texts = set()
    for dataset in load_manifest().values():
        for split in dataset.splits.values():
            if split.split == "train" or not (corpora_root() / split.path).exists():
                continue
            texts.update(normalize(sentence.text) for sentence in iter_split(dataset, split))
    return texts
