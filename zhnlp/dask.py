"""Dask: `zhnlp tag --dask` and `annotate` (a bag of texts -> a bag of records).

The only module that imports dask and distributed, inside functions (the `dask` extra:
`pip install "zhnlp[dask]"`), so zhnlp works without them.

`zhnlp tag --dask`: the client reads the input (files or stdin) and cuts it into
partitions of whole line ranges, numbered in input order; partitions never span two files,
so line numbers, CoNLL-U sent_ids and the BOM of a first line come out as without Dask.
Each worker loads the pipeline once (`TaggerPlugin`, registered for this run only and
removed at its end); a task analyses one partition with `Tagger.tag_lines` and returns its
output text, the count of lines that failed and their messages. Tasks write nothing, so a
task that Dask reruns (its worker died, `tests/test_dask.py` kills one) cannot lose or
duplicate a line: only the client writes, one part per partition index (`-o DIR`:
part-00000.jsonl, ... each renamed into place when whole, in whatever order they finish),
or stdout in input order (finished partitions wait for the ones before them). Output is the
same whatever the partition size because a sentence's analysis does not depend on its batch
(`benchmarks/results/batch_invariance.md`). The client keeps at most two partitions per
worker thread in flight, so memory stays flat however long the input.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zhnlp.errors import ZhnlpError
from zhnlp.tag import (
    CHUNK_LINES,
    EXIT_SOME_FAILED,
    Output,
    _interrupt,
    _utf8_stdout,
    build_tagger,
    checked_inputs,
    read_chunks,
)

if TYPE_CHECKING:
    from dask.bag import Bag

PARTITION_LINES = CHUNK_LINES  # default; a multiple of CHUNK_LINES batches as without Dask
EXTENSIONS = {"json": "jsonl", "conllu": "conllu", "text": "txt"}
_LOAD_OPTIONS = {"threads", "batch_size", "int8", "precision", "device", "ud_version"}
_CALL_OPTIONS = {"standard", "split"}

Partition = tuple[int, str, str, list[tuple[int, bytes]]]  # index, source, doc prefix, lines


def _require() -> None:
    try:
        import dask.bag  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as error:
        raise ZhnlpError(f"Dask is not installed ({error}); pip install \"zhnlp[dask]\" "
                         "(dask[bag] and distributed).") from None


# --- annotate: a bag of texts ---------------------------------------------------------

_pipelines: dict[str, Any] = {}
_pipelines_lock = threading.Lock()


def annotate(bag: Bag, model: str | None = None, tasks: str | list[str] | None = None,
             **options: Any) -> Bag:
    """A Dask bag of texts -> a bag of `Document.to_dict()` records, in the same order.

    options: `zhnlp.load`'s (threads, batch_size, precision, device, ud_version, int8) and
    the call's (standard, split). Each process that runs a partition loads the pipeline
    once and keeps it, whatever the scheduler (threads, processes, distributed): a module
    cache rather than a WorkerPlugin, so it also works without a distributed Client. A
    text the pipeline rejects raises (as `zhnlp.load()(texts)` does) and fails the
    compute; `zhnlp tag --dask` is the face that turns bad lines into error records."""
    _require()
    unknown = set(options) - _LOAD_OPTIONS - _CALL_OPTIONS
    if unknown:
        raise ZhnlpError(f"annotate() got unknown options {sorted(unknown)}; it takes "
                         f"{sorted(_LOAD_OPTIONS | _CALL_OPTIONS)}.")
    load_options = {k: v for k, v in options.items() if k in _LOAD_OPTIONS}
    call_options = {k: v for k, v in options.items() if k in _CALL_OPTIONS}
    return bag.map_partitions(_annotate_partition, model=model, tasks=tasks,
                              load_options=load_options, call_options=call_options)


def _annotate_partition(texts, model: str | None, tasks, load_options: dict,
                        call_options: dict) -> list[dict]:
    key = json.dumps([model, load_options], sort_keys=True, default=str)
    with _pipelines_lock:  # one load per process, even when threads ask at once
        if key not in _pipelines:
            from zhnlp.pipeline import load

            _pipelines[key] = (load(model, **load_options), threading.Lock())
        pipeline, lock = _pipelines[key]
    texts = list(texts)
    if not texts:
        return []
    with lock:  # as the HTTP service: one batch at a time through one model
        docs = pipeline(texts, tasks, **call_options)
    return [doc.to_dict() for doc in docs]


# --- zhnlp tag --dask -----------------------------------------------------------------

class TaggerPlugin:
    """Loads the Tagger once per worker (setup) with the user's `zhnlp tag` options.
    Made a `distributed.WorkerPlugin` by `_plugin` (distributed is imported lazily)."""

    def __init__(self, options: dict) -> None:
        self.options = options
        self.tagger = None
        self.lock: threading.Lock | None = None  # made on the worker: locks do not pickle

    def setup(self, worker) -> None:
        options = dict(self.options)
        if options["threads"] is None:
            # torch threads = the worker's threads: tasks take turns on the one model
            options["threads"] = getattr(getattr(worker, "state", None), "nthreads", 1) or 1
        self.tagger = build_tagger(options)
        self.lock = threading.Lock()  # a worker with several threads: one task at a time


def _plugin(options: dict):
    from distributed import WorkerPlugin

    class _TaggerPlugin(TaggerPlugin, WorkerPlugin):
        pass

    return _TaggerPlugin(options)


def _tag_partition(plugin_name: str, lines: list[tuple[int, bytes]], source: str,
                   doc_prefix: str) -> tuple[str, int, list[str]]:
    """One task: (output text, failed lines, messages). Pure: writes nothing."""
    from distributed import get_worker

    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None or plugin.tagger is None:  # a worker that joined and failed setup()
        raise ZhnlpError(f"the Dask worker {worker.address} could not load the model for "
                         "this run; see its log.")
    texts, failed, messages = [], 0, []
    with plugin.lock:
        # in CHUNK_LINES pieces, so the model sees the batches `zhnlp tag` gives it
        for first in range(0, len(lines), CHUNK_LINES):
            text, bad, notes = plugin.tagger.tag_lines(lines[first:first + CHUNK_LINES],
                                                       source, doc_prefix)
            texts.append(text)
            failed += bad
            messages += notes
    return "".join(texts), failed, messages


def partitions(files: list[Path], size: int) -> Iterator[Partition]:
    """The input (stdin when no files) as numbered line ranges of at most `size` lines."""
    index = 0
    for number, path in enumerate(files or [None], 1):
        with ExitStack() as stack:
            handle = (stack.enter_context(open(path, "rb")) if path is not None
                      else sys.stdin.buffer)
            source = "<stdin>" if path is None else str(path)
            prefix = f"{number}-" if len(files) > 1 else ""
            for lines in read_chunks(handle, size):
                yield index, source, prefix, lines
                index += 1


def count_partitions(files: list[Path], size: int) -> int | None:
    """How many `partitions` there will be (None for stdin): one pass counting newlines."""
    if not files:
        return None
    total = 0
    for path in files:
        lines, last = 0, b"\n"
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        lines += last != b"\n"  # a last line without its newline
        total += -(-lines // size)
    return total


class PartsDir:
    """`-o DIR` with --dask: one file per partition, named to sort in input order, each
    written to a hidden temporary file and renamed when whole."""

    def __init__(self, path: Path, extension: str, width: int) -> None:
        if path.exists() and not path.is_dir():
            raise ZhnlpError(f"with --dask, -o is a directory of parts; {path} is a file.")
        if not path.exists():
            if not path.parent.is_dir():
                raise ZhnlpError(f"the directory above the output {path} does not exist; "
                                 "create it first.")
            path.mkdir()
        # stale parts of an earlier run would join this run's when concatenated
        if any(path.glob("part-*")):
            raise ZhnlpError(f"the output directory {path} already holds part-* files; "
                             "remove them or choose another -o.")
        self.path, self.extension, self.width = path, extension, width

    def write(self, index: int, text: str) -> None:
        name = f"part-{index:0{self.width}d}.{self.extension}"
        temporary = self.path / f".{name}.partial"
        try:
            with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(temporary, self.path / name)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise ZhnlpError(f"cannot write {self.path / name} ({error.strerror}); free "
                             "some space or choose another -o.") from None


def _connect(address: str, stack: ExitStack):
    """A Client: on a LocalCluster of N single-threaded worker processes (local:N) or on
    the scheduler at ADDRESS (tcp://HOST:PORT)."""
    from distributed import Client, LocalCluster

    if address.startswith("local:"):
        try:
            workers = int(address[len("local:"):])
        except ValueError:
            workers = 0
        if workers < 1:
            raise ZhnlpError(f"--dask local:N needs N ≥ 1 worker processes, not {address!r}.")
        # the dashboard on any free port: :8787 may be another cluster's (None means 8787)
        cluster = stack.enter_context(LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=40))
        return stack.enter_context(Client(cluster))
    if "://" not in address:
        raise ZhnlpError(f"--dask takes local:N or a scheduler address such as "
                         f"tcp://HOST:8786, not {address!r}.")
    try:
        return stack.enter_context(Client(address, timeout=30))
    except OSError as error:
        raise ZhnlpError(f"cannot reach the Dask scheduler at {address} ({error}).") from None


