"""The `zhnlp` command. Each subcommand is a thin face on a function in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from zhnlp.errors import ZhnlpError

UD_HELP = ("2: UD v2 relations and UPOS (default; a model trained on UD 1.4 has its trees "
           "converted, zhnlp.ud_convert); 1: the model's own labels")
PRECISION_HELP = ("int8 (default on the CPU: several times faster; accuracy in the model "
                  "card) or fp32 (full precision: the published numbers exactly)")
MODEL_HELP = ("a shipped model's name (base, small, cws-fast; default base) or a model "
              "directory")


def add_model_options(parser: argparse.ArgumentParser, device: bool = True) -> None:
    """--precision (--int8, the old spelling) and --device."""
    parser.add_argument("--precision", choices=["int8", "fp32"], help=PRECISION_HELP)
    parser.add_argument("--int8", action="store_true", help=argparse.SUPPRESS)
    if device:
        parser.add_argument("--device", default="cpu",
                            help="cpu (default) or cuda: run the model on a GPU (fp32)")


def _lazy(module: str, function: str = "main"):
    """Import the subcommand's module only when it runs: `zhnlp --help` stays fast."""

    def run(args: argparse.Namespace) -> int | None:
        return getattr(import_module(module), function)(args)

    return run


def _run_tag(args: argparse.Namespace) -> int | None:
    """`zhnlp tag`: on Dask with --dask (zhnlp/dask.py sits above zhnlp/tag.py), else here."""
    if args.dask:
        return _lazy("zhnlp.dask", "tag_on_dask")(args)
    return _lazy("zhnlp.tag")(args)


