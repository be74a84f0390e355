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
the requests it held fail (500) and another child is started, at most `RESTARTS_PER_MINUTE`
times a minute.
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
from dataclasses import dataclass, field

from server.batcher import analyse, take
from server.summary import ModelSummary, summarize
from server.validation import AnnotateJob
from zhnlp.errors import ZhnlpError

logger = logging.getLogger("zhnlp.server")
RESTARTS_PER_MINUTE = 5


@dataclass(eq=False)
class _Reply:
    done: threading.Event = field(default_factory=threading.Event)
    docs: list | None = None
    error: Exception | None = None


class ModelProcess:
    """`options` are `zhnlp.serve.build_pipeline`'s keyword arguments plus `name`, the
    model name /v1/info shows when the model has none of its own (`summarize`). Starting
    blocks until the model is loaded and raises ZhnlpError with the child's message if it
    cannot be."""

    def __init__(self, options: dict, max_batch: int = 64) -> None:
        self.options, self.max_batch = dict(options), max_batch
        self.calls = 0  # batches analysed (for tests and curiosity)
        self._lock = threading.Lock()  # the pipe, the child and the waiting requests
        self._waiting: dict[int, _Reply] = {}
        self._ids = itertools.count()
        self._restarts: list[float] = []
        self._closed = False
        self._start()
        threading.Thread(target=self._receive, name="zhnlp-model-replies", daemon=True).start()
        # Before multiprocessing's own exit hook terminates the child, which would look
        # like a crash and start another.
        atexit.register(self.close)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def process(self, job: AnnotateJob) -> list:
        """The job's documents; raises what the pipeline raised for this job (a RuntimeError
        if the model process stopped meanwhile)."""
        reply = _Reply()
        with self._lock:
            job_id = next(self._ids)
            self._waiting[job_id] = reply
            try:
                self._connection.send((job_id, job))
            except (OSError, ValueError):  # the child is gone and could not be restarted
                del self._waiting[job_id]
                raise RuntimeError("the model process is not running") from None
        reply.done.wait()
        if reply.error is not None:
            raise reply.error
        return reply.docs

    def close(self) -> None:
        """Stop the child (it finishes the call it is in)."""
        with self._lock:
            self._closed = True
            try:
                self._connection.send(None)  # the child's signal to exit
            except (OSError, ValueError):
                pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        with self._lock:
            for reply in self._waiting.values():
                reply.error = RuntimeError("the model process was stopped")
                reply.done.set()
            self._waiting.clear()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork (numba, torch threads)
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=child_main,
                                        args=(child_end, self.options, self.max_batch),
                                        name="zhnlp-model", daemon=True)
        self._process.start()
        child_end.close()
        try:
            status, value = self._connection.recv()
        except EOFError:
            self._process.join()
            raise ZhnlpError(f"the model process exited while loading (exit code "
                             f"{self._process.exitcode}); see the messages above.") from None
        if status != "ready":
            raise ZhnlpError(value)
        self.summary: ModelSummary = value

    def _receive(self) -> None:
        """Hand the child's answers to the waiting requests; restart a child that died."""
        while True:
            try:
                results = self._connection.recv()
            except (EOFError, OSError):
                if self._closed or not self._restart():
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
        with self._lock:  # new requests wait for the new child
            self._process.join(5)
            code = self._process.exitcode
            for reply in self._waiting.values():
                reply.error = RuntimeError(f"the model process stopped (exit code {code}) "
                                           "during this request")
                reply.done.set()
            self._waiting.clear()
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < 60] + [now]
            if len(self._restarts) > RESTARTS_PER_MINUTE:
                logger.error("the model process died %d times in a minute; not restarting it",
                             len(self._restarts))
                return False
            logger.warning("the model process exited (code %s); starting another", code)
            try:
                self._start()
            except ZhnlpError as error:
                logger.error("the model process cannot be restarted: %s", error)
                return False
        return True


def child_main(connection, options: dict, max_batch: int) -> None:
    """The model process: load the Pipeline, say "ready" with its summary (or why not), then
    analyse jobs until the HTTP process closes the pipe."""
    from zhnlp.serve import build_pipeline, configure

    options = dict(options)
    name = options.pop("name", None)
    configure(options["threads"])  # before torch and numba load
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
    pending: list[tuple[int, AnnotateJob]] = []
    while True:
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


def _sendable(error: Exception | None) -> Exception | None:
    """ZhnlpError (the input's fault) as it is; anything else logged here and sent as a
    RuntimeError with its name and message (it may not pickle)."""
    if error is None or isinstance(error, ZhnlpError):
        return error
    logger.error("the analysis failed", exc_info=error)
    return RuntimeError(f"{type(error).__name__}: {error}")
