"""The OpenAPI 3.1 document of the service, built for one model and one set of limits (so
the task and standard enums and the limits it states are the ones in force). Schemas are
JSON Schema 2020-12, as OpenAPI 3.1 has them; tests validate real responses against them.
"""

from __future__ import annotations

from server.validation import FORMATS

# code -> HTTP status; every error the service answers has one of these codes.
ERRORS = {
    "invalid_json": 400, "invalid_utf8": 400, "invalid_request": 400, "invalid_text": 400,
    "unknown_task": 400, "unknown_standard": 400, "unknown_format": 400, "bad_request": 400,
    "not_found": 404, "method_not_allowed": 405, "too_many_texts": 413,
    "text_too_long": 413, "body_too_large": 413, "unsupported_media_type": 415,
    "headers_too_large": 431, "internal_error": 500, "model_unavailable": 503,
    "http_error": 0,  # 0: any other status werkzeug or waitress raises
}


def error_codes() -> tuple[str, ...]:
    return tuple(ERRORS)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _offsets(*names: str, **extra: dict) -> dict:
    properties = {name: {"type": "integer", "minimum": 0} for name in names}
    properties.update(extra)
    return properties


def _object(properties: dict, required: list[str] | None = None, **more) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False, **more}


def _error_response(description: str, codes: list[str]) -> dict:
    listed = ", ".join(f"`{code}`" for code in codes)
    return {"description": f"{description} Codes: {listed}.",
            "content": {"application/json": {"schema": _ref("Error")}}}


