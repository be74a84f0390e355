"""The model in a process of its own, behind the HTTP process (how `zhnlp serve` runs).

Python runs one thread at a time (the GIL): in one process, the HTTP threads that read,
check and answer requests keep interrupting the thread that runs the model. Here the
HTTP process only does HTTP; `ModelProcess.process` sends each checked job down a pipe to a
spawned child that holds the Pipeline. The child reads every job waiting in the pipe, runs
those with the same options as one call (`batcher.take` and `batcher.analyse`, as the
in-process `Batcher` does) and sends the documents back; a thread of the HTTP process hands
them to the waiting requests. On the 2-CPU machine of `benchmarks/load.py` this served
single sentences from 8 clients at about 1.2× the requests/s of the in-process model.

The child exits when the HTTP process goes (its end of the pipe closes). If the child dies,
the requests it held fail with `ModelUnavailable` (the service answers 503), and so does
every request until a new child is ready: the supervising thread starts one at once, and
after each further failure (a start that fails, or a child that dies within
`stable_seconds` of being ready) waits twice as long as before (`backoff`, then 2×, 4×...,
at most 30 s). After `max_restarts` failures in a row it gives up and calls `on_give_up`
(`zhnlp serve` then exits non-zero, for systemd or Kubernetes to restart it); `alive` stays
false.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server.batcher import analyse, take
from server.summary import ModelSummary, summarize
from server.validation import AnnotateJob
from zhnlp.errors import ZhnlpError
from zhnlp.memory import heap_trimmer

logger = logging.getLogger("zhnlp.server")
MAX_RESTARTS = 5  # failures in a row before giving up
BACKOFF_SECONDS = 0.5  # the wait before the second try; doubled for each further one
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a child ready for this long has recovered: failures count from 0
TRIM_EVERY_CALLS = 200  # give freed heap back to the system this often (see child_main)


class ModelUnavailable(RuntimeError):
    """The model process is down (restarting, or given up): retry later (HTTP 503)."""


@dataclass(eq=False)
class _Reply:
    done: threading.Event = field(default_factory=threading.Event)
    docs: list | None = None
    error: Exception | None = None


def build_pipeline(model: str | None, threads: int, batch_size: int,
                   user_dict: str | None = None, int8: bool = False,
                   precision: str | None = None, device: str | None = None):
    """The Pipeline the service runs (in its model process), warmed up."""
    from zhnlp.pipeline import load
    from zhnlp.tag import read_user_dict

    pipeline = load(model, threads=threads, batch_size=batch_size, int8=int8,
                    precision=precision, device=device)
    if user_dict:
        pipeline.add_words(read_user_dict(Path(user_dict)))
    pipeline.process(["他叫汤姆去拿外衣。"])  # warm up (first-call costs) before "ready"
    return pipeline


class ModelProcess:
    """`options` are `build_pipeline`'s keyword arguments plus `name`, the model name
    /v1/info shows when the model has none of its own (`summarize`). Starting blocks until
    the model is loaded and raises ZhnlpError with the child's message if it cannot be."""

    def __init__(self, options: dict, max_batch: int = 64, *,
                 on_give_up: Callable[[], None] | None = None,
                 max_restarts: int = MAX_RESTARTS, backoff: float = BACKOFF_SECONDS,
                 stable_seconds: float = STABLE_SECONDS) -> None:
        self.options, self.max_batch = dict(options), max_batch
        self.on_give_up, self.max_restarts = on_give_up, max_restarts
        self.backoff, self.stable_seconds = backoff, stable_seconds
        self.calls = 0  # batches analysed (for tests and curiosity)
        self.gave_up = False
        self._lock = threading.Lock()  # the pipe, the child and the waiting requests
        self._waiting: dict[int, _Reply] = {}
        self._ids = itertools.count()
        self._failures = 0  # failed restarts in a row
        self._closed = threading.Event()
        self._ready = False
        self._start()
        threading.Thread(target=self._supervise, name="zhnlp-model-supervisor",
                         daemon=True).start()
        # Before multiprocessing's own exit hook terminates the child, which would look
        # like a crash and start another.
        atexit.register(self.close)

    @property
    def alive(self) -> bool:
        """Whether a loaded model process is answering (what /v1/health reports)."""
        return self._ready and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def process(self, job: AnnotateJob) -> list:
        """The job's documents; raises what the pipeline raised for this job, or
        ModelUnavailable while no model process runs (or if it stopped meanwhile)."""
        reply = _Reply()
        with self._lock:
            if not self._ready:
                raise ModelUnavailable(self._down_message())
            job_id = next(self._ids)
            self._waiting[job_id] = reply
            try:
                self._connection.send((job_id, job))
            except (OSError, ValueError):  # the child just died: the supervisor sees it
                del self._waiting[job_id]
                raise ModelUnavailable("the model process stopped; it is being restarted: "
                                       "retry shortly.") from None
        reply.done.wait()
        if reply.error is not None:
            raise reply.error
        return reply.docs

    def close(self) -> None:
        """Stop the child (it finishes the call it is in)."""
        self._closed.set()
        with self._lock:
            self._ready = False
            try:
                self._connection.send(None)  # the child's signal to exit
            except (OSError, ValueError):
                pass
        self._stop_child()
        self._fail_waiting("the model process was stopped")

    def _down_message(self) -> str:
        if self.gave_up:
            return "the model process could not be restarted; the service is stopping."
        return "the model process is restarting; retry in a few seconds."

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork (numba, torch threads)
        connection, child_end = context.Pipe()
        process = context.Process(target=child_main, args=(child_end, self.options,
                                                           self.max_batch),
                                  name="zhnlp-model", daemon=True)
        process.start()
        child_end.close()
        with self._lock:  # close() and the tests see the child that is loading
            self._connection, self._process = connection, process
        try:
            status, value = connection.recv()
        except (EOFError, OSError):
            process.join()
            raise ZhnlpError(f"the model process exited while loading (exit code "
                             f"{process.exitcode}); see the messages above.") from None
        if status != "ready":
            raise ZhnlpError(value)
        with self._lock:
            self.summary: ModelSummary = value
            self._ready_since = time.monotonic()
            self._ready = not self._closed.is_set()

    def _supervise(self) -> None:
        """Hand the child's answers to the waiting requests; when it dies, start another
        (with back-off), or give up."""
        while not self._closed.is_set():
            try:
                results = self._connection.recv()
            except (EOFError, OSError):
                if self._closed.is_set() or not self._restart():
                    return
                continue
            self.calls += 1
            with self._lock:
                replies = [(self._waiting.pop(job_id), docs, error)
                           for job_id, docs, error in results]
            for reply, docs, error in replies:
                reply.docs, reply.error = docs, error
                reply.done.set()

    def _restart(self) -> bool:
        with self._lock:
            self._ready = False
        code = self._stop_child()
        self._fail_waiting(f"the model process stopped (exit code {code}) during this "
                           "request; retry shortly.")
        if time.monotonic() - self._ready_since >= self.stable_seconds:
            self._failures = 0
        logger.warning("the model process exited (code %s)", code)
        while not self._closed.is_set():
            self._failures += 1
            if self._failures > self.max_restarts:
                self.gave_up = True
                logger.error("the model process failed %d times in a row; giving up",
                             self._failures - 1)
                if self.on_give_up is not None:
                    self.on_give_up()
                return False
            delay = 0.0 if self._failures == 1 else min(
                MAX_BACKOFF_SECONDS, self.backoff * 2 ** (self._failures - 2))
            logger.warning("starting another model process%s (try %d of %d)",
                           f" in {delay:g} s" if delay else "", self._failures,
                           self.max_restarts)
            if self._closed.wait(delay):
                return False
            try:
                self._start()
                return True
            except ZhnlpError as error:
                logger.error("the model process did not start: %s", error)
                self._stop_child()
        return False

    def _stop_child(self) -> int | None:
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()
        return self._process.exitcode

    def _fail_waiting(self, message: str) -> None:
        with self._lock:
            for reply in self._waiting.values():
                reply.error = ModelUnavailable(message)
                reply.done.set()
            self._waiting.clear()


