"""Pretraining data: a cached preparation stage, then examples and batches.

`prepare()` reads the raw text (legal text down-sampled) and the *train* splits of the
labelled corpora, normalises it, splits it into sentences, drops every sentence that is a
dev/test sentence of any corpus (or contains one of 15+ characters) and exact duplicates,
keeps a few raw-text lines apart as a held-out set, builds the character vocabulary,
segments with jieba (word boundaries for whole-word masking), trains word2vec and writes
the similar-word table. Everything goes to one directory as .npy / .json / .txt files
(no pickle); a `DONE` file marks it complete. Run it on its own with

    python -m zhnlp.pretrain.data configs/pretrain-base.toml
"""

from __future__ import annotations

import json
import logging
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from zhnlp.corpora import corpora_root, evaluation_texts, load_manifest, open_text
from zhnlp.pretrain.config import DataConfig, load_config, project_path
from zhnlp.pretrain.masking import WordTable, corrupt
from zhnlp.text import normalize, split_long, split_sentences
from zhnlp.tokenizer import (
    DROPPED,
    CharTokenizer,
    build_vocab,
    count_chars,
    is_dropped,
    lookup_form,
)

log = logging.getLogger(__name__)
CONTAINED_MIN = 15  # an evaluation sentence this long is also removed when contained
SHORT = 5  # removed sentences shorter than this ("(完)", "“") are counted apart
SIMILAR_FILE = "similar_words.json"


# ---------------------------------------------------------------------------------------
# Removing evaluation sentences


def _key(text: str) -> str:
    return "".join(text.split())


class EvalFilter:
    """Matches pretraining sentences against dev/test sentences (whitespace ignored):
    equal to an evaluation sentence or to one of its sentences, or containing one of
    CONTAINED_MIN characters or more."""

    def __init__(self, texts: set[str]) -> None:
        self.exact: set[str] = set()
        self.by_prefix: dict[str, list[str]] = {}
        for text in texts:
            pieces = [_key(text)] + [_key(text[s:e]) for s, e in split_sentences(text)]
            for piece in pieces:
                if not piece:
                    continue
                self.exact.add(piece)
                if len(piece) >= CONTAINED_MIN:
                    self.by_prefix.setdefault(piece[:CONTAINED_MIN], []).append(piece)

    def exact_match(self, key: str) -> bool:
        return key in self.exact

    def contains(self, key: str) -> bool:
        for i in range(len(key) - CONTAINED_MIN + 1):
            pieces = self.by_prefix.get(key[i : i + CONTAINED_MIN])
            if pieces and any(key.startswith(piece, i) for piece in pieces):
                return True
        return False


# ---------------------------------------------------------------------------------------
# Reading the sources


def raw_files(config: DataConfig) -> list[Path]:
    folder = Path(config.raw_dir) if config.raw_dir else corpora_root() / "raw_text"
    if config.raw_files:
        return [folder / name for name in config.raw_files]
    return sorted(p for p in folder.iterdir() if p.name.endswith((".txt", ".txt.gz")))


def _fraction(config: DataConfig, path: Path) -> float:
    for prefix, fraction in config.sample.items():
        if path.name.startswith(prefix):
            return fraction
    return 1.0


def iter_sources(config: DataConfig) -> Iterator[tuple[str, Iterator[tuple[str, bool]]]]:
    """(source name, lines) pairs; each line is (normalised text, held out?)."""
    for path in raw_files(config):
        yield path.name, _raw_lines(config, path)
    if config.labelled:
        datasets = load_manifest()
        names = list(datasets) if config.labelled == "all" else list(config.labelled)
        for name in names:
            if "train" in datasets[name].splits:
                yield f"{name}/train", _labelled_lines(config, datasets[name])


def _raw_lines(config: DataConfig, path: Path) -> Iterator[tuple[str, bool]]:
    rng = np.random.default_rng([config.seed, zlib.crc32(path.name.encode())])
    fraction = _fraction(config, path)
    count = 0
    for line in open_text(path):
        if fraction < 1.0 and rng.random() >= fraction:
            continue
        heldout = zlib.crc32(line.encode()) % 1000 < config.heldout_per_mille
        yield normalize(line), heldout
        count += 1
        if count == config.max_lines_per_source:
            return


def _labelled_lines(config: DataConfig, dataset) -> Iterator[tuple[str, bool]]:
    for count, sentence in enumerate(dataset.read("train"), start=1):
        yield normalize(sentence.text), False
        if count == config.max_lines_per_source:
            return


# ---------------------------------------------------------------------------------------
# The preparation stage


