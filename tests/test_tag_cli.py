"""`zhnlp tag`, run in-process through zhnlp.cli.main (which returns the exit status), on
the random tiny model."""

import io
import json
import subprocess
import sys

import pytest

from zhnlp import tag as tag_module
from zhnlp.cli import main
from zhnlp.corpora import read_conll
from zhnlp.evaluate import sentence_from_json

LINES = ["他叫汤姆去拿外衣。北京大學的李白！", "", "ＩＢＭ在臺灣 iPhone12好", "好"]


@pytest.fixture
def run(tiny_model_dir, tmp_path, capsys):
    """run(lines or bytes, *options) -> (exit status, output lines, stderr)."""

    def run(content, *options):
        data = content if isinstance(content, bytes) else "\n".join(content).encode() + b"\n"
        source, out = tmp_path / "in.txt", tmp_path / "out.txt"
        source.write_bytes(data)
        status = main(["tag", str(source), "-o", str(out), "--model", str(tiny_model_dir),
                       "--threads", "1", "--no-progress", *options])
        return status, out.read_text(encoding="utf-8").split("\n")[:-1], capsys.readouterr().err

    return run


def test_text_format_one_line_per_input_line(run):
    status, out, err = run(LINES, "--format", "text", "--tasks", "cws")
    assert status == 0 and err == "" and len(out) == len(LINES)
    for line, words in zip(LINES, out):
        assert "  " not in words and words == words.strip()
        assert "".join(words.split()) == "".join(line.split())
    status, out, _ = run(LINES, "--format", "text", "--tasks", "cws,pos")
    assert all("/" in word for word in out[0].split())


def test_int8_tags_every_line_like_the_full_precision_model(run):
    _, plain, _ = run(LINES, "--format", "text", "--tasks", "cws")
    status, quantized, err = run(LINES, "--format", "text", "--tasks", "cws", "--int8")
    assert status == 0 and err == "" and len(quantized) == len(plain)
    assert ["".join(line.split()) for line in quantized] == ["".join(line.split())
                                                              for line in plain]


def test_json_format_offsets_into_each_line(run):
    status, out, _ = run(LINES, "--format", "json")
    assert status == 0 and len(out) == len(LINES)
    for line, raw in zip(LINES, out):
        record = json.loads(raw)
        assert record["text"] == line and set(record) == {"text", "sentences", "entities"}
        for sentence in record["sentences"]:
            for token in sentence["tokens"]:
                assert line[token["start"] : token["end"]] == token["text"]
                assert {"id", "upos", "xpos", "head", "deprel"} <= set(token)
            for predicate in sentence["predicates"]:
                assert line[predicate["start"] : predicate["end"]] == predicate["text"]
        for entity in record["entities"]:
            assert line[entity["start"] : entity["end"]] == entity["text"]
        read = sentence_from_json(record)  # what `zhnlp evaluate` reads
        assert "".join("".join(read.words).split()) == "".join(line.split())
    assert json.loads(out[1]) == {"text": "", "sentences": [], "entities": []}


def test_conllu_format_one_block_per_line_with_no_split(run):
    status, out, _ = run(LINES, "--no-split")
    assert status == 0
    blocks = [block for block in "\n".join(out).split("\n\n") if block.strip()]
    assert len(blocks) == 3  # non-empty input lines
    # sent_id: input line-sentence; text: the forms (a word may hold a space)
    assert [(b.split("\n")[0], "".join(b.split("\n")[1].split())) for b in blocks] == [
        (f"# sent_id = {number}-1", "#text=" + "".join(line.split()))
        for number, line in enumerate(LINES, 1) if line]
    sentences = list(read_conll(out))
    assert len(sentences) == 3 and all(s.upos and s.xpos for s in sentences)
    assert all(s.heads.count(0) == 1 for s in sentences)
    status, out, _ = run(LINES)  # split into sentences: the first line holds two
    assert len(list(read_conll(out))) == 4


def test_invalid_utf8_and_empty_lines_keep_every_record(run, monkeypatch):
    monkeypatch.setattr(tag_module, "CHUNK_LINES", 2)  # the bad line sits inside a chunk
    data = "他叫汤姆。\n\n".encode() + b"\xff\xfe bad \xc3\n" + "好！\n\nＩＢＭ\n".encode()
    status, out, err = run(data, "--format", "json")
    assert status == 3 and len(out) == 6
    records = [json.loads(line) for line in out]
    assert "not valid UTF-8" in records[2]["error"]
    assert [r.get("text") for r in records] == ["他叫汤姆。", "", None, "好！", "", "ＩＢＭ"]
    assert err.count("\n") == 1 and "in.txt:3:" in err
    status, out, err = run(data, "--format", "text", "--tasks", "cws")
    assert status == 3 and len(out) == 6 and out[1] == out[2] == out[4] == ""
    status, out, _ = run(data, "--no-split")
    assert status == 3 and "# error = not valid UTF-8" in "\n".join(out)
    assert len(list(read_conll(out))) == 3


