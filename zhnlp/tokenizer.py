"""Character tokenizer: exactly one token per (non-whitespace) character.

All zhnlp heads tag characters, so the encoder sees one token per character of the
normalised text (`zhnlp.text.normalize`), Latin letters and digits included. Decisions:

- Latin letters are lowercased for the lookup; a character missing from the vocabulary
  becomes [UNK] (still one token).
- Whitespace and control/format characters (Unicode category C*, e.g. U+200B) get NO
  token: they are dropped, and `Encoding.char_to_token` maps them to -1. Words never
  contain whitespace, so no tag is lost; the offsets of the remaining tokens are kept.
- The vocabulary holds single characters only (no multi-character word pieces), plus a
  `##c` continuation entry for every character that HF's BERT pre-tokenizer would glue
  into a "word" (everything except CJK ideographs and punctuation). So the saved HF
  tokenizer (BertTokenizer, do_lower_case, tokenize_chinese_chars) gives the same ids
  as this tokenizer on normalised text: this tokenizer also gives a letter, digit or
  symbol that directly follows another one its `##c` id, as WordPiece does:
  "iPhone12" -> i ##p ##h ##o ##n ##e ##1 ##2 (8 tokens for 8 characters).
  The saved tokenizer.json also normalises as this tokenizer does (full-width to
  half-width, traditional to simplified: one Replace per mapped vocabulary character,
  before BERT's normaliser), so AutoTokenizer agrees on raw text too. (A word with a
  character missing from the vocabulary becomes a single [UNK] there, unlike here.)

Layout of vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK], then RESERVED_TOKENS ([unused0] ...
[unused9], free for later tasks, e.g. segmentation-standard markers), then characters,
then the `##c` entries.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from zhnlp.text import normalize_char

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]
RESERVED_TOKENS = [f"[unused{i}]" for i in range(10)]
# Always in the vocabulary, whatever their count: printable ASCII (lowercase).
ALWAYS_CHARS = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
VOCAB_FILE = "vocab.txt"
DROPPED = -1  # char_to_token value of a character that has no token


def is_dropped(char: str) -> bool:
    """Whitespace and control/format characters get no token."""
    return char.isspace() or unicodedata.category(char).startswith("C")


def is_cjk(char: str) -> bool:
    """The CJK ideograph ranges of BERT's `_is_chinese_char`."""
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def is_punctuation(char: str) -> bool:
    """BERT's punctuation: ASCII non-alphanumeric symbols or Unicode category P*."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def needs_continuation(char: str) -> bool:
    """Characters HF's BERT pre-tokenizer glues into words need a `##c` entry."""
    return not (is_cjk(char) or is_punctuation(char) or is_dropped(char))


@cache
def lookup_form(char: str) -> str:
    """The vocabulary form of one raw character: normalised, then lowercased."""
    char = normalize_char(char)
    lower = char.lower()
    return lower if len(lower) == 1 else char


def lookup_text(text: str) -> str:
    """The form the model reads: each character's lookup form (same length as text), so
    traditional, full-width and upper-case variants of a word look the same."""
    return "".join(map(lookup_form, text))


@dataclass
class Encoding:
    ids: list[int]
    offsets: list[tuple[int, int]]  # (start, end) into the text; (0, 0) for specials
    char_to_token: list[int]  # per character of the text: its token index, or -1


