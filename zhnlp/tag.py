"""`zhnlp tag`: analyse text files (or stdin) line by line with a Pipeline.

Every input line gives one output record, in order: json, one JSON object per line
(`Document.to_dict`, offsets into that line); text, one line of space-separated words
(`word/XPOS` with pos); conllu, one block per sentence (with --no-split exactly one per
non-blank line; a blank line gives nothing). A line that is not valid UTF-8 or that the
pipeline rejects gives an error record ({"error": ...} / `# error = ...` block / an empty
line) and one message on stderr, and the run goes on; the exit status is then 3.

Input is read as bytes in chunks of CHUNK_LINES lines and decoded line by line, so memory
stays flat however long the file is, and one bad line spoils nothing else.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO, TextIO

from zhnlp.errors import ZhnlpError

CHUNK_LINES = 256
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


def main(args: argparse.Namespace) -> int:
    from zhnlp.pipeline import load

    if args.batch_size < 1:
        raise ZhnlpError(f"--batch-size must be at least 1, not {args.batch_size}.")
    files = [Path(name) for name in args.files]
    for path in files:
        if not path.is_file():
            raise ZhnlpError(f"input file {path} does not exist.")
        if args.output and Path(args.output).resolve() == path.resolve():
            raise ZhnlpError(f"the output file {path} is also an input; choose another -o.")
    pipeline = load(args.model, threads=args.threads, batch_size=args.batch_size,
                    int8=args.int8, precision=args.precision, device=args.device)
    tasks = pipeline.resolve_tasks(args.tasks, args.pretokenized)
    pipeline.check_standard(args.standard)
    if args.format == "text" and not (args.pretokenized or "cws" in tasks):
        raise ZhnlpError("--format text writes words; add cws to --tasks or choose "
                         "--format json or conllu.")
    if args.user_dict:
        pipeline.add_words(read_user_dict(Path(args.user_dict)))
    tagger = Tagger(pipeline, args.tasks, args.format, args.standard, split=not args.no_split,
                    pretokenized=args.pretokenized)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    total = sum(path.stat().st_size for path in files) if files else None
    with ExitStack() as stack:
        out = (stack.enter_context(open(args.output, "w", encoding="utf-8", newline="\n"))
               if args.output else stack.enter_context(_utf8_stdout()))
        bar = stack.enter_context(_progress_bar(progress, total))
        try:
            for path in files or [None]:
                with ExitStack() as source:
                    handle = (source.enter_context(open(path, "rb")) if path is not None
                              else sys.stdin.buffer)
                    name = "<stdin>" if path is None else str(path)
                    for chunk in read_chunks(handle, CHUNK_LINES):
                        out.write(tagger.tag_chunk(chunk, name, bar))
                        out.flush()
                        if bar is not None:
                            bar.update(sum(len(raw) for _, raw in chunk))
        except BrokenPipeError:  # e.g. `zhnlp tag big.txt | head`: stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return EXIT_SOME_FAILED if tagger.failed else 0


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
    """Turns chunks of raw input lines into output text; counts the lines that failed."""

    def __init__(self, pipeline, tasks: str | list[str] | None, output_format: str,
                 standard: str | None = None, split: bool = True,
                 pretokenized: bool = False) -> None:
        self.pipeline, self.tasks, self.format = pipeline, tasks, output_format
        self.standard, self.split, self.pretokenized = standard, split, pretokenized
        self.failed = 0

    def tag_chunk(self, chunk: list[tuple[int, bytes]], source: str = "<stdin>",
                  bar=None) -> str:
        records: list[str | None] = [None] * len(chunk)
        texts, slots = [], []
        for slot, (number, raw) in enumerate(chunk):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                records[slot] = self.fail(source, number, f"not valid UTF-8 ({error.reason} "
                                          f"at byte {error.start}).", bar)
                continue
            texts.append(line.rstrip("\r\n"))
            slots.append(slot)
        try:
            docs = self.analyse(texts)
        except Exception:  # isolate the bad line(s): one line at a time
            docs = []
            for text, slot in zip(texts, slots):
                try:
                    docs.extend(self.analyse([text]))
                except Exception as error:  # reported; the run goes on
                    records[slot] = self.fail(source, chunk[slot][0], _message(error), bar)
                    docs.append(None)
        for doc, slot in zip(docs, slots):
            if doc is not None:
                records[slot] = self.render(doc)
        return "".join(records)

    def analyse(self, texts: list[str]):
        words = [[m.span() for m in _WORD.finditer(t)] for t in texts] if self.pretokenized \
            else None
        return self.pipeline.process(texts, self.tasks, self.standard, split=self.split,
                                     words=words)

    def render(self, doc) -> str:
        if self.format == "json":
            return _json_line(doc.to_dict())
        if self.format == "text":
            return doc.to_text() + "\n"
        return doc.to_conllu()

    def fail(self, source: str, number: int, text: str, bar=None) -> str:
        """Report a failed line on stderr; its error record."""
        self.failed += 1
        message = f"zhnlp tag: {source}:{number}: {text}"
        if bar is not None:
            bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)
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