def test_a_bad_line_in_the_pipeline_is_isolated(run):
    status, out, err = run(["他 叫", "汤姆 \u200b 去", "好"], "--format", "json", "--pretokenized")
    assert status == 3 and "in.txt:2:" in err and "empty or blank" in err
    records = [json.loads(line) for line in out]
    assert "error" in records[1] and records[0]["text"] == "他 叫" and records[2]["text"] == "好"


def test_pretokenized_offsets_into_the_line(run):
    line = "他  叫　湯姆 去。"
    status, out, _ = run([line], "--format", "json", "--pretokenized")
    tokens = json.loads(out[0])["sentences"][0]["tokens"]
    assert [t["text"] for t in tokens] == line.split()
    assert all(line[t["start"] : t["end"]] == t["text"] for t in tokens)
    status, out, _ = run([line], "--format", "text", "--pretokenized", "--tasks", "cws")
    assert out == ["他 叫 湯姆 去。"]


def test_a_100k_character_line_is_split_and_stitched(run):
    line = "他叫汤姆去拿外衣，北京大學的李白。" * 5883 + "好"  # 100 012 characters
    assert len(line) > 100_000
    status, out, _ = run([line, "好"], "--format", "text", "--tasks", "cws", "--no-split",
                         "--batch-size", "256")
    assert status == 0 and len(out) == 2 and "".join(out[0].split(" ")) == line


def test_user_dictionary_file(run, tmp_path):
    (tmp_path / "dict.txt").write_text("汤姆去 10 nr\n\n外衣\n", encoding="utf-8")
    status, out, _ = run(["他叫汤姆去拿外衣。"], "--format", "text", "--tasks", "cws",
                         "--user-dict", str(tmp_path / "dict.txt"))
    assert status == 0 and {"汤姆去", "外衣"} <= set(out[0].split())


def test_usage_error_messages(tiny_model_dir, tmp_path, capsys):
    for options, message in [(["--tasks", "cws,parse"], "unknown task 'parse'"),
                             (["--standard", "msr"], "no segmentation standard 'msr'"),
                             (["--format", "text", "--tasks", "ner"], "--format text"),
                             (["--user-dict", str(tmp_path / "none.txt")], "does not exist"),
                             (["--model", str(tmp_path / "none")], "does not exist"),
                             ([str(tmp_path / "missing.txt")], "input file")]:
        args = ["tag", "--model", str(tiny_model_dir), *options, "-o", str(tmp_path / "o")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_stdin_to_stdout_and_exit_status(tiny_model_dir, monkeypatch, capsys):
    data = "他叫汤姆。\n".encode() + b"\xff\n" + "好".encode()  # no final newline
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["tag", "--model", str(tiny_model_dir), "--format", "json", "--tasks", "cws",
                 "--threads", "1", "--progress"]) == 3
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert len(records) == 3 and "error" in records[1] and records[2]["text"] == "好"
    assert "<stdin>:2: not valid UTF-8" in captured.err and "zhnlp tag" in captured.err


def test_the_command_s_quick_exit_keeps_output_messages_and_status(tiny_model_dir):
    """`python -m zhnlp tag` (the console script's path) ends with os._exit: everything
    written to a pipe still arrives, and the exit status is kept."""
    data = "他叫汤姆。\n".encode() + b"\xff\n" + "好\n".encode() * 3000
    done = subprocess.run([sys.executable, "-m", "zhnlp", "tag", "--model", str(tiny_model_dir),
                           "--tasks", "cws", "--format", "text", "--threads", "1"],
                          input=data, capture_output=True, timeout=300)
    assert done.returncode == 3
    lines = done.stdout.decode().split("\n")
    assert "".join(lines[0].split()) == "他叫汤姆。" and lines[1] == ""
    assert lines[2:] == ["好"] * 3000 + [""]
    assert "<stdin>:2: not valid UTF-8" in done.stderr.decode()


def test_unicode_line_separators_stay_inside_their_record(run):
    line = "他\u2028叫\x85汤姆"
    status, out, _ = run([line], "--format", "json", "--tasks", "cws")
    assert status == 0 and len("\n".join(out).splitlines()) == 1
    assert json.loads(out[0])["text"] == line
    status, out, _ = run([line], "--no-split")
    assert len(list(read_conll(out))) == 1 and out[0] == "# sent_id = 1-1"
    assert "".join(out[1].split()) == "#text=他叫汤姆"  # the forms, spaces between them


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_line_gets_the_same_output_alone_and_among_long_lines(run, precision):
    """Batch invariance in the CLI (issue 19): a line's record does not depend on the lines
    batched with it."""
    line, long = "他叫汤姆。", "北京大学的李白叫汤姆去拿外衣，他说iPhone12好。" * 2
    status, alone, _ = run([line], "--format", "json", "--precision", precision)
    status2, batched, _ = run([long, line, long], "--format", "json", "--precision", precision)
    assert status == status2 == 0 and batched[1] == alone[0]
