"""What the Pipeline returns: Document > Sentence > Token, plus Span (entities) and
Predicate/Argument (semantic roles). Plain dataclasses, spaCy-like.

Every `start`/`end` is a character offset into `Document.text`, the exact string the user
gave (traditional characters, full-width forms and whitespace included), end exclusive.
Token ids and heads count from 1 within their sentence; head 0 is the root. A field of a
task that was not run is None (token attributes) or an empty list; `Document.tasks` says
which tasks were run.

Serialisations (shared by the Python API and `zhnlp tag`):

- `to_dict()`: the `zhnlp tag --format json` record, read back by
  `zhnlp.evaluate.sentence_from_json`.
- `to_conllu(doc_id)`: one CoNLL-U block per sentence (DEPS holds the semantic
  graph, when SDP was run, as `HEAD:dep:rel|HEAD:dep:rel`: UD allows only UD relations
  there, so each SemEval relation is the lowercased subtype of `dep`, `0:root` the root;
  `to_dict()` and `Token.semantic_heads` keep SemEval's own spelling). `# sent_id = `
  is `DOC-N` (the N-th sentence of the document, from 1; just `N` without a doc_id), `# text = ` the
  sentence as its tokens spell it (forms: without whitespace, NFC, U+FFFD as `?`; one
  space where the text had whitespace between two tokens; MISC `SpacesAfter=` when that
  whitespace was not one space, as UDPipe writes it), `# entities = LABEL=START:END ...`
  the entities (offsets into the document). MISC holds `TokenRange=START:END` (offsets
  into the document), `SpaceAfter=No`, `PKU=tag` (the PKU tag layer, when present),
  `Pred=Yes` on predicates, `SRL=PRED:ROLE[,PRED:ROLE]` on the arguments' head words
  (PRED is the predicate's token id) and next to it `SRLSpan=PRED:FIRST-LAST[,...]`, the
  span of the argument of predicate PRED that this word heads (FIRST, LAST: token ids,
  inclusive; `Argument.span` is (FIRST - 1, LAST)). Columns of tasks not run are `_`.
  With pos and dep run, the output passes UD's own validator (`udtools`, `--lang zh
  --level 2`).
- `to_text()`: words separated by one space, `word/XPOS` when POS was run.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass
class Token:
    id: int  # 1-based within the sentence
    text: str
    start: int
    end: int
    upos: str | None = None
    xpos: str | None = None
    pku: str | None = None  # the PKU tag layer, when the model has one
    head: int | None = None  # id of the head token, 0 = root
    deprel: str | None = None
    # The semantic dependency graph (SDP): (head id, relation) of every head of this word,
    # ordered by head; a word may have several (她 is an argument of both 脸色 and 病).
    semantic_heads: list[tuple[int, str]] | None = None

    def to_dict(self) -> dict:
        record = {"id": self.id, "text": self.text, "start": self.start, "end": self.end,
                  "upos": self.upos, "xpos": self.xpos, "head": self.head,
                  "deprel": self.deprel}
        if self.pku is not None:
            record["pku"] = self.pku
        if self.semantic_heads is not None:
            record["semantic_heads"] = [list(pair) for pair in self.semantic_heads]
        return record


@dataclass
class Span:
    """A named entity: character span of the document."""

    text: str
    label: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "start": self.start, "end": self.end}


@dataclass
class Argument:
    """A semantic argument: its head word (`id`, `text`, `start`, `end` are the head
    token's) and its span. `span` = (start, end): word indices within the sentence, end
    exclusive (`sentence.tokens[start:end]`, token ids start+1 .. end): the head's
    dependency subtree without the predicate's (`zhnlp.decoders.argument_span`) when dep
    was run, else the head word alone (the default). `span_text` is the document text the
    span covers (first token's start to last token's end)."""

    id: int  # token id of the argument's head word
    text: str
    start: int
    end: int
    role: str
    span: tuple[int, int] | None = None  # default: (id - 1, id), the head word alone
    span_text: str | None = None  # default: text, when the span is the head word alone

    def __post_init__(self) -> None:
        if self.span is None:
            self.span = (self.id - 1, self.id)
        self.span = (int(self.span[0]), int(self.span[1]))
        if self.span_text is None and self.span == (self.id - 1, self.id):
            self.span_text = self.text

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "start": self.start, "end": self.end,
                "role": self.role, "span": list(self.span), "span_text": self.span_text}


@dataclass
class Predicate:
    id: int  # token id of the predicate
    text: str
    start: int
    end: int
    arguments: list[Argument] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "text": self.text, "start": self.start, "end": self.end,
                "arguments": [argument.to_dict() for argument in self.arguments]}


@dataclass
class Sentence:
    text: str  # == document.text[start:end]
    start: int
    end: int
    tokens: list[Token] = field(default_factory=list)
    entities: list[Span] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        return [token.text for token in self.tokens]

    def span_text(self, span: tuple[int, int]) -> str:
        """The text of tokens[start:end] (what lies between them included); "" when the
        span is empty or outside the sentence."""
        start, end = span
        if not 0 <= start < end <= len(self.tokens):
            return ""
        return self.text[self.tokens[start].start - self.start : self.tokens[end - 1].end
                         - self.start]

    def set_span(self, argument: Argument, span: tuple[int, int]) -> None:
        """Give an argument of this sentence its word span (and the span's text)."""
        argument.span = (int(span[0]), int(span[1]))
        argument.span_text = self.span_text(argument.span)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end,
                "tokens": [token.to_dict() for token in self.tokens],
                "predicates": [predicate.to_dict() for predicate in self.predicates]}

    def to_conllu(self, sent_id: str = "1") -> str:
        """One CoNLL-U block, ending with its blank line."""
        lines = [f"# sent_id = {sent_id}", f"# text = {self.conllu_text()}"]
        if self.entities:
            lines.append("# entities = " + " ".join(f"{_field(e.label)}={e.start}:{e.end}"
                                                    for e in self.entities))
        misc: dict[int, list[str]] = {token.id: [] for token in self.tokens}
        for token in self.tokens:
            if token.pku is not None:
                misc[token.id].append(f"PKU={_field(token.pku)}")
        for predicate in self.predicates:
            misc[predicate.id].append("Pred=Yes")
        roles: dict[int, list[str]] = {}
        spans: dict[int, list[str]] = {}
        for predicate in self.predicates:
            for argument in predicate.arguments:
                roles.setdefault(argument.id, []).append(f"{predicate.id}:{_field(argument.role)}")
                first, last = argument.span[0] + 1, argument.span[1]  # token ids
                spans.setdefault(argument.id, []).append(f"{predicate.id}:{first}-{last}")
        for token_id, found in roles.items():
            misc[token_id].append("SRL=" + ",".join(found))
            misc[token_id].append("SRLSpan=" + ",".join(spans[token_id]))
        for token, following in zip(self.tokens, self.tokens[1:] + [None]):
            space = self._space_after(token, following)
            if space == "":
                misc[token.id].append("SpaceAfter=No")
            elif space != " ":
                misc[token.id].append("SpacesAfter=" + _escape_spaces(space))
            misc[token.id].append(f"TokenRange={token.start}:{token.end}")
        for token in self.tokens:
            deps = "_" if not token.semantic_heads else "|".join(
                f"{head}:{_enhanced_relation(rel)}" for head, rel in sorted(token.semantic_heads))
            columns = [str(token.id), _form(token.text), "_", _field(token.upos),
                       _field(token.xpos), "_",
                       "_" if token.head is None else str(token.head), _field(token.deprel),
                       deps, "|".join(misc[token.id]) or "_"]
            lines.append("\t".join(columns))
        return "\n".join(lines) + "\n\n"

    def conllu_text(self) -> str:
        """The `# text` of CoNLL-U: the forms, one space where the text has whitespace
        between two tokens (what UD's validator checks against FORM and SpaceAfter)."""
        return "".join(_form(token.text) + (" " if self._space_after(token, following) else "")
                       for token, following in zip(self.tokens, self.tokens[1:] + [None]))

    def _space_after(self, token: Token, following: Token | None) -> str:
        """The text between a token and the next one in this sentence ("" at the end)."""
        if following is None:
            return ""
        return self.text[token.end - self.start : following.start - self.start]


@dataclass
class Document:
    text: str
    sentences: list[Sentence] = field(default_factory=list)
    tasks: tuple[str, ...] = ()  # the tasks that were run

    @property
    def tokens(self) -> list[Token]:
        return [token for sentence in self.sentences for token in sentence.tokens]

    @property
    def entities(self) -> list[Span]:
        return [entity for sentence in self.sentences for entity in sentence.entities]

    @property
    def words(self) -> list[str]:
        return [token.text for token in self.tokens]

    def to_dict(self) -> dict:
        return {"text": self.text,
                "sentences": [sentence.to_dict() for sentence in self.sentences],
                "entities": [entity.to_dict() for entity in self.entities]}

    @classmethod
    def from_dict(cls, record: dict) -> Document:
        """A Document from its `to_dict()` record (a `zhnlp tag --format json` line). The
        entities, listed for the whole document there, go to the sentence that holds them."""
        doc = cls(text=record["text"])
        for part in record.get("sentences", []):
            tokens = [Token(**{key: token.get(key) for key in _TOKEN_FIELDS})
                      for token in part["tokens"]]
            for token in tokens:
                if token.semantic_heads is not None:
                    token.semantic_heads = [(head, rel) for head, rel in token.semantic_heads]
            sentence = Sentence(text=record["text"][part["start"] : part["end"]],
                                start=part["start"], end=part["end"], tokens=tokens)
            sentence.predicates = [_predicate_from_dict(p, sentence)
                                   for p in part.get("predicates", [])]
            doc.sentences.append(sentence)
        for entity in record.get("entities", []):
            home = next((s for s in doc.sentences if s.start <= entity["start"] < s.end), None)
            if home is None:  # outside every sentence: keep it on the last (or a new) one
                home = doc.sentences[-1] if doc.sentences else None
                if home is None:
                    home = Sentence(text="", start=0, end=0)
                    doc.sentences.append(home)
            start, end = entity["start"], entity["end"]
            home.entities.append(Span(record["text"][start:end], entity["label"], start, end))
        return doc

    def to_conllu(self, doc_id: str | None = None) -> str:
        """CoNLL-U of every sentence; sent_ids `DOC_ID-N`, or `N` without a doc_id (give
        each document of one file its own doc_id so that sent_ids stay unique)."""
        prefix = "" if doc_id is None else f"{doc_id}-"
        return "".join(sentence.to_conllu(f"{prefix}{number}")
                       for number, sentence in enumerate(self.sentences, 1))

    def to_text(self, tags: bool | None = None) -> str:
        """Words separated by one space (whitespace inside a word removed), on one line;
        `word/XPOS` when tags is True (default: when POS was run)."""
        tags = "pos" in self.tasks if tags is None else tags
        words = []
        for token in self.tokens:
            word = "".join(token.text.split())
            words.append(f"{word}/{token.xpos or token.upos or '_'}" if tags else word)
        return " ".join(words)


def _predicate_from_dict(record: dict, sentence: Sentence) -> Predicate:
    """A predicate record; text and offsets default to its token's (they follow from the
    id, so hand-written system files may leave them out), an argument's span to its head
    word alone and its span_text to the text the span covers."""
    tokens = sentence.tokens

    def where(item: dict) -> dict:
        token = tokens[item["id"] - 1] if 0 < item["id"] <= len(tokens) else None
        return {key: item.get(key, getattr(token, key, "" if key == "text" else 0))
                for key in ("id", "text", "start", "end")}

    arguments = []
    for item in record.get("arguments", []):
        span = item.get("span")
        argument = Argument(**where(item), role=item["role"],
                            span=None if span is None else (span[0], span[1]),
                            span_text=item.get("span_text"))
        if argument.span_text is None:
            argument.span_text = sentence.span_text(argument.span)
        arguments.append(argument)
    return Predicate(**where(record), arguments=arguments)


_TOKEN_FIELDS = ("id", "text", "start", "end", "upos", "xpos", "pku", "head", "deprel",
                 "semantic_heads")

_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


def _one_line(text: str) -> str:
    """Line breaks (all that str.splitlines knows) and tabs as spaces, length kept."""
    return text.translate(_LINE_BREAKS)
def _escape_spaces(text: str) -> str:
    """A SpacesAfter value as UDPipe writes it: \\s space, \\t tab, \\n and \\r line
    breaks, \\p a bar; other whitespace as \\uXXXX, so the value stays one field."""
    escapes = {" ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r", "|": "\\p",
               "\\": "\\\\"}
    return "".join(escapes.get(char) or (f"\\u{ord(char):04x}" if char.isspace() else char)
                   for char in text)


def _enhanced_relation(relation: str) -> str:
    """A SemEval-2016 relation as UD's DEPS column admits it: `root`, else `dep:` and the
    relation lowercased (its 134 labels stay distinct), e.g. mDegr -> dep:mdegr."""
    if relation == "Root":
        return "root"
    subtype = "".join(ch for ch in relation.lower() if ch.isalpha())
    return f"dep:{subtype}" if subtype else "dep"


def _field(value: str | None) -> str:
    """A CoNLL-U column value: `_` when missing, no whitespace."""
    if value is None or value == "":
        return "_"
    return "".join(value.split()) or "_"


def _form(text: str) -> str:
    """FORM column: the word without whitespace, in Unicode NFC, U+FFFD (which UD's
    validator takes for an encoding error) as `?`; the original stays in TokenRange."""
    return unicodedata.normalize("NFC", "".join(text.split())).replace("\ufffd", "?") or "_"
