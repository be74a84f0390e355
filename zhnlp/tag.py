"""`zhnlp tag`: analyse text files (or stdin) line by line with a Pipeline.

Every input line gives one output record, in order: json, one JSON object per line
(`Document.to_dict`, offsets into that line); text, one line of space-separated words
(`word/XPOS` with pos); conllu, one block per sentence (with --no-split exactly one per
non-empty line, a block without tokens when it holds nothing to analyse; an empty line
gives nothing). A line that is not valid UTF-8, is longer than --max-line-chars or that the
pipeline rejects gives an error record ({"error": ...} / `# error = ...` block / an empty
line) and one message on stderr, and the run goes on; the exit status is then 3.

Input is read as bytes in chunks of CHUNK_LINES lines and decoded line by line, so memory
stays flat however long the file is, and one bad line spoils nothing else. Peak memory
grows with the longest line, hence the line limit. `-o FILE` is written to a temporary file
beside it and renamed when the run ends (`Output`).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, TextIO

from zhnlp.batching import batch_or_each
from zhnlp.document import Sentence
from zhnlp.errors import ZhnlpError

CHUNK_LINES = 256
MAX_LINE_CHARS = 200_000  # peak memory grows with line length: see the README
EXIT_SOME_FAILED = 3
_WORD = re.compile(r"\S+")


def read_user_dict(path: Path) -> list[str]:
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except FileNotFoundError:
        raise ZhnlpError(f"user dictionary {path} does not exist.") from None
    except UnicodeDecodeError as error:
        raise ZhnlpError(f"user dictionary {path} is not UTF-8 ({error.reason} at byte "
                         f"{error.start}); save it as UTF-8.") from None
    return [line.split()[0] for line in lines if line.strip()]


def checked_inputs(args: argparse.Namespace) -> tuple[list[Path], dict]:
    """The input files (each must exist) and the tagger's options, checked before any
    model loads; `zhnlp tag` and `zhnlp tag --dask` (zhnlp/dask.py) both start here."""
    options = tagger_options(args)
    files = [Path(name) for name in args.files]
    for path in files:
        if not path.is_file():
            raise ZhnlpError(f"input file {path} does not exist.")
    return files, options


def main(args: argparse.Namespace) -> int:
    files, options = checked_inputs(args)
    # Before the model loads (seconds): a wrong -o fails at once.
    output = Output(args.output, inputs=files)
    tagger = build_tagger(options)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    total = sum(path.stat().st_size for path in files) if files else None
    # SIGTERM stops like Ctrl-C: whole records written, the temporary output removed.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with output as out, _progress_bar(progress, total) as bar:
            for number, path in enumerate(files or [None], 1):
                with ExitStack() as source:
                    handle = (source.enter_context(open(path, "rb")) if path is not None
                              else sys.stdin.buffer)
                    name = "<stdin>" if path is None else str(path)
                    doc_prefix = f"{number}-" if len(files) > 1 else ""
                    for chunk in read_chunks(handle, CHUNK_LINES):
                        out.write(tagger.tag_chunk(chunk, name, doc_prefix))
                        tagger.report(bar)  # after its records are written, not before
                        if bar is not None:
                            bar.update(sum(len(raw) for _, raw in chunk))
    except BrokenPipeError:  # e.g. `zhnlp tag big.txt | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_SOME_FAILED if tagger.failed else 0


def tagger_options(args: argparse.Namespace) -> dict:
    """The `zhnlp tag` options that make a Tagger, checked, as a plain (picklable) dict:
    `build_tagger` makes the Tagger here or, with --dask, on each worker."""
    if args.batch_size < 1:
        raise ZhnlpError(f"--batch-size must be at least 1, not {args.batch_size}.")
    max_line_chars = MAX_LINE_CHARS if args.max_line_chars is None else args.max_line_chars
    if max_line_chars < 1:
        raise ZhnlpError(f"--max-line-chars must be at least 1, not {max_line_chars}.")
    return {"model": args.model, "threads": args.threads, "batch_size": args.batch_size,
            "int8": args.int8, "precision": args.precision, "device": args.device,
            "ud_version": args.ud_version, "tasks": args.tasks, "format": args.format,
            "standard": args.standard, "split": not args.no_split,
            "pretokenized": args.pretokenized, "max_line_chars": max_line_chars,
            # read here, not on the workers, which may not see the file
            "user_words": read_user_dict(Path(args.user_dict)) if args.user_dict else None}


def build_tagger(options: dict) -> Tagger:
    """Load the pipeline and check the options against it (`tagger_options`)."""
    from zhnlp.memory import reuse_freed_memory
    from zhnlp.pipeline import load

    reuse_freed_memory()  # a batch's tensors reuse the last one's pages (zhnlp.memory)
    pipeline = load(options["model"], threads=options["threads"],
                    batch_size=options["batch_size"], int8=options["int8"],
                    precision=options["precision"], device=options["device"],
                    ud_version=options["ud_version"])
    tasks = pipeline.resolve_tasks(options["tasks"], options["pretokenized"])
    pipeline.check_standard(options["standard"])
    if options["format"] == "text" and not (options["pretokenized"] or "cws" in tasks):
        raise ZhnlpError("--format text writes words; add cws to --tasks or choose "
                         "--format json or conllu.")
    if options["user_words"]:
        pipeline.add_words(options["user_words"])
    return Tagger(pipeline, options["tasks"], options["format"], options["standard"],
                  split=options["split"], pretokenized=options["pretokenized"],
                  max_line_chars=options["max_line_chars"])


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Output:
    """Where `zhnlp tag` writes: stdout, or `-o` PATH. A regular file is written to a
    temporary file beside it and renamed over PATH only when the run has finished, so an
    interrupted or failed run leaves PATH as it was: never half-written, never emptied. A
    device or pipe (/dev/null, a FIFO) is written directly. PATH is checked when the Output
    is made: its directory must exist and it must not be an input (same inode: symlinks,
    hard links and stdin count)."""

    def __init__(self, path: str | None, inputs: list[Path]) -> None:
        self.path = None if path is None else Path(path)
        self.temporary: Path | None = None
        self.direct = False
        if self.path is None:
            self._refuse_inputs(sys.stdout, "standard output", inputs)
            return
        sources = [(p, p.stat()) for p in inputs] or [(Path("<stdin>"), _stat_of(sys.stdin))]
        target = _stat(self.path)
        if target is not None:
            for source, info in sources:
                if info is not None and _same_file(info, target):
                    raise ZhnlpError(f"the output file {self.path} is also the input "
                                     f"{source}; choose another -o.")
            if stat.S_ISDIR(target.st_mode):
                raise ZhnlpError(f"the output {self.path} is a directory; give a file name.")
        if not self.path.parent.is_dir():
            raise ZhnlpError(f"the directory of the output {self.path} does not exist; "
                             "create it first.")
        self.direct = target is not None and not stat.S_ISREG(target.st_mode)
        if not os.access(self.path if self.direct else self.path.parent, os.W_OK):
            raise ZhnlpError(f"cannot write the output {self.path} (permission denied); "
                             "choose another -o.")
        self.mode = stat.S_IMODE(target.st_mode) if target is not None else None

    def _refuse_inputs(self, stream, name: str, inputs: list[Path]) -> None:
        # `zhnlp tag a.txt >> a.txt` would read its own output for ever.
        info = _stat_of(stream)
        if info is not None and stat.S_ISREG(info.st_mode):
            for path in inputs:
                if _same_file(path.stat(), info):
                    raise ZhnlpError(f"{name} is the input file {path}; write the output "
                                     "elsewhere (-o).")

    def __enter__(self) -> Output:
        if self.path is None:
            self._stack = ExitStack()
            self._stream = self._stack.enter_context(_utf8_stdout())
            return self
        where = self.path
        if not self.direct:
            try:
                handle, name = tempfile.mkstemp(prefix=f".{self.path.name}.",
                                                suffix=".partial", dir=self.path.parent)
            except OSError as error:
                raise ZhnlpError(f"cannot write the output {self.path} ({error.strerror}); "
                                 "choose another -o.") from None
            os.close(handle)
            where = self.temporary = Path(name)
            # mkstemp makes the file private: give it the old file's mode, or a new one's
            os.chmod(where, 0o666 & ~_umask() if self.mode is None else self.mode)
        self._stream = open(where, "w", encoding="utf-8", newline="\n")
        return self

    def write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as error:
            raise self._cannot_write(error) from None

    def __exit__(self, kind, *_) -> None:
        if self.path is None:
            self._stack.close()
            return
        failure = None
        try:
            self._stream.close()
        except OSError as error:
            failure = self._cannot_write(error)
        if self.temporary is not None:
            if kind is None and failure is None:
                os.replace(self.temporary, self.path)
            else:
                self.temporary.unlink(missing_ok=True)
        if failure is not None and kind is None:
            raise failure

    def _cannot_write(self, error: OSError) -> ZhnlpError:
        return ZhnlpError(f"cannot write the output {self.path or '(standard output)'} "
                          f"({error.strerror}); free some space or choose another -o.")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _stat_of(stream) -> os.stat_result | None:
    try:
        return os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no file behind it (tests, closed)
        return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_chunks(handle: BinaryIO, size: int) -> Iterator[list[tuple[int, bytes]]]:
    """(line number, raw line) in chunks of `size` lines."""
    chunk = []
    for number, raw in enumerate(handle, 1):
        chunk.append((number, raw))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Tagger:
    """Turns chunks of raw input lines into output text; counts the lines that failed and
    keeps their messages until `report` (called once the chunk's records are written, so
    an interrupted run reports no line whose record it never wrote)."""

    def __init__(self, pipeline, tasks: str | list[str] | None, output_format: str,
                 standard: str | None = None, split: bool = True,
                 pretokenized: bool = False, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self.pipeline, self.tasks, self.format = pipeline, tasks, output_format
        self.standard, self.split, self.pretokenized = standard, split, pretokenized
        self.max_line_chars = max_line_chars
        self.failed = 0
        self.messages: list[str] = []  # not reported yet

    def tag_chunk(self, chunk: list[tuple[int, bytes]], source: str = "<stdin>",
                  doc_prefix: str = "") -> str:
        """Output text of the chunk's lines; CoNLL-U sent_ids are `{doc_prefix}LINE-N`."""
        records: list[str | None] = [None] * len(chunk)
        texts, slots = [], []
        for slot, (number, raw) in enumerate(chunk):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                records[slot] = self.fail(source, number, f"not valid UTF-8 ({error.reason} "
                                          f"at byte {error.start}).")
                continue
            line = line.rstrip("\r\n")
            if len(line) > self.max_line_chars:
                records[slot] = self.fail(source, number, f"the line has {len(line)} "
                                          f"characters, over the limit of "
                                          f"{self.max_line_chars} (memory grows with line "
                                          "length): split it, or raise --max-line-chars.")
                continue
            texts.append(line)
            slots.append(slot)
        results = batch_or_each(self.analyse, texts)
        for (doc, error), slot in zip(results, slots):
            records[slot] = (self.render(doc, f"{doc_prefix}{chunk[slot][0]}") if error is None
                             else self.fail(source, chunk[slot][0], _message(error)))
        return "".join(records)

    def tag_lines(self, chunk: list[tuple[int, bytes]], source: str = "<stdin>",
                  doc_prefix: str = "") -> tuple[str, int, list[str]]:
        """`tag_chunk` as a pure function: (output text, lines that failed, their messages),
        this Tagger's own counts untouched (a Dask task may run twice, or beside another)."""
        part = copy.copy(self)
        part.failed, part.messages = 0, []
        text = part.tag_chunk(chunk, source, doc_prefix)
        return text, part.failed, part.messages

    def report(self, bar=None) -> None:
        """Print the messages of the failed lines on stderr (through the progress bar)."""
        for message in self.messages:
            if bar is not None:
                bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr, flush=True)
        self.messages.clear()

    def analyse(self, texts: list[str]):
        words = [[m.span() for m in _WORD.finditer(t)] for t in texts] if self.pretokenized \
            else None
        return self.pipeline.process(texts, self.tasks, self.standard, split=self.split,
                                     words=words)

    def render(self, doc, doc_id: str) -> str:
        if self.format == "json":
            return _json_line(doc.to_dict())
        if self.format == "text":
            return doc.to_text() + "\n"
        if not self.split and not doc.sentences and doc.text:
            # nothing to analyse (only spaces or invisible characters): still one block
            return Sentence(doc.text, 0, len(doc.text)).to_conllu(f"{doc_id}-1")
        return doc.to_conllu(doc_id)

    def fail(self, source: str, number: int, text: str) -> str:
        """Count a failed line and keep its message (see `report`); its error record."""
        self.failed += 1
        self.messages.append(f"zhnlp tag: {source}:{number}: {text}")
        if self.format == "json":
            return _json_line({"error": text})
        if self.format == "text":
            return "\n"
        return f"# error = {' '.join(text.split())}\n\n"


def _json_line(record: dict) -> str:
    """One JSON line; U+2028, U+2029 and U+0085 escaped, as readers that split on them
    (str.splitlines) would break the line there."""
    text = json.dumps(record, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace(
        "\x85", "\\u0085") + "\n"


def _message(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, ZhnlpError) else f"{type(error).__name__}: {text}"


class _utf8_stdout:
    """stdout as UTF-8 text whatever the locale; left open at the end."""

    def __enter__(self) -> TextIO:
        stdout = sys.stdout
        encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "")
        if encoding == "utf8" or not hasattr(stdout, "buffer"):
            self.wrapper = None
            return stdout
        stdout.flush()
        self.wrapper = io.TextIOWrapper(stdout.buffer, encoding="utf-8", newline="\n")
        return self.wrapper

    def __exit__(self, *exc) -> None:
        if self.wrapper is not None:
            self.wrapper.flush()
            self.wrapper.detach()


class _progress_bar:
    def __init__(self, enabled: bool, total: int | None) -> None:
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self):
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="B", unit_scale=True, file=sys.stderr,
                            desc="zhnlp tag")
        return self.bar

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
