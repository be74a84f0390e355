"""zhnlp as a spaCy tokenizer (as spacy-stanza and spacy-udpipe do): the whole analysis runs
in the tokenizer and arrives as spaCy annotations. spaCy is imported only here (`pip install
"zhnlp[spacy]"`).

    import spacy
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {
        "@tokenizers": "zhnlp.PipelineAsTokenizer.v1", "model": "small"}}})
    # or: nlp = zhnlp.spacy.load_pipeline("small")
    doc = nlp("北京大学的李白教授昨天在上海发表了演讲。")

What a Doc holds: the words, with `doc.text` exactly the input (a single space after a word is
its `whitespace_`; any other whitespace, line breaks included, is a token of its own with
pos_ "SPACE", tag_ "_SP", attached to the word before it by "dep", as spaCy's own tokenizer
does); `pos_` (UPOS), `tag_` (XPOS), `token._.pku` (the PKU tag), `dep_` and `head` (the
root is its own head, dep_ "root"), sentence boundaries (`doc.sents`, `is_sent_start`),
`doc.ents` (entities widened to whole words: NER runs on characters; an entity that then
overlaps a longer one is dropped), and `doc._.srl`: one dict per predicate, `{"predicate":
i, "arguments": [{"role": str, "head": i, "span": (start, end)}]}`, token indices into the
Doc, span end exclusive. Annotations of tasks not run are left unset.

Batching: spaCy 3.8's `Language.pipe` calls the tokenizer once per text (`_ensure_doc`),
never `tokenizer.pipe`. So the tokenizer factory also replaces `pipe` on the Language it
builds: texts are cut into groups of `batch_size`, each group analysed by one
`Pipeline.process` call (which batches sentences by length), and the Docs go on into spaCy's
own `pipe` for any further components.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Token
from spacy.util import filter_spans, registry
from spacy.vocab import Vocab

import zhnlp
from zhnlp.document import Document
from zhnlp.errors import ZhnlpError
from zhnlp.pipeline import Pipeline

TOKENIZER = "zhnlp.PipelineAsTokenizer.v1"
SPACE_POS, SPACE_TAG = "SPACE", "_SP"  # what spaCy's own tokenizer gives whitespace tokens

if not Doc.has_extension("srl"):
    Doc.set_extension("srl", default=None)
if not Token.has_extension("pku"):
    Token.set_extension("pku", default=None)


class PipelineAsTokenizer:
    """A spaCy tokenizer that runs a zhnlp `Pipeline`: text in, an annotated Doc out."""

    def __init__(self, vocab: Vocab, pipeline: Pipeline, tasks: list[str] | None = None,
                 standard: str | None = None, split: bool = True) -> None:
        pipeline.resolve_tasks(tasks)  # bad settings fail here, not on the first text
        pipeline.check_standard(standard)
        self.vocab, self.pipeline = vocab, pipeline
        self.tasks, self.standard, self.split = tasks, standard, split

    def __call__(self, text: str) -> Doc:
        return self.analyse([text])[0]

    def pipe(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[Doc]:
        """Docs in order; each `batch_size` texts are analysed in one pipeline call."""
        for group in _groups(texts, batch_size):
            yield from self.analyse(group)

    def analyse(self, texts: list[str]) -> list[Doc]:
        """One `Pipeline.process` call for all the texts."""
        for text in texts:
            if not isinstance(text, str):
                raise ZhnlpError(f"the zhnlp tokenizer takes str texts, not "
                                 f"{type(text).__name__}.")
        documents = self.pipeline.process(list(texts), self.tasks, self.standard,
                                          split=self.split)
        return [to_spacy(self.vocab, document) for document in documents]

    # The settings live in the nlp's config; the model is loaded from it, so there is
    # nothing else to save (nlp.to_disk / spacy.load call these).
    def to_bytes(self, **kwargs: object) -> bytes:
        return b""

    def from_bytes(self, data: bytes, **kwargs: object) -> PipelineAsTokenizer:
        return self

    def to_disk(self, path: str | Path, **kwargs: object) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def from_disk(self, path: str | Path, **kwargs: object) -> PipelineAsTokenizer:
        return self


@registry.tokenizers(TOKENIZER)
def create_tokenizer(model: str = "base", tasks: list[str] | None = None,
                     standard: str | None = None, split: bool = True,
                     precision: str | None = None, device: str | None = None,
                     threads: int | None = None, batch_size: int = 32, ud_version: int = 2,
                     user_words: list[str] | None = None
                     ) -> Callable[[Language], PipelineAsTokenizer]:
    """The tokenizer factory named in a config (`@tokenizers`); its arguments are
    `zhnlp.load`'s (model name or directory, precision, device, threads, batch_size: sentences
    per model batch, ud_version) and the analysis settings (tasks, standard, split,
    user_words: a user dictionary)."""

    def make(nlp: Language) -> PipelineAsTokenizer:
        pipeline = zhnlp.load(model, threads=threads, batch_size=batch_size,
                              precision=precision, device=device, ud_version=ud_version)
        if user_words:
            pipeline.add_words(user_words)
        tokenizer = PipelineAsTokenizer(nlp.vocab, pipeline, tasks, standard, split)
        _pipe_in_batches(nlp)
        return tokenizer

    return make


def load_pipeline(model: str | Path = "base", tasks: list[str] | None = None,
                  standard: str | None = None, **options: object) -> Language:
    """`spacy.blank("zh")` with zhnlp as its tokenizer; `options` are `create_tokenizer`'s
    (precision, device, threads, batch_size, split, ud_version, user_words)."""
    settings = {"@tokenizers": TOKENIZER, "model": str(model), "tasks": tasks,
                "standard": standard, **options}
    return spacy.blank("zh", config={"nlp": {"tokenizer": settings}})


def to_spacy(vocab: Vocab, document: Document) -> Doc:
    """A zhnlp Document as a spaCy Doc (the module docstring says what it holds)."""
    text, tasks = document.text, set(document.tasks)
    words: list[str] = []
    spaces: list[bool] = []
    sources: list[tuple[int, object]] = []  # (sentence number, its Token, or None: whitespace)

    def gap(until: int, sentence: int) -> None:
        # whitespace before a word belongs to the sentence of the word before it
        sentence = sources[-1][0] if sources else sentence
        between = text[position:until]
        if between and words and not spaces[-1] and between[0] == " ":
            spaces[-1], between = True, between[1:]
        if between:
            words.append(between)
            spaces.append(False)
            sources.append((sentence, None))

    position = 0
    for number, sentence in enumerate(document.sentences):
        for token in sentence.tokens:
            gap(token.start, number)
            words.append(token.text)
            spaces.append(False)
            sources.append((number, token))
            position = token.end
    gap(len(text), 0)

    index = {(number, token.id): i for i, (number, token) in enumerate(sources)
             if token is not None}
    starts = [i == 0 or number != sources[i - 1][0] for i, (number, _) in enumerate(sources)]
    annotations: dict[str, list] = {}
    if "pos" in tasks:
        annotations["pos"] = [SPACE_POS if token is None else token.upos or "X"
                              for _, token in sources]
        annotations["tags"] = [SPACE_TAG if token is None else token.xpos or ""
                               for _, token in sources]
    if "dep" in tasks:
        heads, deps = [], []
        for i, (number, token) in enumerate(sources):
            if token is None:  # whitespace: on the word before it in its sentence
                heads.append(i - 1 if i > 0 and sources[i - 1][0] == number else i + 1)
                deps.append("dep")
            else:
                heads.append(i if not token.head else index[(number, token.head)])
                deps.append(token.deprel or "dep")
        if len(words) == 1:
            heads = [0]
        annotations["heads"], annotations["deps"] = heads, deps
    doc = Doc(vocab, words=words, spaces=spaces, sent_starts=starts if words else None,
              **annotations)
    if "pos" in tasks:
        for i, (_, token) in enumerate(sources):
            if token is not None and token.pku is not None:
                doc[i]._.pku = token.pku
    if "ner" in tasks:
        spans = [doc.char_span(entity.start, entity.end, label=entity.label,
                               alignment_mode="expand") for entity in document.entities]
        doc.ents = filter_spans([span for span in spans if span is not None])
    if "srl" in tasks:
        doc._.srl = [
            {"predicate": index[(number, predicate.id)],
             "arguments": [_argument(argument, number, index) for argument in predicate.arguments]}
            for number, sentence in enumerate(document.sentences)
            for predicate in sentence.predicates]
    return doc


def _argument(argument, number: int, index: dict) -> dict:
    first, end = argument.span
    return {"role": argument.role, "head": index[(number, argument.id)],
            "span": (index[(number, first + 1)], index[(number, end)] + 1)}


def _pipe_in_batches(nlp: Language) -> None:
    """Make `nlp.pipe` analyse texts in groups through the tokenizer's `pipe` (spaCy 3.8's
    `Language.pipe` tokenizes one text at a time); the Docs then go through spaCy's own
    `pipe` for the other components."""
    spacy_pipe = nlp.pipe  # the Language's own, bound

    def pipe(texts: Iterable, *, as_tuples: bool = False, batch_size: int | None = None,
             **kwargs: object) -> Iterator:
        tokenizer = nlp.tokenizer
        if not isinstance(tokenizer, PipelineAsTokenizer):  # replaced since: spaCy's way
            return spacy_pipe(texts, as_tuples=as_tuples, batch_size=batch_size, **kwargs)
        size = nlp.batch_size if batch_size is None else batch_size
        if as_tuples:
            pairs = (zip(_tokenized(tokenizer, [text for text, _ in group]),
                         [context for _, context in group])
                     for group in _groups(texts, size))
            stream = (pair for group in pairs for pair in group)
        else:
            stream = (doc for group in _groups(texts, size)
                      for doc in _tokenized(tokenizer, group))
        return spacy_pipe(stream, as_tuples=as_tuples, batch_size=batch_size, **kwargs)

    nlp.pipe = pipe


def _tokenized(tokenizer: PipelineAsTokenizer, items: list) -> list:
    """Docs for the str items of a group (one pipeline call); Docs given stay as they are."""
    texts = [item for item in items if isinstance(item, str)]
    made = iter(tokenizer.analyse(texts) if texts else [])
    return [next(made) if isinstance(item, str) else item for item in items]


def _groups(items: Iterable, size: int) -> Iterator[list]:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ZhnlpError(f"batch_size must be a positive int, not {size!r}.")
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group
