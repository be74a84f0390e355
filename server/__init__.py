"""The zhnlp HTTP service: a Flask app around one `Pipeline`.

    from server import create_app
    app = create_app("models/zhnlp-base", max_texts=50)   # any WSGI server can run it

`zhnlp serve` runs it under waitress (see `serve.py`). Routes:

- `POST /v1/annotate`: `{"text": str}` or `{"texts": [str]}` (+ "tasks", "pretokenized",
  "standard", "split", "format") -> the `zhnlp tag --format json` record (a list for
  "texts"), or `{"conllu": str}` objects with "format": "conllu".
- `GET /v1/health`, `GET /v1/info`, `GET /v1/openapi.json` (the contract: `openapi.py`).
- `POST /hanlp/parse`, `GET /hanlp/about`: HanLP's RESTful protocol, for HanLP's own client
  (`hanlp.py`).
- `GET /`: the demo page (`static/`: no CDN, no network beyond this server).

Every error is JSON, `{"error": {"code": str, "message": str}}`, with a 4xx status for
anything the client did; an unexpected exception is logged and answered 500 in the same
shape, and the server goes on. The model runs one call at a time (torch parallelises inside
it): in this process behind a `Batcher`, or in a process of its own (`model_process.py`,
what `zhnlp serve` does); HTTP threads parse, check and serialise around it, and requests
that arrive while the model is busy are analysed together in one call (`batcher.py`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from flask import Flask, Response, request, send_from_directory
from werkzeug.exceptions import HTTPException

from server.batcher import Batcher
from server.hanlp import blueprint as hanlp_blueprint
from server.model_process import ModelUnavailable
from server.openapi import build_openapi, error_codes
from server.summary import ModelSummary, summarize
from server.validation import FORMATS, AnnotateJob, ApiError, Limits, parse_annotate

STATIC = Path(__file__).resolve().parent / "static"
JSON_TYPE = "application/json; charset=utf-8"
# The demo page needs nothing but this server: the browser enforces it.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "body_too_large", 415: "unsupported_media_type", 500: "internal_error"}

logger = logging.getLogger("zhnlp.server")


def create_app(model_path: str | os.PathLike | None = None, pipeline=None, *,
               analyser=None, max_body_bytes: int = Limits.max_body_bytes,
               max_texts: int = Limits.max_texts, max_chars: int = Limits.max_chars,
               threads: int | None = None, batch_size: int = 32,
               model_name: str | None = None) -> Flask:
    """The WSGI app. Give a model directory (default: the shipped model) or a loaded
    `pipeline` (then `threads` and `batch_size` are the pipeline's business): the model runs
    in this process, behind a `Batcher`. Or give an `analyser`: a `ModelProcess`, the model
    in a process of its own, as `zhnlp serve` runs it. The limits bound each request: body
    bytes, texts per request, characters per text."""
    from zhnlp.errors import ZhnlpError

    limits = Limits(max_body_bytes, max_texts, max_chars)  # raises ZhnlpError if bad
    if sum(given is not None for given in (model_path, pipeline, analyser)) > 1:
        raise ZhnlpError("give create_app one of model_path, pipeline or analyser.")
    if analyser is None:
        directory_name = None
        if pipeline is None:
            from zhnlp.pipeline import load
            from zhnlp.shipped import model_directory

            pipeline = load(model_path, threads=threads, batch_size=batch_size)
            directory_name = model_directory(model_path).resolve().name
        analyser = Batcher(pipeline, summary=summarize(pipeline, directory_name))
    summary = replace(analyser.summary, name=model_name or analyser.summary.name)
    model_name = summary.name

    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    app.config["ZHNLP_LIMITS"] = limits
    app.config["ZHNLP_ANALYSER"] = analyser
    info = model_info(summary, limits)
    openapi = build_openapi(summary, limits)

    @app.get("/")
    def demo():
        response = send_from_directory(STATIC, "index.html", max_age=0)
        response.headers["Content-Security-Policy"] = CSP
        return response

    @app.get("/v1/health")
    def health():
        # 503 while the model process is down, so that a load balancer or an orchestrator
        # stops sending requests here (and restarts the service if it stays down)
        alive = analyser.alive
        return _json({"status": "ok" if alive else "unavailable", "model_loaded": alive,
                      "model": model_name, "worker": os.getpid()}, 200 if alive else 503)

    @app.get("/v1/info")
    def get_info():
        return _json(info)

    @app.get("/v1/openapi.json")
    def get_openapi():
        return _json(openapi)

    @app.post("/v1/annotate")
    def annotate():
        length = request.content_length
        if length is not None and length > limits.max_body_bytes:
            raise _too_large(length, limits)
        if request.mimetype != "application/json":
            raise ApiError(415, "unsupported_media_type",
                           f"send the body as application/json, not "
                           f"{request.mimetype or 'without a Content-Type'}.")
        charset = request.mimetype_params.get("charset", "utf-8").lower().replace("_", "-")
        if charset not in ("utf-8", "utf8"):
            raise ApiError(415, "unsupported_media_type",
                           f"send the body as UTF-8, not charset={charset[:20]}.")
        body = request.get_data(cache=False)  # werkzeug stops a chunked body at the limit
        job = parse_annotate(body, summary, limits)
        return _json(render(job, analyse(job)))

    def analyse(job: AnnotateJob) -> list:
        """The job's documents from the analyser (/v1/annotate and /hanlp share it)."""
        try:
            return analyser.process(job)
        except ZhnlpError as error:  # the pipeline refused this input (e.g. a huge word)
            raise ApiError(400, "invalid_text", str(error)) from None
        except ModelUnavailable as error:  # restarting (or given up): no traceback
            raise ApiError(503, "model_unavailable", str(error)) from None

    # HanLP's RESTful protocol, for HanLP's own client (server/hanlp.py)
    app.register_blueprint(hanlp_blueprint(summary, limits, analyse), url_prefix="/hanlp")

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        response = _error(error.status, error.code, error.message)
        if error.status == 503:
            response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        if status == 413:
            return _error(413, "body_too_large", f"the body is larger than the limit of "
                          f"{limits.max_body_bytes} bytes; send less per request.")
        if status == 404:
            message = f"no such route: {request.method} {request.path[:200]}; see /v1/openapi.json."
        elif status == 405:
            message = (f"{request.method} is not allowed on {request.path[:200]}; use "
                       f"{', '.join(error.valid_methods or [])}.")
        else:
            message = error.description or error.name
        response = _error(status, _HTTP_CODES.get(status, "http_error"), message)
        if status == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        logger.exception("unexpected error on %s %s", request.method, request.path[:200])
        return _error(500, "internal_error", "the server failed on this request "
                      f"({type(error).__name__}); it is logged, and the server goes on.")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return app


def render(job: AnnotateJob, docs) -> object:
    """What /v1/annotate answers for these documents."""
    if job.format == "conllu":
        # sent_ids: N for one text; DOC-N for texts, DOC counting from 1, so that the
        # records of one request concatenate into one valid CoNLL-U file
        records = [{"conllu": doc.to_conllu(None if job.single else str(number))}
                   for number, doc in enumerate(docs, 1)]
    else:
        records = [doc.to_dict() for doc in docs]
    return records[0] if job.single else records


def model_info(summary: ModelSummary, limits: Limits) -> dict:
    """The /v1/info record: the model's tasks, standards and label sets."""
    from zhnlp import __version__

    return {"service": "zhnlp", "version": __version__, "model": summary.name,
            "tasks": summary.tasks, "standards": summary.standards,
            "default_standard": summary.default_standard, "labels": summary.labels,
            "formats": list(FORMATS), "max_sentence_chars": summary.piece_chars,
            "limits": {"max_body_bytes": limits.max_body_bytes,
                       "max_texts": limits.max_texts, "max_chars": limits.max_chars}}


def _too_large(length: int, limits: Limits) -> ApiError:
    return ApiError(413, "body_too_large", f"the body has {length} bytes; the limit is "
                    f"{limits.max_body_bytes}: send less per request.")


def _json(record: object, status: int = 200) -> Response:
    # Text checked by parse_annotate holds no lone surrogate, so UTF-8 always encodes it.
    body = json.dumps(record, ensure_ascii=False)
    return Response(body.encode("utf-8"), status=status, content_type=JSON_TYPE)


def error_json(code: str, message: str) -> bytes:
    """The body of every error the service answers (also waitress's own, `serve.py`)."""
    if code not in error_codes():  # keep to the documented codes
        code = "http_error"
    # ASCII: a message may quote client input, which may hold anything.
    return json.dumps({"error": {"code": code, "message": message}},
                      ensure_ascii=True).encode("ascii")


def _error(status: int, code: str, message: str) -> Response:
    return Response(error_json(code, message), status=status, content_type=JSON_TYPE)