def build_parser() -> argparse.ArgumentParser:
    from zhnlp import __version__

    parser = argparse.ArgumentParser(prog="zhnlp", description=__doc__)
    parser.add_argument("--version", action="version", version=f"zhnlp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    corpora = commands.add_parser("corpora", help="list the datasets and verify the files")
    corpora.add_argument("--no-verify", action="store_true", help="skip checksums and counts")
    corpora.set_defaults(run=_lazy("zhnlp.corpora_cli"))

    evaluate = commands.add_parser("evaluate", help="score a system output against a split")
    evaluate.add_argument("--dataset", required=True, help="dataset name (see `zhnlp corpora`)")
    evaluate.add_argument("--split", default="test")
    evaluate.add_argument("--task", help="cws, pos, ner, dep or srl (default: all it can)")
    evaluate.add_argument("--system", help="system output: segmented text, CoNLL-U or JSON lines")
    evaluate.add_argument("--system-format", choices=["text", "conllu", "json"],
                          help="format of --system (default: guessed from its content)")
    evaluate.add_argument("--model", help="a shipped model's name or a model directory: "
                          "predict the split, then score")
    evaluate.add_argument("--json", dest="json_out", help="also write the scores to this file")
    add_model_options(evaluate, device=False)
    evaluate.add_argument("--ud-version", type=int, choices=[1, 2],
                          help="with --model: " + UD_HELP.replace("default; ", "") +
                          " (default: the dataset's, 1 for ud14*, 2 otherwise)")
    evaluate.set_defaults(run=_lazy("zhnlp.evaluate"))

    train = commands.add_parser("train", help="train teachers and the multitask student")
    train.add_argument("--config", required=True, help="configs/<name>.toml")
    train.add_argument("--stage", choices=["teachers", "student", "all"], default="all")
    train.add_argument("--threads", type=int, metavar="N",
                       help="torch CPU threads per process (default: the config's `threads`)")
    train.add_argument("--device", default="cpu",
                       help="where to train: cpu (default) or cuda (a GPU, when there is one; "
                            "under torchrun each process takes the GPU of its LOCAL_RANK)")
    train.set_defaults(run=_lazy("zhnlp.train.recipe"))

    priors = commands.add_parser("tune-priors", help="decoding priors (POS word tags, NER "
                                 "entity strings) from a config's training data, tuned on its "
                                 "dev sets, added to a model")
    priors.add_argument("--model", required=True, help="model directory (written in place)")
    priors.add_argument("--config", required=True,
                        help="configs/<name>.toml: its POS and NER sources")
    priors.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    priors.set_defaults(run=_lazy("zhnlp.train.priors"))

    tag = commands.add_parser("tag", help="analyse text: segmentation, POS, NER, parsing, SRL")
    tag.add_argument("files", nargs="*", metavar="FILE", help="input files (default: stdin)")
    tag.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    tag.add_argument("--tasks", help="comma-separated from cws,pos,ner,dep,srl,sdp (default: all "
                     "the model has)")
    tag.add_argument("--format", choices=["conllu", "json", "text"], default="conllu",
                     help="output format (default: conllu)")
    tag.add_argument("--no-split", action="store_true", help="each input line is one sentence")
    tag.add_argument("--pretokenized", action="store_true",
                     help="words are separated by whitespace; CWS is skipped")
    tag.add_argument("--standard", help="segmentation standard, e.g. ctb or pku")
    tag.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    tag.add_argument("--batch-size", type=int, default=32, metavar="N",
                     help="sentences per model batch (default: 32)")
    tag.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    tag.add_argument("--max-line-chars", type=int, metavar="N",
                     help="longer lines get an error record: peak memory grows with line "
                     "length (default: 200000; README: Memory)")
    add_model_options(tag)
    tag.add_argument("--ud-version", type=int, choices=[1, 2], default=2, help=UD_HELP)
    tag.add_argument("--user-dict", metavar="FILE", help="user dictionary, one word per line "
                     "(first field only: jieba dictionaries work)")
    tag.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: on when stderr is a terminal)")
    tag.add_argument("--dask", metavar="local:N|tcp://HOST:PORT",
                     help="run on Dask (the dask extra): local:N starts N worker processes "
                     "here, tcp://HOST:PORT uses a running scheduler; -o is then a "
                     "directory of parts (README: Running on a cluster)")
    tag.add_argument("--partition-lines", type=int, metavar="N",
                     help="with --dask: input lines per task (default: 256)")
    tag.set_defaults(run=_run_tag, quick_exit=True)

    serve = commands.add_parser("serve", help="the HTTP service: JSON API and demo page")
    serve.add_argument("--model", metavar="NAME|DIR", help=MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                       "127.0.0.1, this machine only; 0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any "
                       "free port, logged at start)")
    serve.add_argument("--workers", type=int, default=1, metavar="N", help="processes, each "
                       "with its own copy of the model (default: 1)")
    serve.add_argument("--http-threads", type=int, default=8, metavar="N",
                       help="waitress threads per worker (default: 8)")
    serve.add_argument("--threads", type=int, metavar="N", help="torch CPU threads per "
                       "worker (default: CPU cores / workers - 1, at least 1)")
    serve.add_argument("--batch-size", type=int, default=32, metavar="N",
                       help="sentences per model batch (default: 32)")
    add_model_options(serve)
    serve.add_argument("--user-dict", metavar="FILE", help="user dictionary, one word per "
                       "line (first field only)")
    serve.add_argument("--max-body-bytes", type=int, default=1 << 20, metavar="N",
                       help="largest request body in bytes (default: 1048576)")
    serve.add_argument("--max-texts", type=int, default=100, metavar="N",
                       help="most texts per request (default: 100)")
    serve.add_argument("--max-chars", type=int, default=10_000, metavar="N",
                       help="most characters per text (default: 10000)")
    serve.add_argument("--request-timeout", type=int, default=30, metavar="SECONDS",
                       help="a client must send each request (headers and body) within "
                       "this time, or its connection is closed (default: 30)")
    # the one import of a face by the library: only when `zhnlp serve` runs
    serve.set_defaults(run=_lazy("server.serve"))

    pretrain = commands.add_parser("pretrain", help="pretrain the shared encoder")
    pretrain.add_argument("--config", required=True, help="configs/pretrain-*.toml")
    pretrain.set_defaults(run=_lazy("zhnlp.pretrain.loop"))
    return parser


def main(argv: list[str] | None = None) -> int:
    return _execute(build_parser().parse_args(argv))


def console_main() -> None:
    """The `zhnlp` console script and `python -m zhnlp`: main(), then exit. `zhnlp tag`
    (not on Dask) ends with os._exit once its output is flushed and closed: the teardown of
    an interpreter that imported torch takes about 0.4 s, which a one-shot command need not
    make its user wait for."""
    args = build_parser().parse_args()
    code = _execute(args)
    if getattr(args, "quick_exit", False) and not getattr(args, "dask", None):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:  # `zhnlp tag … | head`: the reader is gone
            pass
        os._exit(code)
    sys.exit(code)


def _execute(args: argparse.Namespace) -> int:
    try:
        return args.run(args) or 0
    except ZhnlpError as error:
        print(f"zhnlp: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
