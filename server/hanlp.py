"""HanLP's RESTful protocol under `/hanlp`, so that HanLP's own client (`pip install
hanlp-restful`) talks to `zhnlp serve` unmodified:

    from hanlp_restful import HanLPClient
    HanLP = HanLPClient("http://127.0.0.1:8000/hanlp", auth=None, language="zh")
    HanLP.parse("他叫汤姆去拿外衣。").pretty_print()

Routes (what `hanlp_restful.HanLPClient` 0.0.24 sends): `POST /hanlp/parse` with `{"text":
str | [str], "tokens": [[str]], "tasks", "skip_tasks", "language"}` (`parse`, `__call__` and
`tokenize`, which asks for tasks="tok") and `GET /hanlp/about`. A text str is a document
(split into sentences); a list of str is one sentence each; tokens are sentences of words
(segmentation skipped).

The answer is HanLP's: one key per task, each a list with one entry per sentence:
`tok/fine` words, `pos/ctb` and `pos/pku` tags, `ner/msra` and `ner/pku` entities as
`[text, type, begin, end]` (word offsets in the sentence, end exclusive), `dep` as `[head,
relation]` per word (heads from 1, 0 the root), `srl` one list per predicate of `[text,
role, begin, end]` with the predicate itself as `PRED`, `sdp` a list of `[head, relation]`
per word. The labels are mapped to HanLP's where HanLP's set has a counterpart (NER types,
PropBank role names, CTB tags from UD_Chinese XPOS); README "HanLP's RESTful API" lists what
still differs. Tasks are named as HanLP names them, or by a prefix (`pos`: both tag sets).

Requests go through the service's own checks (`validation.parse_annotate`: the same limits)
and the same analyser (the model process of `zhnlp serve`, batched with /v1/annotate's
requests). Errors are 4xx JSON as FastAPI (HanLP's server) writes them, `{"detail":
message}`, with this service's `{"error": {"code", "message"}}` beside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from flask import Blueprint, Response, request

from server.summary import ModelSummary
from server.validation import AnnotateJob, ApiError, Limits, decode_body, parse_annotate, show
from zhnlp.document import Sentence
from zhnlp.interop import entity_words

# HanLP's output keys that zhnlp can fill -> the zhnlp task behind each (order: HanLP's)
KEYS = {"tok/fine": "cws", "pos/ctb": "pos", "pos/pku": "pos", "ner/msra": "ner",
        "ner/pku": "ner", "srl": "srl", "dep": "dep", "sdp": "sdp"}
# HanLP tasks zhnlp has no model for (named in the error message)
UNSUPPORTED = ("tok/coarse", "pos/863", "ner/ontonotes", "con", "amr", "lem", "fea")
LANGUAGES = ("zh",)

# NER: zhnlp's MSRA types as HanLP's ner/msra and ner/pku write them
NER_MSRA = {"PER": "PERSON", "LOC": "LOCATION", "ORG": "ORGANIZATION"}
NER_PKU = {"PER": "nr", "LOC": "ns", "ORG": "nt"}
# POS: UD_Chinese XPOS -> Penn Chinese Treebank tags (HanLP's pos/ctb). Tags without a CTB
# counterpart (PFA, PFN prefixes, XX, LS, EC) are passed on as they are.
CTB = {"NN": "NN", "NNP": "NR", "NNB": "M", "PRP": "PN", "WP": "PN", "VV": "VV",
       "VERB": "VV", "MD": "VV", "VC": "VC", "PRD": "VA", "JJ": "JJ", "RB": "AD", "IN": "P",
       "CC": "CC", "CD": "CD", "DT": "DT", "AS": "AS", "DEC": "DEC", "DEV": "DEV",
       "SFN": "SP", "SFV": "SP", "SFA": "SP", "UH": "IJ", "FW": "FW", "ADD": "NN",
       **dict.fromkeys([",", ".", ":", "(", ")", '"', "''", "``", "...", "/", "HYPH"], "PU")}
BA_WORDS = frozenset("把将")  # XPOS BB is CTB's BA for these, the passive LB otherwise


def blueprint(summary: ModelSummary, limits: Limits,
              analyse: Callable[[AnnotateJob], list]) -> Blueprint:
    """The /hanlp routes for an app whose model is described by `summary`; `analyse` runs
    a checked job (the app's analyser, its errors already ApiErrors)."""
    routes = Blueprint("hanlp", __name__)
    keys = available_keys(summary)

    @routes.post("/parse")
    def parse():
        body = decode_body(request.get_data(cache=False))  # any Content-Type: the client's
        if not isinstance(body, dict):                    # urllib fallback sends a form type
            raise _bad("the body must be a JSON object such as {\"text\": \"...\"}.")
        language = body.get("language")
        if language is not None and language not in LANGUAGES:
            raise _bad(f"language {show(language)} is not supported; this server analyses "
                       "Chinese: language=\"zh\" (or none).", "invalid_request")
        text, tokens = body.get("text"), body.get("tokens")
        if (text is None) == (tokens is None):
            raise _bad("give one of \"text\" (a document, or a list of sentences) and "
                       "\"tokens\" (a list of sentences of words)"
                       + (", not both." if text is not None else "."))
        wanted = resolve(body.get("tasks"), body.get("skip_tasks"), keys, tokens is not None)
        if text is not None:
            if not (isinstance(text, str) or _strings(text)):
                raise _bad("\"text\" must be a string (a document) or a list of strings (one "
                           "sentence each).")
            request_body = ({"text": text} if isinstance(text, str)
                            else {"texts": text, "split": False})
        else:
            if not isinstance(tokens, list) or not all(_strings(words) for words in tokens):
                raise _bad("\"tokens\" must be a list of sentences, each a list of words "
                           "(strings).")
            request_body = {"texts": tokens, "pretokenized": True}
        tasks = [task for task in dict.fromkeys(KEYS[key] for key in wanted)
                 if not (tokens is not None and task == "cws")]
        if not tasks:  # tokens in, tokens out: nothing to compute
            return _json({"tok/fine": tokens})
        # the service's own checks and limits (ApiError on failure)
        job = parse_annotate(json.dumps({**request_body, "tasks": tasks}).encode(), summary,
                             limits)
        docs = analyse(job)
        if isinstance(text, str):
            sentences = docs[0].sentences
        else:  # one sentence per item, in order, even an empty one
            sentences = [doc.sentences[0] if doc.sentences else Sentence("", 0, 0)
                         for doc in docs]
        return _json(hanlp_record(sentences, wanted))

    @routes.get("/about")
    def about():
        from zhnlp import __version__

        return _json({"service": "zhnlp", "version": __version__, "model": summary.name,
                      "languages": list(LANGUAGES), "tasks": keys,
                      "endpoints": ["parse", "tokenize (parse with tasks=\"tok\")", "about"],
                      "limits": {"max_texts": limits.max_texts,
                                 "max_chars": limits.max_chars}})

    @routes.errorhandler(ApiError)
    def hanlp_error(error: ApiError):
        body = {"detail": error.message, "error": {"code": error.code,
                                                   "message": error.message}}
        response = _json(body, error.status)
        if error.status == 503:
            response.headers["Retry-After"] = "5"
        return response

    return routes


def available_keys(summary: ModelSummary) -> list[str]:
    """The HanLP keys this model can answer."""
    has_pku = "pku" in (summary.labels.get("pos") or {})
    return [key for key, task in KEYS.items()
            if task in summary.tasks and not (key == "pos/pku" and not has_pku)]


def resolve(tasks: object, skip_tasks: object, keys: list[str], pretokenized: bool
            ) -> list[str]:
    """The keys to answer, in HanLP's order: the named tasks (a key or a prefix of keys,
    `pos` is both tag sets; none: all), minus skip_tasks; `tok/fine` always (HanLP answers
    the words with every task)."""
    wanted = keys if tasks is None else _match(tasks, keys, "tasks")
    skipped = set() if skip_tasks is None else set(_match(skip_tasks, keys, "skip_tasks"))
    if "tok/fine" in skipped and not pretokenized:
        raise _bad("skip_tasks=\"tok/fine\" asks for coarse words (tok/coarse), which this "
                   "server does not have; it segments with tok/fine only.", "unknown_task")
    chosen = {"tok/fine", *wanted} - (skipped - {"tok/fine"})
    return [key for key in KEYS if key in chosen]


def _match(names: object, keys: list[str], field: str) -> list[str]:
    names = [names] if isinstance(names, str) else names
    if not _strings(names):
        raise _bad(f"\"{field}\" must be a task name or a list of them, such as [\"pos\", "
                   f"\"ner\"].")
    found: list[str] = []
    for name in names:
        matched = [key for key in keys if key == name or key.startswith(name + "/")]
        if not matched:
            why = ("HanLP has it, zhnlp does not" if any(
                task == name or task.startswith(name + "/") for task in UNSUPPORTED)
                else "not a task this model has")
            raise _bad(f"task {show(name)} is not supported by this server ({why}); it "
                       f"answers {', '.join(keys)}.", "unknown_task")
        found += matched
    return found


def hanlp_record(sentences: list[Sentence], keys: list[str]) -> dict:
    """HanLP's answer for these sentences: each key a list with one entry per sentence."""
    return {key: [_FIELDS[key](sentence) for sentence in sentences] for key in keys}


def _entities(labels: dict[str, str]) -> Callable[[Sentence], list]:
    def entities(sentence: Sentence) -> list:
        found = []
        for entity in sentence.entities:
            where = entity_words(sentence, entity)
            if where is not None:
                found.append([_join(sentence, *where), labels.get(entity.label, entity.label),
                              *where])
        return found

    return entities


def _ctb(word: str, xpos: str | None) -> str | None:
    if xpos == "BB":
        return "BA" if word in BA_WORDS else "LB"
    return CTB.get(xpos, xpos)


def _srl(sentence: Sentence) -> list:
    frames = []
    for predicate in sentence.predicates:
        frame = [[predicate.text, "PRED", predicate.id - 1, predicate.id]]
        for argument in predicate.arguments:
            first, end = argument.span
            frame.append([_join(sentence, first, end), hanlp_role(argument.role), first, end])
        frames.append(sorted(frame, key=lambda item: (item[2], item[3])))
    return frames


def hanlp_role(role: str) -> str:
    """A PropBank role as HanLP writes it: A0 -> ARG0, AM-TMP -> ARGM-TMP, R-A0 -> R-ARG0."""
    return re.sub(r"(^|-)A(\d)", r"\1ARG\2", role.replace("AM-", "ARGM-"))


def _join(sentence: Sentence, first: int, end: int) -> str:
    return "".join(token.text for token in sentence.tokens[first:end])


_FIELDS: dict[str, Callable[[Sentence], list]] = {
    "tok/fine": lambda s: [t.text for t in s.tokens],
    "pos/ctb": lambda s: [_ctb(t.text, t.xpos) for t in s.tokens],
    "pos/pku": lambda s: [t.pku for t in s.tokens],
    "ner/msra": _entities(NER_MSRA),
    "ner/pku": _entities(NER_PKU),
    "srl": _srl,
    "dep": lambda s: [[t.head, t.deprel] for t in s.tokens],
    "sdp": lambda s: [[list(pair) for pair in t.semantic_heads or []] for t in s.tokens],
}


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _bad(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message)


def _json(record: object, status: int = 200) -> Response:
    return Response(json.dumps(record, ensure_ascii=False).encode("utf-8"), status=status,
                    content_type="application/json; charset=utf-8")
