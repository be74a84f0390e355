"""waitress's connection handling with two changes for `zhnlp serve`.

- Errors waitress answers itself, before the app sees the request (a malformed request
  line, a bad Content-Length or chunk size, headers over its limit: 431, a body over its
  limit: 413), are JSON in the service's shape, `{"error": {"code", "message"}}`, with
  `nosniff`, instead of plain text.
- A request must arrive whole (headers and body) within a deadline from its first byte;
  a slower connection is closed. waitress's own timeout only closes connections that send
  nothing at all, so a client sending one byte a second could hold a connection for ever.
"""

from __future__ import annotations

import time

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from server import JSON_TYPE, error_json

_CODES = {400: "bad_request", 413: "body_too_large", 431: "headers_too_large",
          500: "internal_error"}


class JsonErrorTask(ErrorTask):
    def execute(self) -> None:
        error = self.request.error
        body = error_json(_CODES.get(error.code, "http_error"),
                          f"{error.reason}: {' '.join(str(error.body).split())[:500]}")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", JSON_TYPE),
                                      ("X-Content-Type-Options", "nosniff")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask
    request_timeout = 30.0
    _request_started = 0.0

    @classmethod
    def with_deadline(cls, seconds: float) -> type[JsonErrorChannel]:
        return type(cls.__name__, (cls,), {"request_timeout": float(seconds)})

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        if self.request is None:  # the first bytes of a request
            self._request_started = now
        elif now - self._request_started > self.request_timeout:
            self.will_close = True  # too slow: close without an answer
            return False
        return super().received(data)