@dataclass
class Collected:
    sentences: list[str]
    docs: list[int]


def collect(config: DataConfig, eval_texts: set[str]) -> tuple[Collected, Collected, dict]:
    """Train and held-out sentences (with document numbers), and counts for the report."""
    filter_ = EvalFilter(eval_texts)
    max_chars = config.seq_length - 3
    train, heldout = Collected([], []), Collected([], [])
    seen: set[int] = set()
    stats: dict = {"sources": {}, "eval_sentences": len(eval_texts)}
    doc = 0
    for source, lines in iter_sources(config):
        counts = dict.fromkeys(
            ["lines", "sentences", "chars", "removed_eval_exact", "removed_eval_short",
             "removed_eval_contained",
             "duplicates", "heldout_sentences"], 0)
        for line, is_heldout in tqdm(lines, desc=f"read {source}", unit=" lines",
                                     mininterval=5, file=sys.stderr):
            counts["lines"] += 1
            doc += 1
            target = heldout if is_heldout else train
            for start, end in split_sentences(line):
                for s, e in split_long(line, start, end, max_chars):
                    sentence = line[s:e]
                    key = _key(sentence)
                    if filter_.exact_match(key):
                        short = len(key) < SHORT
                        counts["removed_eval_short" if short else "removed_eval_exact"] += 1
                    elif len(key) >= CONTAINED_MIN and filter_.contains(key):
                        counts["removed_eval_contained"] += 1
                    elif hash(key) in seen:
                        counts["duplicates"] += 1
                    else:
                        seen.add(hash(key))
                        target.sentences.append(sentence)
                        target.docs.append(doc)
                        counts["heldout_sentences" if is_heldout else "sentences"] += 1
                        counts["chars"] += len(key)
        stats["sources"][source] = counts
        log.info("%s: %s", source, counts)
    for name in ["removed_eval_exact", "removed_eval_short", "removed_eval_contained",
                 "duplicates", "sentences", "heldout_sentences", "chars"]:
        stats[name] = sum(c[name] for c in stats["sources"].values())
    return train, heldout, stats