def tag_on_dask(args: argparse.Namespace) -> int:
    """`zhnlp tag --dask ADDRESS`: see the module's docstring."""
    files, options = checked_inputs(args)
    _require()
    from distributed import as_completed

    size = args.partition_lines or PARTITION_LINES
    if size < 1:
        raise ZhnlpError(f"--partition-lines must be at least 1, not {size}.")
    total = count_partitions(files, size)
    width = max(5, len(str(total - 1))) if total else 5  # names sort as numbers
    if args.output is None:
        Output(None, inputs=files)  # refuses `zhnlp tag a.txt --dask ... >> a.txt`
        parts = None
    else:
        parts = PartsDir(Path(args.output), EXTENSIONS[args.format], width)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    # one plugin per run, removed at its end: a shared scheduler keeps no models loaded,
    # and two runs at once (same options or not) never remove each other's
    run_id = uuid.uuid4().hex[:12]
    plugin_name = f"zhnlp-tag-{run_id}"
    failed = 0
    # SIGTERM stops like Ctrl-C: the cluster shut down, whole parts kept
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, previous)
        client = _connect(args.dask, stack)
        # registered before setup() runs, so removed even when it fails on a worker
        stack.callback(_unregister, client, plugin_name)
        client.register_plugin(_plugin(options), name=plugin_name)  # setup() errors raise

        def window() -> int:
            # partitions submitted and not yet written: bounds memory; asked again as
            # partitions finish, so workers that join later get work too
            return 2 * max(1, sum(client.nthreads().values()))

        bar = None
        if progress:
            from tqdm import tqdm

            bar = stack.enter_context(tqdm(total=total, unit="part", file=sys.stderr,
                                           desc="zhnlp tag --dask"))
        stdout = stack.enter_context(_utf8_stdout()) if parts is None else None
        source = partitions(files, size)
        futures = as_completed()
        indices: dict[Any, int] = {}
        done: dict[int, tuple[str, int, list[str]]] = {}  # stdout: waiting for their turn
        submitted = written = 0

        def submit() -> bool:
            nonlocal submitted
            item = next(source, None)
            if item is None:
                return False
            index, name, prefix, lines = item
            future = client.submit(_tag_partition, plugin_name, lines, name, prefix,
                                   key=f"zhnlp-tag-{run_id}-{index}", pure=False)
            indices[future] = index
            futures.add(future)
            submitted += 1
            return True

        def emit(result: tuple[str, int, list[str]], index: int) -> None:
            nonlocal failed, written
            text, bad, messages = result
            if parts is None:
                stdout.write(text)
                stdout.flush()
            else:
                parts.write(index, text)
            failed += bad
            for message in messages:  # after its records are written, as without Dask
                (bar.write if bar is not None else print)(message, file=sys.stderr)
            written += 1

        limit = window()
        while submitted - written < limit and submit():
            pass
        try:
            for future in futures:
                index = indices.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # e.g. KilledWorker: its workers kept dying
                    raise ZhnlpError(f"partition {index} failed on the cluster: "
                                     f"{type(error).__name__}: {error}") from None
                future.release()
                if parts is not None:
                    emit(result, index)
                else:
                    done[index] = result
                    while written in done:
                        emit(done.pop(written), written)
                if bar is not None:
                    bar.update(1)
                limit = window()
                while submitted - written < limit and submit():
                    pass
        except BrokenPipeError:  # `... --dask local:2 | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        finally:
            for future in list(indices):
                future.cancel()
    return EXIT_SOME_FAILED if failed else 0


def _unregister(client, name: str) -> None:
    try:
        client.unregister_worker_plugin(name)
    except Exception:  # the cluster is going away anyway (local:N) or unreachable
        pass