class CharTokenizer:
    """Maps each normalised character to one id; see the module docstring."""

    def __init__(self, vocab: list[str]) -> None:
        if vocab[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"vocab must start with {SPECIAL_TOKENS}")
        self.vocab = list(vocab)
        self.token_to_id = {token: i for i, token in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)
        self._char_ids: dict[str, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> CharTokenizer:
        """Load from a vocab.txt file or a directory holding one."""
        path = Path(path)
        if path.is_dir():
            path = path / VOCAB_FILE
        return cls(path.read_text(encoding="utf-8").splitlines())

    def _lookup(self, char: str) -> tuple[int, int]:
        """(kind, id) of one raw character: kind 0 = whitespace, 1 = control (both
        DROPPED), 2 = glued into HF words (id of the plain form), 3 = stands alone."""
        found = self._char_ids.get(char)
        if found is None:
            if char.isspace():
                found = (0, DROPPED)
            elif is_dropped(char):
                found = (1, DROPPED)
            else:
                form = lookup_form(char)
                kind = 2 if needs_continuation(form) else 3
                found = (kind, self.token_to_id.get(form, self.unk_id))
            self._char_ids[char] = found
        return found

    def char_ids(self, text: str) -> list[int]:
        """One id per character of text, DROPPED (-1) for characters without a token.

        A letter, digit or symbol that directly follows another one gets its `##c` id,
        as HF's WordPiece does ("iphone" -> i ##p ##h ##o ##n ##e)."""
        ids = []
        in_word = False
        for char in text:
            kind, token = self._lookup(char)
            if kind == 2:
                if in_word and token != self.unk_id:
                    token = self.token_to_id.get("##" + self.vocab[token], token)
                in_word = True
            elif kind != 1:  # control characters vanish without ending a word
                in_word = False
            ids.append(token)
        return ids

    def encode(
        self, text: str, add_special_tokens: bool = True, max_length: int | None = None
    ) -> Encoding:
        """Ids and offsets of text; [CLS] ... [SEP] around it unless add_special_tokens is
        False. max_length counts the special tokens; characters beyond it are cut."""
        ids: list[int] = []
        offsets: list[tuple[int, int]] = []
        char_to_token = [DROPPED] * len(text)
        budget = None if max_length is None else max_length - 2 * add_special_tokens
        if add_special_tokens:
            ids.append(self.cls_id)
            offsets.append((0, 0))
        for position, token in enumerate(self.char_ids(text)):
            if token == DROPPED:
                continue
            if budget is not None and len(offsets) - add_special_tokens >= budget:
                break
            char_to_token[position] = len(ids)
            ids.append(token)
            offsets.append((position, position + 1))
        if add_special_tokens:
            ids.append(self.sep_id)
            offsets.append((0, 0))
        return Encoding(ids, offsets, char_to_token)

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ids (specials and padding skipped, `##` stripped)."""
        out = []
        for i in ids:
            if i < len(SPECIAL_TOKENS) + len(RESERVED_TOKENS) and i != self.unk_id:
                continue
            token = self.vocab[i]
            out.append(token[2:] if token.startswith("##") and len(token) > 2 else token)
        return "".join(out)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write vocab.txt and the HF tokenizer files (AutoTokenizer loads them)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / VOCAB_FILE).write_text("\n".join(self.vocab) + "\n", encoding="utf-8")
        self.hf_tokenizer().save_pretrained(directory)

    def hf_tokenizer(self):
        """The equivalent transformers tokenizer: BERT's WordPiece over our vocabulary, with
        our normalisation in front of BERT's. Saved as a plain PreTrainedTokenizerFast, since
        AutoTokenizer rebuilds a BertTokenizer from its arguments, dropping that normaliser."""
        from tokenizers import normalizers
        from transformers import BertTokenizer, PreTrainedTokenizerFast

        backend = BertTokenizer(
            vocab=dict(self.token_to_id),
            do_lower_case=True,
            tokenize_chinese_chars=True,
            strip_accents=False,
        ).backend_tokenizer
        replaces = [normalizers.Replace(source, target)
                    for source, target in normalized_chars(self.token_to_id)]
        backend.normalizer = normalizers.Sequence([*replaces, backend.normalizer])
        return PreTrainedTokenizerFast(
            tokenizer_object=backend, unk_token=UNK, pad_token=PAD, cls_token=CLS,
            sep_token=SEP, mask_token=MASK, model_max_length=512,
        )


def normalized_chars(vocab: dict[str, int]) -> list[tuple[str, str]]:
    """(raw, normalised) for every character that `normalize_char` changes into a
    vocabulary character, i.e. the mapping the HF tokenizer needs to agree with ours."""
    pairs = []
    for code in (*range(0xFF01, 0xFF5F), 0x3000, *range(0x2E80, 0xD800),
                 *range(0xF900, 0xFB00), *range(0x20000, 0x2FA20)):
        source = chr(code)
        target = normalize_char(source)
        if target != source and lookup_form(target) in vocab:
            pairs.append((source, target))
    return pairs


def build_vocab(
    char_counts: Counter[str], min_count: int = 5, max_chars: int = 11000
) -> list[str]:
    """vocab.txt entries from counts of lookup-form characters (see module docstring)."""
    chars = [c for c in ALWAYS_CHARS]
    seen = set(chars)
    for char, count in char_counts.most_common():
        if len(chars) >= max_chars or count < min_count:
            break
        if char not in seen and len(char) == 1 and not is_dropped(char):
            chars.append(char)
            seen.add(char)
    continuations = [f"##{c}" for c in chars if needs_continuation(c)]
    return SPECIAL_TOKENS + RESERVED_TOKENS + chars + continuations


def count_chars(texts: Iterable[str]) -> Counter[str]:
    """Counts of lookup-form characters (normalised, lowercased) in texts."""
    raw: Counter[str] = Counter()
    for text in texts:
        raw.update(text)
    counts: Counter[str] = Counter()
    for char, count in raw.items():
        if not is_dropped(char):
            counts[lookup_form(char)] += count
    return counts