def build_openapi(summary, limits) -> dict:
    """The OpenAPI document of the app for this model (`ModelSummary`) and these limits."""
    from zhnlp import __version__

    tasks, standards = summary.tasks, summary.standards
    nullable_str = {"type": ["string", "null"]}
    schemas = {
        "Token": _object(
            _offsets("id", "start", "end", text={"type": "string"},
                     upos=nullable_str, xpos=nullable_str,
                     head={"type": ["integer", "null"], "minimum": 0},
                     deprel=nullable_str,
                     pku={"type": "string", "description": "the PKU tag layer; present only "
                          "when the model has one and pos ran"}),
            required=["id", "text", "start", "end", "upos", "xpos", "head", "deprel"],
            description="A word. `id` counts from 1 within the sentence; `head` is the id of "
                        "its head (0: the root). Fields of tasks not run are null."),
        "Argument": _object(
            _offsets("id", "start", "end", text={"type": "string"}, role={"type": "string"},
                     span={"type": "array", "items": {"type": "integer", "minimum": 0},
                           "minItems": 2, "maxItems": 2,
                           "description": "[start, end]: word indices within the sentence, "
                                          "end exclusive (tokens[start:end], token ids "
                                          "start+1 .. end); holds the head word"},
                     span_text={"type": "string",
                                "description": "the text the span covers"}),
            description="A semantic argument: the token `id` heads it (`text`, `start`, "
                        "`end` are that word's); `span` is the head's dependency subtree "
                        "without the predicate's, kept contiguous (the CoNLL-2009 "
                        "conversion), or the head word alone when dep was not run."),
        "Predicate": _object(_offsets("id", "start", "end", text={"type": "string"},
                                      arguments={"type": "array", "items": _ref("Argument")})),
        "Sentence": _object(_offsets("start", "end",
                                     tokens={"type": "array", "items": _ref("Token")},
                                     predicates={"type": "array",
                                                 "items": _ref("Predicate")})),
        "Entity": _object(_offsets("start", "end", text={"type": "string"},
                                   label={"type": "string"})),
        "Document": _object(
            {"text": {"type": "string"},
             "sentences": {"type": "array", "items": _ref("Sentence")},
             "entities": {"type": "array", "items": _ref("Entity")}},
            description="The `zhnlp tag --format json` record. Every `start`/`end` is a "
                        "character offset (Unicode code points, end exclusive) into `text`, "
                        "the text as sent (pretokenized: the words joined without spaces)."),
        "Conllu": _object({"conllu": {"type": "string", "description": "CoNLL-U: one block "
                                      "per sentence, as `zhnlp tag --format conllu` writes (UD v2; "
                                      "`# sent_id` N for `text`, DOC-N for the DOC-th of "
                                      "`texts`)"}}),
        "AnnotateRequest": {
            "type": "object",
            "additionalProperties": False,
            "oneOf": [{"required": ["text"]}, {"required": ["texts"]}],
            "description": "Exactly one of `text` and `texts`. Unknown fields are refused. "
                           f"Limits: at most {limits.max_texts} texts, at most "
                           f"{limits.max_chars} characters per text (pretokenized: the words "
                           f"together), at most {limits.max_body_bytes} bytes of body.",
            "properties": {
                "text": {
                    "oneOf": [{"type": "string"},
                              {"type": "array", "items": {"type": "string"}}],
                    "description": "One text -> one Document. A string; with "
                                   "`pretokenized`, an array of words instead.",
                },
                "texts": {
                    "type": "array", "maxItems": limits.max_texts,
                    "items": {"oneOf": [{"type": "string"},
                                        {"type": "array", "items": {"type": "string"}}]},
                    "description": "Several texts -> an array of Documents, in order (an "
                                   "empty array -> []). Strings; with `pretokenized`, arrays "
                                   "of words.",
                },
                "pretokenized": {
                    "type": "boolean", "default": False,
                    "description": "The input is already split into words: `text` is an "
                                   "array of words (one sentence) and `texts` an array of such "
                                   "arrays. Each word is a non-blank string; the document text "
                                   "is the words joined without spaces, and word i spans "
                                   "the characters it fills there. Segmentation (cws) is "
                                   "skipped and each text is one sentence (`split` is "
                                   "ignored). `[]` is a document with no sentence.",
                },
                "tasks": {
                    "type": "array", "minItems": 1,
                    "items": {"type": "string", "enum": tasks},
                    "description": "Tasks to run (default: all the model has). pos, dep and "
                                   "srl add cws unless pretokenized.",
                },
                "standard": {
                    "type": ["string", "null"], "enum": [*standards, None],
                    "description": "Segmentation standard (default: "
                                   f"{summary.default_standard}).",
                },
                "split": {"type": "boolean", "default": True,
                          "description": "Split texts into sentences; false: each text is "
                                         "one sentence."},
                "format": {"type": "string", "enum": list(FORMATS), "default": "json",
                           "description": "json: Document records; conllu: `{\"conllu\": "
                                          "str}` records instead, one per text."},
            },
        },
        "AnnotateResponse": {"anyOf": [
            _ref("Document"), {"type": "array", "items": _ref("Document")},
            _ref("Conllu"), {"type": "array", "items": _ref("Conllu")}],
            "description": "`text` -> one record; `texts` -> an array of records. A record "
                           "is a Document (format json) or a Conllu object (format conllu)."},
        "Error": _object({"error": _object({
            "code": {"type": "string", "enum": list(ERRORS)},
            "message": {"type": "string", "description": "one sentence naming the fix"}})}),
        "Health": _object({"status": {"enum": ["ok", "unavailable"]},
                           "model_loaded": {"type": "boolean"},
                           "model": {"type": "string"},
                           "worker": {"type": "integer",
                                      "description": "process id of the worker that "
                                                     "answered"}}),
        "Info": _object({
            "service": {"const": "zhnlp"}, "version": {"type": "string"},
            "model": {"type": "string"},
            "tasks": {"type": "array", "items": {"type": "string"}},
            "standards": {"type": "array", "items": {"type": "string"}},
            "default_standard": {"type": "string"},
            "labels": {"type": "object", "description": "label sets: pos (layer -> tags), "
                       "ner (entity types), dep (relations), srl (roles)"},
            "formats": {"type": "array", "items": {"type": "string"}},
            "max_sentence_chars": {"type": "integer", "description": "longer sentences are "
                                   "cut and stitched back, never truncated"},
            "limits": _object({name: {"type": "integer"} for name in
                               ("max_body_bytes", "max_texts", "max_chars")}),
        }),
    }
    default = _error_response("Any other error: unknown route, wrong method, or a server "
                              "failure.", ["not_found", "method_not_allowed",
                                           "internal_error", "http_error"])

    def get(summary: str, schema: dict | None, media: str = "application/json") -> dict:
        content = {media: {"schema": schema}} if schema else {media: {}}
        return {"get": {"summary": summary, "responses": {
            "200": {"description": "OK", "content": content}, "default": default}}}

    examples = {
        "text": {"value": {"text": "他叫汤姆去拿外衣。"}},
        "texts": {"value": {"texts": ["他叫汤姆去拿外衣。", "北京大学"],
                            "tasks": ["cws", "pos"]}},
        "pretokenized": {"value": {"text": ["他", "叫", "汤姆"], "pretokenized": True}},
        "conllu": {"value": {"text": "他叫汤姆去拿外衣。", "format": "conllu"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "zhnlp", "version": __version__,
                 "description": "Chinese word segmentation, POS tagging, named entities, "
                                "dependency parsing and semantic roles. JSON in UTF-8. Every "
                                "error is `{\"error\": {\"code\", \"message\"}}` (schema "
                                "Error): a route not listed here gets 404 `not_found`, a "
                                "method a path does not list gets 405 `method_not_allowed` "
                                "(with an Allow header)."},
        "paths": {
            "/v1/annotate": {"post": {
                "summary": "Analyse text",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _ref("AnnotateRequest"), "examples": examples}}},
                "responses": {
                    "200": {"description": "The analyses.", "content": {"application/json": {
                        "schema": _ref("AnnotateResponse")}}},
                    "400": _error_response("Bad input.", [c for c, s in ERRORS.items()
                                                          if s == 400]),
                    "413": _error_response("Over a limit.", ["body_too_large",
                                                             "too_many_texts",
                                                             "text_too_long"]),
                    "415": _error_response("Not `application/json` in UTF-8.",
                                           ["unsupported_media_type"]),
                    "500": _error_response("Server failure (logged).", ["internal_error"]),
                    "503": _error_response("The model process is restarting (retry after "
                                           "the Retry-After seconds).", ["model_unavailable"]),
                    "default": default,
                }}},
            "/v1/health": {"get": {
                "summary": "Readiness: 200 while the model is loaded, 503 while it is down",
                "responses": {
                    "200": {"description": "OK", "content": {"application/json": {
                        "schema": _ref("Health")}}},
                    "503": {"description": "The model process is down (restarting).",
                            "content": {"application/json": {"schema": _ref("Health")}}},
                    "default": default}}},
            "/v1/info": get("The model: tasks, standards, label sets; the limits",
                            _ref("Info")),
            "/v1/openapi.json": get("This document", {"type": "object"}),
            "/": get("The demo page", None, "text/html"),
            # HanLP's RESTful protocol (server/hanlp.py): HanLP's formats, not these schemas
            "/hanlp/parse": {"post": {
                "summary": "HanLP's parse (hanlp_restful.HanLPClient.parse and .tokenize)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"type": "object", "description": "{text: str | [str]} or "
                               "{tokens: [[str]]}, with optional tasks, skip_tasks, "
                               "language"}}}},
                "responses": {
                    "200": {"description": "HanLP's document: one key per task (tok/fine, "
                            "pos/ctb, pos/pku, ner/msra, ner/pku, srl, dep, sdp), each a "
                            "list per sentence.", "content": {"application/json": {
                                "schema": {"type": "object"}}}},
                    "400": {"description": "Bad input or an unsupported task or language: "
                            "{detail: message, error: {code, message}}.",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "default": default}}},
            "/hanlp/about": get("HanLP's about: this service, its model and HanLP tasks",
                                {"type": "object"}),
        },
        "components": {"schemas": schemas},
    }