def child_main(connection, options: dict, max_batch: int) -> None:
    """The model process: load the Pipeline, say "ready" with its summary (or why not), then
    analyse jobs until the HTTP process closes the pipe."""
    options = dict(options)
    name = options.pop("name", None)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s[%(process)d] %(levelname)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the HTTP process; we follow
    try:
        pipeline = build_pipeline(**options)
        connection.send(("ready", summarize(pipeline, name)))
    except Exception as error:
        connection.send(("failed", str(error) if isinstance(error, ZhnlpError) else
                         f"the model process failed to start: {type(error).__name__}: {error}"))
        return
    trim = heap_trimmer()
    pending: list[tuple[int, AnnotateJob]] = []
    for calls in itertools.count(1):
        try:
            if not pending:
                pending.append(connection.recv())
            while connection.poll():  # everything that queued up during the last call
                pending.append(connection.recv())
        except (EOFError, OSError):
            return  # the HTTP process is gone
        if None in pending:  # ModelProcess.close
            return
        batch = take(pending, max_batch, lambda item: item[1])
        results = analyse(pipeline, [job for _, job in batch])
        connection.send([(job_id, docs, _sendable(error))
                         for (job_id, _), (docs, error) in zip(batch, results)])
        if calls % TRIM_EVERY_CALLS == 0:
            trim(0)


def _sendable(error: Exception | None) -> Exception | None:
    """ZhnlpError (the input's fault) as it is; anything else logged here and sent as a
    RuntimeError with its name and message (it may not pickle)."""
    if error is None or isinstance(error, ZhnlpError):
        return error
    logger.error("the analysis failed", exc_info=error)
    return RuntimeError(f"{type(error).__name__}: {error}")
