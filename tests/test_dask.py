"""`zhnlp tag --dask` and `zhnlp.dask.annotate` on a LocalCluster of two worker processes
(one per module): the parts, concatenated, are byte for byte the single-process output."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from zhnlp.cli import main

HAVE_DASK = all(importlib.util.find_spec(name) for name in ("dask", "distributed"))
# every test but the first needs the extra; the first checks the message without it
needs_dask = pytest.mark.skipif(
    not HAVE_DASK, reason="dask and distributed are an optional extra (zhnlp[dask])")

LINES = ["他叫汤姆去拿外衣。", "李强在北京大学工作。", "", "北京大学李白iPhone12",
         "他叫汤姆去拿外衣。李强在北京大学工作。" * 3,  # over --max-line-chars: an error record
         "  ", "汤姆"]


@pytest.mark.parametrize("name", ["dask", "dask.bag", "distributed"])
def test_without_dask_a_clear_error(name, monkeypatch, tiny_model_dir, tmp_path):
    import zhnlp
    import zhnlp.dask

    monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError
    with pytest.raises(zhnlp.ZhnlpError, match=r'pip install "zhnlp\[dask\]"'):
        zhnlp.dask.annotate([], model=str(tiny_model_dir))
    (tmp_path / "in.txt").write_text("汤姆\n", encoding="utf-8")
    assert _tag(tiny_model_dir, [tmp_path / "in.txt"], tmp_path / "o", "--dask",
                "local:1") == 2
    assert not (tmp_path / "o").exists()  # refused before anything was made


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


@needs_dask
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


@needs_dask
def test_stdout_in_input_order(scheduler, tiny_model_dir, inputs, capsys):
    common = ["tag", *map(str, inputs), "--model", str(tiny_model_dir), "--format", "text",
              "--tasks", "cws,pos", "--max-line-chars", "40"]
    assert main(common) == 3
    expected = capsys.readouterr().out
    assert main([*common, "--dask", scheduler[0], "--partition-lines", "2"]) == 3
    assert capsys.readouterr().out == expected


@needs_dask
def test_local_cluster(tiny_model_dir, inputs, tmp_path):
    single, parts = tmp_path / "single", tmp_path / "parts"
    assert _tag(tiny_model_dir, inputs, single, "--format", "json") == 3
    assert _tag(tiny_model_dir, inputs, parts, "--format", "json", "--dask", "local:1") == 3
    assert b"".join(p.read_bytes() for p in sorted(parts.iterdir())) == single.read_bytes()


@needs_dask
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
    # each run's plugin (its model) left the workers with it, the failed one's too
    left = scheduler[1].run(lambda dask_worker: [
        name for name in dask_worker.plugins if name.startswith("zhnlp-tag")])
    assert left and not any(left.values())


@needs_dask
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


def _die_once(marker: str, source_suffix: str, first_line: int) -> None:
    """Run on each worker: the first attempt of the partition that starts at `first_line`
    of the file named `*source_suffix` ends its worker process mid-task, as a crash or an
    OOM kill would. The nanny starts a fresh worker; the marker file, made atomically,
    lets only one attempt die, wherever the task is retried."""
    import zhnlp.dask as module

    original = module._tag_partition

    def dying(plugin_name, lines, source, doc_prefix):
        if source.endswith(source_suffix) and lines[0][0] == first_line:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass  # the retry: run as usual
            else:
                os._exit(1)
        return original(plugin_name, lines, source, doc_prefix)

    # tasks name the function by module and attribute, so the worker looks this up
    module._tag_partition = dying


@needs_dask
def test_a_worker_that_dies_is_retried_without_losing_lines(
        scheduler, tiny_model_dir, inputs, tmp_path, capsys):
    import cloudpickle

    address, client = scheduler
    single, parts = tmp_path / "single", tmp_path / "parts"
    assert _tag(tiny_model_dir, inputs, single, "--format", "conllu") == 3
    marker = tmp_path / "died"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    try:
        client.run(_die_once, str(marker), "a.txt", 9)  # a.txt lines 9-12: partition 2
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert _tag(tiny_model_dir, inputs, parts, "--format", "conllu", "--dask", address,
                "--partition-lines", "4") == 3
    assert marker.exists()  # a worker did die in the middle of partition 2
    joined = b"".join(p.read_bytes() for p in sorted(parts.iterdir()))
    assert joined == single.read_bytes()  # nothing lost, nothing twice
    client.wait_for_workers(2, timeout=60)  # the nanny's fresh worker, for later tests
