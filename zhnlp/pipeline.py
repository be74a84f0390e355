"""The Pipeline: text in, `Document`s out. The one object the Python API, `zhnlp tag` and
the HTTP server share, so it does no I/O.

What it adds to `MultiTaskModel.predict` (which analyses sentences of at most
`model.window_chars` characters):

- sentence splitting with offsets (`zhnlp.text.split_sentences`); a sentence longer than
  `model.piece_chars` (at most the encoder's positions) is cut at clause boundaries
  (`zhnlp.text.split_long`; a hard cut where there is none), each piece analysed, and the
  pieces stitched back into one sentence: offsets shifted, token ids and heads renumbered,
  and the root of every piece after the first attached to the first piece's root
  (`parataxis` when the model has that label, else `dep`), so each sentence stays one tree.
  Nothing is truncated. Then each head's `finish` completes the whole sentence (SRL
  argument spans are read off the stitched, converted tree).
- batching by length (pieces sorted by length, `batch_size` per batch);
- the user dictionary: forward maximum matching over the normalised text, the matches
  forced as words during CWS decoding;
- type and task checks that raise ZhnlpError;
- UD v2 output from a model trained on UD 1.4 (the shipped ones, until they are retrained
  on v2): the predicted trees and UPOS are converted with `zhnlp.ud_convert` after
  decoding (`ud_version=2`, the default; `ud_version=1` keeps the model's own labels).

The model normalises each character itself (same length), so the pipeline hands it slices
of the original text and every offset indexes the string the user gave.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zhnlp.analysis import Analysis
from zhnlp.decoders import KERNEL_FILES, say_when_compiling
from zhnlp.document import Document, Sentence, Token
from zhnlp.errors import ZhnlpError
from zhnlp.linear_cws import KERNEL_FILES as LINEAR_KERNELS
from zhnlp.linear_cws import MODEL_TYPE as LINEAR_MODEL_TYPE
from zhnlp.linear_cws import LinearSegmenter
from zhnlp.model_files import read_json
from zhnlp.shipped import model_directory
from zhnlp.task_registry import TASK_ORDER, resolve_tasks
from zhnlp.text import ends_clause, split_long, split_sentences, word_spans
from zhnlp.tokenizer import is_dropped, lookup_text
from zhnlp.ud_convert import is_ud1, tokens_to_ud2

if TYPE_CHECKING:
    from zhnlp.model import MultiTaskModel

DEFAULT_BATCH_SIZE = 32

Spans = list[tuple[int, int]]


PRECISIONS = ("int8", "fp32")


def load(path: str | Path | None = None, threads: int | None = None,
         batch_size: int = DEFAULT_BATCH_SIZE, int8: bool = False,
         precision: str | None = None, device: str | None = None,
         ud_version: int = 2) -> Pipeline:
    """A Pipeline on a shipped model's name (base, small, cws-fast; default base) or a model
    directory. `threads` sets torch's CPU thread count (torch.set_num_threads). `precision`
    "int8" (the default) runs the encoder's linear layers in int8 (several times faster on
    CPUs; the model card gives its accuracy), "fp32" in full precision (the published
    numbers exactly); `int8=True` is the old spelling of precision="int8". Either way a
    sentence's analysis does not depend on its batch. `device` "cuda" runs the model on a
    GPU (full precision; default "cpu"). `ud_version=1` keeps a UD 1.4 model's own labels
    (default 2: its trees converted to UD v2).

    A linear segmenter (cws-fast, `zhnlp.linear_cws`) loads without torch; it runs on the
    CPU, on one thread, and has no precision to choose."""
    device = device or "cpu"
    if device != "cpu" and not (isinstance(device, str) and device.startswith("cuda")):
        raise ZhnlpError(f"device must be cpu or cuda (cuda:N), not {device!r}.")
    if precision is not None and precision not in PRECISIONS:
        raise ZhnlpError(f"precision must be one of {', '.join(PRECISIONS)}, not "
                         f"{precision!r}.")
    if threads is not None and not _positive_int(threads):
        raise ZhnlpError(f"threads must be a positive int, not {threads!r}.")
    directory = model_directory(path)  # a shipped model's name or a directory
    config = read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
    if isinstance(config, dict) and config.get("model_type") == LINEAR_MODEL_TYPE:
        if device != "cpu":
            raise ZhnlpError(f"the model in {directory} is a linear segmenter, which runs on "
                             "the CPU only; use device='cpu'.")
        say_when_compiling(LINEAR_KERNELS, "the segmenter", "5-10 s")
        return Pipeline(LinearSegmenter.load(directory, config), batch_size=batch_size,
                        ud_version=ud_version)
    say_when_compiling(KERNEL_FILES, "the decoders", "10-30 s")
    import torch

    if device != "cpu" and not torch.cuda.is_available():
        raise ZhnlpError(f"device {device!r} asked for, but torch sees no GPU; use "
                         "device='cpu'.")
    if precision is None:
        precision = "int8" if device == "cpu" else "fp32"
    if precision == "int8" and device != "cpu":
        raise ZhnlpError("int8 runs on the CPU only; on a GPU use precision='fp32'.")
    if threads is not None:
        torch.set_num_threads(threads)
    from zhnlp.model import MultiTaskModel

    model = MultiTaskModel.load(directory)
    if int8 or precision == "int8":
        model.quantize()
    model.to(device)
    return Pipeline(model, batch_size=batch_size, ud_version=ud_version)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass
class _Piece:
    """A slice of one sentence, short enough for the model."""

    doc: int
    sentence: int
    start: int  # offsets into the document text
    end: int
    words: Spans | None = None  # pretokenized: word spans relative to start
    analysis: Analysis | None = None


class Pipeline:
    def __init__(self, model: MultiTaskModel | LinearSegmenter,
                 batch_size: int = DEFAULT_BATCH_SIZE, ud_version: int = 2) -> None:
        if not _positive_int(batch_size):
            raise ZhnlpError(f"batch_size must be a positive int, not {batch_size!r}.")
        if ud_version not in (1, 2):
            raise ZhnlpError(f"ud_version must be 1 (the labels of a model trained on UD "
                             f"1.4) or 2, not {ud_version!r}.")
        self.model = model.eval()
        self.batch_size = batch_size
        self.user_words: set[str] = set()  # lookup forms (normalised, lowercased)
        self._user_lengths: list[int] = []  # distinct lengths, longest first
        dep = model.heads["dep"] if "dep" in model.heads else None
        pos = model.heads["pos"] if "pos" in model.heads else None
        model_labels = [*getattr(dep, "labels", ()), *getattr(pos, "labels", {}).get("upos", ())]
        self.model_ud_version = 1 if is_ud1(model_labels) else 2  # the labels it was trained on
        self.to_ud2 = ud_version == 2 and self.model_ud_version == 1  # convert its output

    # -- what the model offers ---------------------------------------------------------

    @property
    def tasks(self) -> list[str]:
        return [task for task in TASK_ORDER if task in self.model.heads]

    @property
    def standards(self) -> list[str]:
        return list(self.model.standards)

    @property
    def piece_chars(self) -> int:
        """Longer sentences are cut at clause boundaries and stitched back."""
        return min(self.model.piece_chars, self.model.window_chars)

    def resolve_tasks(self, tasks: str | Sequence[str] | None = None,
                      pretokenized: bool = False) -> list[str]:
        """The tasks to run, checked (`zhnlp.task_registry.resolve_tasks`)."""
        return resolve_tasks(list(self.model.heads), tasks, pretokenized)

    def check_standard(self, standard: str | None) -> None:
        if standard is not None and not isinstance(standard, str):
            raise ZhnlpError(f"standard must be a str such as {self.model.standards[0]!r}, "
                             f"not {type(standard).__name__}.")
        if standard is not None and standard not in self.model.standards:
            raise ZhnlpError(f"this model knows no segmentation standard {standard!r}; it has "
                             f"{', '.join(self.model.standards)}.")

    # -- user dictionary -----------------------------------------------------------------

    def add_words(self, words: str | Iterable[str]) -> None:
        """Add words to the user dictionary: during CWS, every match (forward maximum
        matching over the normalised text; traditional/full-width/case variants match
        too) is kept as one word."""
        if isinstance(words, str):
            words = [words]
        try:
            words = list(words)
        except TypeError:
            raise ZhnlpError(f"add_words takes a list of str, not {type(words).__name__}."
                             ) from None
        for word in words:
            if not isinstance(word, str):
                raise ZhnlpError(f"add_words takes a list of str; got a {type(word).__name__}.")
            word = word.strip()
            if not word:
                continue
            if any(is_dropped(char) for char in word):
                raise ZhnlpError(f"the user word {word!r} holds whitespace or invisible "
                                 "characters; give words without them.")
            self.user_words.add(lookup_text(word))
        self._user_lengths = sorted({len(word) for word in self.user_words}, reverse=True)

    def clear_words(self) -> None:
        self.user_words.clear()
        self._user_lengths = []

    def dictionary_matches(self, text: str) -> Spans:
        """Forward maximum matching of the user dictionary over text."""
        if not self.user_words:
            return []
        form = lookup_text(text)
        matches, i, n = [], 0, len(form)
        words, lengths = self.user_words, self._user_lengths
        while i < n:
            for length in lengths:
                if i + length <= n and form[i : i + length] in words:
                    matches.append((i, i + length))
                    i += length
                    break
            else:
                i += 1
        return matches

    def _matches_in(self, text: str, start: int, end: int) -> Spans:
        """The user dictionary's matches in a sentence too long for one piece (offsets into
        text), which the cuts between pieces must not split."""
        if end - start <= self.piece_chars:
            return []
        return [(start + a, start + b) for a, b in self.dictionary_matches(text[start:end])]

    # -- analysis ------------------------------------------------------------------------

    def __call__(self, inputs: str | list, tasks: str | Sequence[str] | None = None,
                 standard: str | None = None, *, pretokenized: bool = False,
                 split: bool = True, batch_size: int | None = None) -> Document | list[Document]:
        """Analyse a text (-> Document) or a list of texts (-> list of Documents).

        pretokenized: inputs are words, CWS is skipped; a list of str is one sentence
        (-> Document), a list of lists of str is one sentence each (-> list). The document
        text is the words joined without spaces. split=False: each text is one sentence.
        """
        if pretokenized:
            single = bool(inputs) and _is_str_list(inputs)  # [] is an empty batch
            batch = [inputs] if single else inputs
            if not isinstance(batch, list | tuple) or not all(_is_str_list(w) for w in batch):
                raise ZhnlpError("pretokenized input must be a list of words (str) or a list "
                                 f"of such lists, not {_describe(inputs)}.")
            texts = ["".join(sentence_words) for sentence_words in batch]
            words = [word_spans(sentence_words) for sentence_words in batch]
            docs = self.process(texts, tasks, standard, split=False, words=words,
                                batch_size=batch_size)
        else:
            single = isinstance(inputs, str)
            texts = [inputs] if single else inputs
            if not isinstance(texts, list | tuple) or not all(isinstance(t, str) for t in texts):
                raise ZhnlpError(f"expected a str or a list of str, not {_describe(inputs)}.")
            docs = self.process(list(texts), tasks, standard, split=split,
                                batch_size=batch_size)
        return docs[0] if single else docs

    def process(self, texts: list[str], tasks: str | Sequence[str] | None = None,
                standard: str | None = None, split: bool = True, words: list[Spans] | None = None,
                batch_size: int | None = None) -> list[Document]:
        """The workhorse behind __call__ (no type coercion): `words`, when given, are the
        word spans (character offsets into each text) and make each text one sentence."""
        pretokenized = words is not None
        run = self.resolve_tasks(tasks, pretokenized)
        self.check_standard(standard)
        if batch_size is None:
            batch_size = self.batch_size
        elif not _positive_int(batch_size):
            raise ZhnlpError(f"batch_size must be a positive int, not {batch_size!r}.")
        docs = [Document(text=text, tasks=tuple(run)) for text in texts]
        pieces: list[_Piece] = []
        for index, text in enumerate(texts):
            if pretokenized:
                spans = words[index]
                for start, end in spans:
                    if not _readable(text, start, end):
                        raise ZhnlpError(f"the pretokenized word {text[start:end]!r} is empty "
                                         "or blank; remove empty words.")
                sentences = [(spans[0][0], spans[-1][1])] if spans else []
            elif split:
                sentences = split_sentences(text)
            else:
                sentences = [(0, len(text))]
            for start, end in sentences:
                parts = (self._cut_words(text, words[index]) if pretokenized
                         else split_long(text, start, end, self.piece_chars,
                                         self._matches_in(text, start, end)))
                parts = [part for part in parts if _readable(text, part[0], part[1])]
                if not parts:
                    continue
                number = len(docs[index].sentences)
                start, end = parts[0][0], parts[-1][1]
                docs[index].sentences.append(Sentence(text=text[start:end], start=start,
                                                      end=end))
                for part in parts:
                    pieces.append(_Piece(index, number, *part[:2],
                                         part[2] if pretokenized else None))
        self._predict(texts, pieces, run, standard, batch_size)
        for piece in pieces:  # in document order
            self._stitch(texts[piece.doc], docs[piece.doc].sentences[piece.sentence], piece)
        if self.to_ud2 and {"pos", "dep"} & set(run):
            for doc in docs:
                for sentence in doc.sentences:
                    tokens_to_ud2(sentence.tokens)
        for task in run:  # whole-sentence fields (SRL argument spans over the tree)
            for doc in docs:
                for sentence in doc.sentences:
                    self.model.heads[task].finish(sentence, run)
        return docs

    def _predict(self, texts: list[str], pieces: list[_Piece], tasks: list[str],
                 standard: str | None, batch_size: int) -> None:
        order = sorted(range(len(pieces)), key=lambda i: pieces[i].end - pieces[i].start,
                       reverse=True)
        for first in range(0, len(order), batch_size):
            batch = [pieces[i] for i in order[first : first + batch_size]]
            strings = [texts[p.doc][p.start : p.end] for p in batch]
            words = forced = None
            if batch[0].words is not None:
                words = [p.words for p in batch]
            elif "cws" in tasks and self.user_words:
                forced = [self.dictionary_matches(s) for s in strings]
            if words is not None and not tasks:  # pretokenized, nothing to compute
                analyses = [Analysis(words=w) for w in words]
            else:
                analyses = self.model.predict(strings, tasks, standard, words=words,
                                              forced_words=forced)
            for piece, analysis in zip(batch, analyses):
                piece.analysis = analysis

    def _cut_words(self, text: str, spans: Spans) -> list[tuple[int, int, Spans]]:
        """Cut a pretokenized sentence into pieces of at most piece_chars characters (longer
        words alone) at word boundaries, after clause punctuation where possible; word spans
        made relative."""
        limit = self.piece_chars
        pieces, first = [], 0
        while first < len(spans):
            start = spans[first][0]
            last = first  # words first..last-1 fit
            while last < len(spans) and spans[last][1] - start <= limit:
                last += 1
            if last == first:  # one word longer than a piece: alone, if the encoder can
                if spans[first][1] - start > self.model.window_chars:
                    raise ZhnlpError(f"the word {text[slice(*spans[first])]!r} is longer than "
                                     f"the model's {self.model.window_chars} characters; split it.")
                last = first + 1
            if last < len(spans):
                cuts = [k + 1 for k in range(first, last)
                        if ends_clause(text[slice(*spans[k])])]
                if cuts and cuts[-1] - first > (last - first) // 4:
                    last = cuts[-1]
            end = spans[last - 1][1]
            pieces.append((start, end, [(s - start, e - start) for s, e in spans[first:last]]))
            first = last
        return pieces

    def _stitch(self, text: str, sentence: Sentence, piece: _Piece) -> None:
        """Append one piece's analysis to its sentence, in document offsets: its words as
        tokens, then each task's result through its head (`TaskHead.annotate`)."""
        offset, base = piece.start, len(sentence.tokens)
        tokens = [Token(id=base + k + 1, text=text[start + offset : end + offset],
                        start=start + offset, end=end + offset)
                  for k, (start, end) in enumerate(piece.analysis.words)]
        sentence.tokens += tokens
        for task, result in piece.analysis.results.items():
            self.model.heads[task].annotate(sentence, tokens, result, text, offset)


def _readable(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] holds a character the model reads (not only whitespace or
    invisible characters)."""
    return any(not is_dropped(char) for char in text[start:end])


def _is_str_list(value: object) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _describe(value: object) -> str:
    if isinstance(value, list | tuple):
        kinds = sorted({type(item).__name__ for item in value})
        return f"a {type(value).__name__} of {', '.join(kinds) or 'nothing'}"
    return f"a {type(value).__name__}"