def encode_sentences(
    sentences: list[str], tokenizer: CharTokenizer, words_out=None, desc: str = "segment"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Char ids, word-start flags (jieba words) and sentence offsets; whitespace dropped.
    With words_out, also write one line of space-separated words per sentence there."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    ids_parts: list[np.ndarray] = []
    start_parts: list[np.ndarray] = []
    offsets = [0]
    for sentence in tqdm(sentences, desc=desc, unit=" sents", mininterval=5, file=sys.stderr):
        char_ids = tokenizer.char_ids(sentence)
        flags = bytearray(len(sentence))
        position = 0
        words = []
        for word in jieba.cut(sentence):
            flags[position] = 1
            position += len(word)
            if words_out is not None:
                form = "".join(lookup_form(c) for c in word if not is_dropped(c))
                if form:
                    words.append(form)
        kept_ids, kept_starts = [], []
        pending = True  # the first kept character starts a word
        for char_id, flag in zip(char_ids, flags):
            if char_id == DROPPED:
                pending = pending or bool(flag)
                continue
            kept_ids.append(char_id)
            kept_starts.append(1 if (flag or pending) else 0)
            pending = False
        ids_parts.append(np.array(kept_ids, dtype=np.uint16))
        start_parts.append(np.array(kept_starts, dtype=np.uint8))
        offsets.append(offsets[-1] + len(kept_ids))
        if words_out is not None:
            words_out.write(" ".join(words) + "\n")
    empty_u16, empty_u8 = np.zeros(0, np.uint16), np.zeros(0, np.uint8)
    return (np.concatenate(ids_parts or [empty_u16]), np.concatenate(start_parts or [empty_u8]),
            np.array(offsets, dtype=np.int64))


def make_blocks(
    offsets: np.ndarray, docs: np.ndarray, max_content: int, seed: int
) -> np.ndarray:
    """Pack consecutive sentences into blocks of at most max_content characters.

    Rows (start, split, end, sop): characters [start, split) are segment A and [split,
    end) segment B, cut at a sentence boundary; sop = 1 when A and B are consecutive text of
    one document (eligible for sentence-order prediction). A block starts anew at a new
    document once it is half full, so short documents are packed together."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, int, int]] = []
    current: list[int] = []  # sentence indices

    def emit() -> None:
        if not current:
            return
        start, end = int(offsets[current[0]]), int(offsets[current[-1] + 1])
        cuts = current[1:]
        same_doc = [i for i in cuts if docs[i] == docs[i - 1]]
        if same_doc:
            cut, sop = int(rng.choice(same_doc)), 1
        elif cuts:
            cut, sop = int(rng.choice(cuts)), 0
        else:
            cut, sop = current[-1] + 1, 0
        if end > start:
            rows.append((start, int(offsets[cut]), end, sop))

    length = 0
    for i in range(len(offsets) - 1):
        size = int(offsets[i + 1] - offsets[i])
        new_doc = i > 0 and docs[i] != docs[i - 1]
        if current and (length + size > max_content or (new_doc and length >= max_content // 2)):
            emit()
            current, length = [], 0
        current.append(i)
        length += size
    emit()
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def train_word2vec(config: DataConfig, words_file: Path, out_dir: Path):
    from gensim.models import Word2Vec

    log.info("word2vec on %s", words_file)
    model = Word2Vec(
        corpus_file=str(words_file), vector_size=config.w2v_dim, window=config.w2v_window,
        min_count=config.w2v_min_count, workers=config.workers, epochs=config.w2v_epochs,
        sg=0, seed=config.seed,
    )
    model.wv.save_word2vec_format(str(out_dir / "word2vec.bin"), binary=True)
    return model.wv


def similar_words(wv, tokenizer: CharTokenizer, top_k: int, max_words: int) -> dict:
    """word -> up to top_k nearest words of the same length (cosine, most similar first)."""
    words = wv.index_to_key[:max_words]
    vectors = wv.get_normed_vectors()[: len(words)]
    groups: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        ids = tokenizer.char_ids(word)
        if len(ids) == len(word) and tokenizer.unk_id not in ids and DROPPED not in ids:
            groups.setdefault(len(word), []).append(i)
    table: dict[str, list[str]] = {}
    for indices in tqdm(groups.values(), desc="similar words", file=sys.stderr):
        if len(indices) < 2:
            continue
        group = vectors[indices]
        k = min(top_k, len(indices) - 1)
        for first in range(0, len(indices), 1024):
            sims = group[first : first + 1024] @ group.T
            rows = np.arange(sims.shape[0])
            sims[rows, rows + first] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
            top = np.take_along_axis(top, order, axis=1)
            for row, neighbours in enumerate(top):
                table[words[indices[first + row]]] = [words[indices[j]] for j in neighbours]
    return table


def prepare(config: DataConfig, out_dir: Path, eval_texts: set[str] | None = None) -> dict:
    """Run the preparation stage into out_dir (skipped when out_dir/DONE exists)."""
    out_dir = Path(out_dir)
    if (out_dir / "DONE").exists():
        return json.loads((out_dir / "stats.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.time()
    if eval_texts is None:
        eval_texts = evaluation_texts()
    train, heldout, stats = collect(config, eval_texts)
    log.info("removed dev/test sentences: %d equal (+%d shorter than %d chars), %d containing "
             "one; %d duplicates", stats["removed_eval_exact"], stats["removed_eval_short"],
             SHORT, stats["removed_eval_contained"], stats["duplicates"])

    if config.vocab_from:
        tokenizer = CharTokenizer.from_pretrained(project_path(config.vocab_from))
        vocab = tokenizer.vocab
    else:
        vocab = build_vocab(count_chars(train.sentences), config.vocab_min_count,
                            config.vocab_max_chars)
        tokenizer = CharTokenizer(vocab)
    tokenizer.save_pretrained(out_dir / "tokenizer")
    stats["vocab_size"] = len(vocab)

    words_file = out_dir / "words.txt"
    with open(words_file, "w", encoding="utf-8") as words_out:
        parts = {"train": encode_sentences(train.sentences, tokenizer, words_out, "segment train")}
    parts["heldout"] = encode_sentences(heldout.sentences, tokenizer, desc="segment heldout")
    for split, (ids, starts, offsets) in parts.items():
        docs = np.array((train if split == "train" else heldout).docs, dtype=np.int64)
        blocks = make_blocks(offsets, docs, config.seq_length - 3, config.seed)
        np.save(out_dir / f"{split}_ids.npy", ids)
        np.save(out_dir / f"{split}_word_starts.npy", starts)
        np.save(out_dir / f"{split}_blocks.npy", blocks)
        stats[f"{split}_tokens"] = int(len(ids))
        stats[f"{split}_blocks"] = int(len(blocks))
        stats[f"{split}_sop_blocks"] = int(blocks[:, 3].sum()) if len(blocks) else 0
        if split == "train":
            unk = int((ids == tokenizer.unk_id).sum())
            stats["train_unk_rate"] = unk / max(1, len(ids))

    wv = train_word2vec(config, words_file, out_dir)
    table = similar_words(wv, tokenizer, config.similar_top_k, config.similar_max_words)
    with open(out_dir / SIMILAR_FILE, "w", encoding="utf-8") as handle:
        json.dump(table, handle, ensure_ascii=False)
    stats["w2v_words"] = len(wv.index_to_key)
    stats["similar_words"] = len(table)
    stats["seconds"] = round(time.time() - began, 1)
    stats["config"] = config.__dict__
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False))
    (out_dir / "DONE").write_text("ok\n")
    log.info("prepared data in %s: %s", out_dir, {k: v for k, v in stats.items()
                                                  if k not in ("sources", "config")})
    return stats


# ---------------------------------------------------------------------------------------
# Examples and batches


class PreparedSplit:
    """One split of prepared data, memory-mapped."""

    def __init__(self, data_dir: Path, split: str) -> None:
        self.ids = np.load(data_dir / f"{split}_ids.npy", mmap_mode="r")
        self.word_starts = np.load(data_dir / f"{split}_word_starts.npy", mmap_mode="r")
        self.blocks = np.load(data_dir / f"{split}_blocks.npy")

    def __len__(self) -> int:
        return len(self.blocks)


@dataclass
class Example:
    input_ids: np.ndarray  # [CLS] A [SEP] (B [SEP]), corrupted
    original_ids: np.ndarray
    selected: np.ndarray  # bool: corrupted-and-predicted positions
    token_type_ids: np.ndarray
    sop_label: int  # 0 in order, 1 swapped, -100 not applicable


def make_example(
    split: PreparedSplit, index: int, tokenizer: CharTokenizer, table: WordTable,
    rng: np.random.Generator, mask_rate: float = 0.15,
) -> Example:
    """Corrupt block `index` (MacBERT) and lay it out as [CLS] A [SEP] B [SEP], with A and B
    swapped half of the time when the block is eligible for sentence-order prediction."""
    start, cut, end, sop = (int(x) for x in split.blocks[index])
    ids = np.asarray(split.ids[start:end], dtype=np.int64)
    corruption = corrupt(ids, np.asarray(split.word_starts[start:end]), table, rng, mask_rate)
    segments = [(0, cut - start), (cut - start, end - start)]
    sop_label = -100
    if sop:
        sop_label = int(rng.random() < 0.5)
        if sop_label:
            segments.reverse()
    cls, sep = np.array([tokenizer.cls_id]), np.array([tokenizer.sep_id])
    parts_in, parts_orig, parts_sel, parts_type = [cls], [cls], [np.zeros(1, bool)], [[0]]
    for number, (a, b) in enumerate(s for s in segments if s[1] > s[0]):
        parts_in += [corruption.input_ids[a:b], sep]
        parts_orig += [ids[a:b], sep]
        parts_sel += [corruption.selected[a:b], np.zeros(1, bool)]
        parts_type += [[number] * (b - a + 1)]
    return Example(
        input_ids=np.concatenate(parts_in),
        original_ids=np.concatenate(parts_orig),
        selected=np.concatenate(parts_sel),
        token_type_ids=np.concatenate([np.asarray(t, dtype=np.int64) for t in parts_type]),
        sop_label=sop_label,
    )


def collate(examples: list[Example], pad_id: int = 0) -> dict:
    """Pad examples into a batch of torch tensors."""
    import torch

    length = max(len(e.input_ids) for e in examples)

    def pad(arrays, value, dtype):
        out = np.full((len(arrays), length), value, dtype=dtype)
        for row, array in enumerate(arrays):
            out[row, : len(array)] = array
        return torch.from_numpy(out)

    return {
        "input_ids": pad([e.input_ids for e in examples], pad_id, np.int64),
        "original_ids": pad([e.original_ids for e in examples], pad_id, np.int64),
        "selected": pad([e.selected for e in examples], False, bool),
        "token_type_ids": pad([e.token_type_ids for e in examples], 0, np.int64),
        "attention_mask": pad([np.ones(len(e.input_ids)) for e in examples], 0, np.int64),
        "sop_labels": torch.tensor([e.sop_label for e in examples]),
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m zhnlp.pretrain.data CONFIG`: run only the preparation stage."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m zhnlp.pretrain.data configs/pretrain-NAME.toml", file=sys.stderr)
        return 2
    config = load_config(argv[0])
    stats = prepare(config.data, config.data_dir)
    print(json.dumps({k: v for k, v in stats.items() if k not in ("sources", "config")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
