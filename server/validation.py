"""Parsing and checking a `POST /v1/annotate` body: bytes in, an `AnnotateJob` out, or an
`ApiError` whose status and code the OpenAPI document lists. Nothing here runs the model.

Order of checks (the first failure is reported): UTF-8 -> JSON -> an object -> no unknown
field -> exactly one of text/texts -> the types of every field -> the counts and lengths
(limits) -> tasks, standard and format against the model. So a request with several faults
always gets the same answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from zhnlp.errors import ZhnlpError
from zhnlp.text import word_spans
from zhnlp.tokenizer import is_dropped

FORMATS = ("json", "conllu")
FIELDS = ("text", "texts", "tasks", "pretokenized", "standard", "split", "format")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ApiError(Exception):
    """An error answered as `{"error": {"code": code, "message": message}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20  # 1 MiB
    max_texts: int = 100
    max_chars: int = 10_000  # per text (pretokenized: the words together)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_texts", "max_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ZhnlpError(f"{name} must be a positive int, not {value!r}.")


@dataclass
class AnnotateJob:
    """A checked request, ready for `Pipeline.process`."""

    texts: list[str]
    single: bool  # "text" was given: answer one object, not a list
    tasks: list[str] | None = None  # as the client gave them (None: all the model has)
    standard: str | None = None
    split: bool = True
    format: str = "json"
    words: list[list[tuple[int, int]]] | None = field(default=None, repr=False)


def show(value: object, limit: int = 40) -> str:
    """A short repr of a client value for an error message."""
    text = json.dumps(value, ensure_ascii=True) if _jsonable(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: object) -> bool:
    return isinstance(value, str | int | float | bool | list | dict) or value is None


def _kind(value: object) -> str:
    """The JSON name of a value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json.loads makes nothing else


def bad(message: str, code: str = "invalid_request", status: int = 400) -> ApiError:
    return ApiError(status, code, message)


def decode_body(body: bytes) -> object:
    try:
        text = body.decode("utf-8-sig")  # a leading BOM is ignored (RFC 8259 allows it)
    except UnicodeDecodeError as error:
        raise bad(f"the body is not valid UTF-8 ({error.reason} at byte {error.start}); send "
                  "JSON encoded as UTF-8.", "invalid_utf8") from None
    if not text.strip():
        raise bad("the body is empty; send a JSON object such as {\"text\": \"...\"}.",
                  "invalid_json")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise bad("the JSON is nested too deeply.", "invalid_json") from None
    except ValueError as error:  # JSONDecodeError, NaN/Infinity, over-long int literals
        where = (f" (line {error.lineno}, column {error.colno})"
                 if isinstance(error, json.JSONDecodeError) else "")
        reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
        raise bad(f"the body is not valid JSON: {reason}{where}.", "invalid_json") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_annotate(body: bytes, model, limits: Limits) -> AnnotateJob:
    """Check a request body against the API and the model (a `ModelSummary`, or anything
    with its `tasks`, `standards` and `resolve_tasks`, such as a Pipeline); raises
    ApiError."""
    request = decode_body(body)
    if not isinstance(request, dict):
        raise bad(f"the body must be a JSON object such as {{\"text\": \"...\"}}, not "
                  f"{_kind(request)}.")
    unknown = [key for key in request if key not in FIELDS]
    if unknown:
        raise bad(f"unknown field {show(unknown[0])}; the fields are {', '.join(FIELDS)}.")
    if ("text" in request) == ("texts" in request):
        raise bad("give exactly one of \"text\" (one text) and \"texts\" (a list of texts)"
                  + (", not both." if "text" in request else "."))

    pretokenized = request.get("pretokenized", False)
    if not isinstance(pretokenized, bool):
        raise bad(f"\"pretokenized\" must be true or false, not {_kind(pretokenized)}.")
    split = request.get("split", True)
    if not isinstance(split, bool):
        raise bad(f"\"split\" must be true or false, not {_kind(split)}.")
    single = "text" in request
    items = [request["text"]] if single else request["texts"]
    if not single and not isinstance(items, list):
        raise bad(f"\"texts\" must be an array, not {_kind(items)}.")
    for index, item in enumerate(items):
        where = "\"text\"" if single else f"\"texts\"[{index}]"
        if pretokenized:
            _check_words(item, where)
        elif not isinstance(item, str):
            hint = (" (with \"pretokenized\": true it is an array of words)"
                    if isinstance(item, list) else "")
            raise bad(f"{where} must be a string, not {_kind(item)}{hint}.")

    tasks = request.get("tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not all(isinstance(task, str) for task in tasks):
            raise bad("\"tasks\" must be an array of task names such as [\"cws\", \"pos\"], "
                      f"not {show(tasks)}.")
        if not tasks:
            raise bad("\"tasks\" is empty; leave it out to run every task the model has, or "
                      f"name some of {', '.join(model.tasks)}.")
    standard = request.get("standard")
    if standard is not None and not isinstance(standard, str):
        raise bad(f"\"standard\" must be a string such as {show(model.standards[0])}, not "
                  f"{_kind(standard)}.")
    output = request.get("format", "json")
    if not isinstance(output, str):
        raise bad(f"\"format\" must be a string, one of {', '.join(FORMATS)}, not "
                  f"{_kind(output)}.")

    if len(items) > limits.max_texts:
        raise bad(f"{len(items)} texts in one request; the limit is {limits.max_texts}: send "
                  "them in several requests.", "too_many_texts", 413)
    texts = ["".join(item) for item in items] if pretokenized else items
    for index, text in enumerate(texts):
        where = "\"text\"" if single else f"\"texts\"[{index}]"
        if len(text) > limits.max_chars:
            raise bad(f"{where} has {len(text)} characters; the limit is {limits.max_chars} "
                      "per text: split it.", "text_too_long", 413)
        match = _SURROGATE.search(text)
        if match:
            raise bad(f"{where} holds a lone surrogate (\\u{ord(match.group()):04x}) at "
                      f"character {match.start()}, which is not a character: encode the text "
                      "as UTF-8.", "invalid_text")

    try:
        model.resolve_tasks(tasks, pretokenized)
    except ZhnlpError as error:
        raise bad(str(error), "unknown_task") from None
    if standard is not None and standard not in model.standards:
        raise bad(f"unknown standard {show(standard)}; this model has "
                  f"{', '.join(model.standards)}.", "unknown_standard")
    if output not in FORMATS:
        raise bad(f"unknown format {show(output)}; choose {' or '.join(FORMATS)}.",
                  "unknown_format")

    words = [word_spans(item) for item in items] if pretokenized else None
    return AnnotateJob(texts=list(texts), single=single, tasks=tasks, standard=standard,
                       split=split, format=output, words=words)


def _check_words(item: object, where: str) -> None:
    if not isinstance(item, list):
        raise bad(f"with \"pretokenized\": true, {where} must be an array of words (strings),"
                  f" not {_kind(item)}.")
    for number, word in enumerate(item):
        if not isinstance(word, str):
            raise bad(f"with \"pretokenized\": true, {where} must be an array of strings; word "
                      f"{number} is {_kind(word)}.")
        if all(is_dropped(char) for char in word):
            raise bad(f"word {number} of {where} is empty or blank ({show(word)}); remove "
                      "empty words.", "invalid_text")
