"""Requests that arrive while the model is busy are analysed together.

The model runs one call at a time (a lock). A request thread queues its job, then waits for
the lock; whoever gets it takes every queued job with the same options (tasks, standard,
split, pretokenized or not), up to `max_batch` texts, and runs them as one
`Pipeline.process` call, which batches sentences by length. Threads whose job was taken
find it done when they get the lock. Nothing waits on purpose: a lone request runs at once;
under load, one call serves many requests, and a batch of 8 short sentences costs about
what 2 or 3 single calls do on a CPU. Batch composition does not change results (padding
is masked; the tests check answers under concurrency against single calls).

A batch that fails is rerun job by job, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from server.validation import AnnotateJob


@dataclass(eq=False)
class _Entry:
    job: AnnotateJob
    key: tuple
    done: bool = False
    docs: list | None = None
    error: BaseException | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.job.texts)


class Batcher:
    def __init__(self, pipeline, max_batch: int = 64) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self._model = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Entry] = []
        self.calls = 0  # pipeline calls made (for tests and curiosity)

    def process(self, job: AnnotateJob) -> list:
        """The job's documents; raises what the pipeline raised for this job."""
        key = (None if job.tasks is None else tuple(job.tasks), job.standard, job.split,
               job.words is not None)
        entry = _Entry(job, key)
        with self._queue_lock:
            self._queue.append(entry)
        with self._model:
            if not entry.done:
                self._run(self._take(entry))
        if entry.error is not None:
            raise entry.error
        return entry.docs

    def _take(self, entry: _Entry) -> list[_Entry]:
        with self._queue_lock:
            batch, size = [entry], entry.size
            for other in self._queue:
                if other is not entry and other.key == entry.key \
                        and size + other.size <= self.max_batch:
                    batch.append(other)
                    size += other.size
            taken = set(map(id, batch))
            self._queue = [other for other in self._queue if id(other) not in taken]
        return batch

    def _run(self, batch: list[_Entry]) -> None:
        try:
            try:
                self._call(batch)
            except Exception as error:
                if len(batch) == 1:
                    batch[0].error = error
                else:  # find the culprit: one job at a time
                    for entry in batch:
                        try:
                            self._call([entry])
                        except Exception as error:
                            entry.error = error
        finally:
            for entry in batch:
                if entry.docs is None and entry.error is None:
                    entry.error = RuntimeError("the analysis was interrupted")
                entry.done = True

    def _call(self, batch: list[_Entry]) -> None:
        job = batch[0].job
        texts = [text for entry in batch for text in entry.job.texts]
        words = ([spans for entry in batch for spans in entry.job.words]
                 if job.words is not None else None)
        self.calls += 1
        docs = self.pipeline.process(texts, job.tasks, job.standard, split=job.split,
                                     words=words)
        start = 0
        for entry in batch:
            entry.docs = docs[start : start + entry.size]
            start += entry.size
