"""Requests that arrive while the model is busy are analysed together.

The model runs one call at a time. Jobs queue up while it is busy; the next call takes the
oldest queued job and every other queued job with the same options (tasks, standard, split,
pretokenized or not), up to `max_batch` texts, and runs them as one `Pipeline.process` call,
which batches sentences by length. Nothing waits on purpose: a lone request runs at once;
under load, one call serves many requests, and a batch of 8 short sentences costs about
what 2 or 3 single calls do on a CPU. Batch composition does not change results (padding
is masked; the tests check answers under concurrency against single calls).

A batch that fails is rerun job by job, so an error reaches only the request that caused it.

`take` and `analyse` are shared by the two ways of running the model: `Batcher`, in the
process of the HTTP threads (`create_app(pipeline=...)`), and the model process of `zhnlp
serve` (`model_process.py`), where the jobs queue in a pipe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from server.validation import AnnotateJob
from zhnlp.batching import batch_or_each


def job_key(job: AnnotateJob) -> tuple:
    """Jobs with equal keys can share a pipeline call."""
    return (None if job.tasks is None else tuple(job.tasks), job.standard, job.split,
            job.words is not None)


def take(queue: list, max_batch: int, job_of: Callable) -> list:
    """Remove from `queue` and return its first item and every later one whose job
    (`job_of(item)`) has the same options, up to max_batch texts in all (the first is taken
    whatever its size)."""
    first = job_of(queue[0])
    key, size = job_key(first), len(first.texts)
    batch, rest = [queue[0]], []
    for item in queue[1:]:
        job = job_of(item)
        if job_key(job) == key and size + len(job.texts) <= max_batch:
            batch.append(item)
            size += len(job.texts)
        else:
            rest.append(item)
    queue[:] = rest
    return batch


def analyse(pipeline, jobs: list[AnnotateJob]) -> list[tuple[list | None, Exception | None]]:
    """(documents, None) or (None, the error) per job, from one pipeline call for all of
    them (same options); if that call fails, one call per job finds the culprit."""
    return batch_or_each(lambda some: _call(pipeline, some), jobs)


def _call(pipeline, jobs: list[AnnotateJob]) -> list[list]:
    first = jobs[0]
    texts = [text for job in jobs for text in job.texts]
    words = ([spans for job in jobs for spans in job.words]
             if first.words is not None else None)
    docs = pipeline.process(texts, first.tasks, first.standard, split=first.split, words=words)
    per_job, start = [], 0
    for job in jobs:
        per_job.append(docs[start : start + len(job.texts)])
        start += len(job.texts)
    return per_job


@dataclass(eq=False)
class _Entry:
    job: AnnotateJob
    done: bool = False
    docs: list | None = None
    error: Exception | None = None


class Batcher:
    """The Pipeline in this process, behind a lock; HTTP threads call `process`. `summary`
    (a `ModelSummary`) is what the app checks requests against, as with `ModelProcess`."""

    def __init__(self, pipeline, max_batch: int = 64, summary=None) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.summary = summary
        self._model = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Entry] = []
        self.calls = 0  # batches analysed (for tests and curiosity)

    @property
    def alive(self) -> bool:
        return True

    def process(self, job: AnnotateJob) -> list:
        """The job's documents; raises what the pipeline raised for this job."""
        entry = _Entry(job)
        with self._queue_lock:
            self._queue.append(entry)
        with self._model:
            while not entry.done:  # oldest first: another thread's batch may hold ours
                with self._queue_lock:
                    batch = take(self._queue, self.max_batch, lambda entry: entry.job)
                self.calls += 1
                results = [(None, RuntimeError("the analysis was interrupted"))] * len(batch)
                try:
                    results = analyse(self.pipeline, [item.job for item in batch])
                finally:  # even on KeyboardInterrupt: no thread waits for a lost job
                    for item, (docs, error) in zip(batch, results):
                        item.docs, item.error, item.done = docs, error, True
        if entry.error is not None:
            raise entry.error
        return entry.docs
