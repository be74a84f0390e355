"""`zhnlp tag --dask` and `zhnlp.dask.annotate` on a LocalCluster of two worker processes
(one per module): the parts, concatenated, are byte for byte the single-process output."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dask.bag", reason="dask is an optional extra (zhnlp[dask])")
pytest.importorskip("distributed", reason="distributed is an optional extra (zhnlp[dask])")

from zhnlp.cli import main  # noqa: E402

LINES = ["他叫汤姆去拿外衣。", "李强在北京大学工作。", "", "北京大学李白iPhone12",
         "他叫汤姆去拿外衣。李强在北京大学工作。" * 3,  # over --max-line-chars: an error record
         "  ", "汤姆"]


@pytest.fixture(scope="module")
def scheduler():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster:
        with Client(cluster) as client:
            yield cluster.scheduler_address, client


@pytest.fixture
def inputs(tmp_path) -> list[Path]:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_bytes(("\ufeff" + "\n".join(LINES * 3) + "\n").encode())  # a BOM, too
    second.write_bytes("\n".join(LINES).encode() + b"\n\xff\xfe bad\n" + "汤姆".encode())
    return [first, second]


def _tag(model: Path, inputs: list[Path], out: Path, *options: str) -> int:
    return main(["tag", *map(str, inputs), "-o", str(out), "--model", str(model),
                 "--max-line-chars", "40", *options])


@pytest.mark.parametrize("output_format", ["json", "conllu"])
def test_parts_concatenated_are_the_single_process_output(
        scheduler, tiny_model_dir, inputs, tmp_path, output_format, capsys):
    single = tmp_path / "single"
    assert _tag(tiny_model_dir, inputs, single, "--format", output_format) == 3
    expected_messages = capsys.readouterr().err
    parts = tmp_path / "parts"
    assert _tag(tiny_model_dir, inputs, parts, "--format", output_format,
                "--dask", scheduler[0], "--partition-lines", "4") == 3
    names = sorted(p.name for p in parts.iterdir())
    extension = "jsonl" if output_format == "json" else "conllu"
    assert names == [f"part-{i:05d}.{extension}" for i in range(len(names))]
    assert len(names) == 6 + 3  # 21 + 9 lines in partitions of 4, never across files
    joined = b"".join((parts / name).read_bytes() for name in names)
    assert joined == single.read_bytes()
    messages = capsys.readouterr().err
    assert sorted(messages.splitlines()) == sorted(expected_messages.splitlines())
    assert messages.count("over the limit of 40") == 4 and "not valid UTF-8" in messages


def test_stdout_in_input_order(scheduler, tiny_model_dir, inputs, capsys):
    common = ["tag", *map(str, inputs), "--model", str(tiny_model_dir), "--format", "text",
              "--tasks", "cws,pos", "--max-line-chars", "40"]
    assert main(common) == 3
    expected = capsys.readouterr().out
    assert main([*common, "--dask", scheduler[0], "--partition-lines", "2"]) == 3
    assert capsys.readouterr().out == expected


def test_local_cluster(tiny_model_dir, inputs, tmp_path):
    single, parts = tmp_path / "single", tmp_path / "parts"
    assert _tag(tiny_model_dir, inputs, single, "--format", "json") == 3
    assert _tag(tiny_model_dir, inputs, parts, "--format", "json", "--dask", "local:1") == 3
    assert b"".join(p.read_bytes() for p in sorted(parts.iterdir())) == single.read_bytes()


def test_usage_errors(scheduler, tiny_model_dir, inputs, tmp_path, capsys):
    assert _tag(tiny_model_dir, inputs, tmp_path / "o", "--dask", "local:0") == 2
    assert "local:N needs N" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert _tag(tiny_model_dir, inputs, tmp_path / "file", "--dask", scheduler[0]) == 2
    assert "is a directory of parts" in capsys.readouterr().err
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / "part-00007.conllu").write_text("")
    assert _tag(tiny_model_dir, inputs, tmp_path / "stale", "--dask", scheduler[0]) == 2
    assert "already holds part-*" in capsys.readouterr().err
    # an option the workers' model rejects fails the run before anything is written
    assert _tag(tiny_model_dir, inputs, tmp_path / "o2", "--dask", scheduler[0],
                "--standard", "no-such-standard") == 2
    assert "zhnlp: error:" in capsys.readouterr().err
    assert not list((tmp_path / "o2").iterdir())


def test_annotate_a_bag(scheduler, tiny_model_dir):
    import dask.bag as db

    import zhnlp
    from zhnlp.dask import annotate

    texts = [line for line in LINES if line.strip()]
    bag = annotate(db.from_sequence(texts, npartitions=3), model=str(tiny_model_dir),
                   tasks="cws,pos", batch_size=2)
    records = bag.compute()  # on the module's Client: the default scheduler
    expected = zhnlp.load(str(tiny_model_dir))(texts, tasks="cws,pos")
    assert records == [doc.to_dict() for doc in expected]
    with pytest.raises(zhnlp.ZhnlpError, match="unknown options"):
        annotate(db.from_sequence(texts), model=str(tiny_model_dir), colour="red")
