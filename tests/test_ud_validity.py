"""Our CoNLL-U against Universal Dependencies' own validator (`udtools`, level 2, --lang zh),
and the UD 1.4 -> v2 conversion (`zhnlp.ud_convert`).

The model is the random tiny one, but with the whole UD 1.4 label inventory (relations,
UPOS, the CTB tags the conversion reads), so its random trees exercise every conversion
rule; the text is varied on purpose (scripts, widths, whitespace, long sentences that are
cut and stitched, pretokenized input)."""

from __future__ import annotations

import io
import random

import pytest
from udtools import Validator

from server import create_app
from tests.conftest import SAMPLES, build_tiny_model, needs_corpora
from zhnlp.cli import main
from zhnlp.corpora import Sentence, get_dataset, read_conll
from zhnlp.document import Document, Token
from zhnlp.document import Sentence as DocSentence
from zhnlp.pipeline import Pipeline
from zhnlp.ud_convert import RENAMED, is_ud1, to_ud2, tokens_to_ud2

UD14_RELATIONS = [
    "acl", "acl:relcl", "advcl", "advmod", "amod", "appos", "aux", "aux:caus", "auxpass",
    "case", "case:aspect", "case:dec", "case:pref", "case:suff", "cc", "ccomp", "compound",
    "conj", "cop", "csubj", "csubjpass", "dep", "det", "discourse", "dislocated", "dobj",
    "foreign", "iobj", "mark", "mwe", "name", "neg", "nmod", "nmod:tmod", "nsubj",
    "nsubjpass", "nummod", "parataxis", "punct", "remnant", "root", "vocative", "xcomp"]
UD14_UPOS = ["ADJ", "ADP", "ADV", "AUX", "CONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
             "PROPN", "PUNCT", "SYM", "VERB", "X"]
CTB_TAGS = ["NN", "NNB", "NNP", "VV", "VC", "BB", "DEC", "DEV", "AS", "RB", "CD", "CC", "IN",
            "JJ", "SFN", "UH", "MD", ",", "."]
UD2_ZH_RELATIONS = {  # permitted for zh by udtools 0.2.9 (data/deprels.json)
    "acl", "acl:relcl", "advcl", "advmod", "amod", "appos", "aux", "aux:pass", "case", "cc",
    "ccomp", "clf", "compound", "conj", "cop", "csubj", "csubj:pass", "dep", "det",
    "discourse", "dislocated", "fixed", "flat:foreign", "flat:name", "iobj", "mark",
    "mark:adv", "mark:rel", "nmod", "nmod:tmod", "nsubj", "nsubj:pass", "nummod", "obj",
    "obl", "obl:patient", "orphan", "parataxis", "punct", "root", "vocative", "xcomp"}

TEXTS = [
    "他叫汤姆去拿外衣。北京大學的李白！", "ＩＢＭ在臺灣 iPhone12好", "好", "。", "……",
    "New York  is big.\tOK", "我爱北京天安门，天安门上太阳升。", "「你好」，他說：『再見』！",
    "2024年3月5日，价格为￥12.5元（约1.7美元）。", "😀 表情 符号 ❤️", "a|b\\c 竖线|和反斜杠",
    "　全角空格　开头与结尾　", "\ufffd\ufffd乱码 cafe\u0301 \uf900 \x07响铃",  # not NFC, U+FFFD
    "把书放在桌子上，被雨淋湿了的衣服也收进来。",
    "，".join(["这是一个很长的句子中的一个分句"] * 30) + "。",  # cut into pieces and stitched
] + [line for line in (SAMPLES / "segmented.txt").read_text(encoding="utf-8").splitlines()
     if line.strip()]


@pytest.fixture(scope="module")
def ud14_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ud14_model")
    labels = {"cws": None, "pos": {"upos": UD14_UPOS, "xpos": CTB_TAGS, "pku": ["n", "v", "w"]},
              "ner": ["O", "S-PER", "B-PER", "E-PER"], "dep": UD14_RELATIONS,
              "srl": ["_", "A0", "A1"],  # and SDP's graph in DEPS:
              "sdp": ["Agt", "Poss", "Root", "dExp", "eCoo", "mDegr", "rAgt"]}
    build_tiny_model(seed=3, labels=labels).save(directory)
    return directory


def validate(conllu: str, level: int = 2) -> list[str]:
    """The validator's errors (warnings left out) on a CoNLL-U string."""
    validator = Validator(lang="zh", level=level, output=None)
    state = validator.validate_file_handle(io.StringIO(conllu))
    validator.validate_end(state)
    return [str(incident) for incident in state.error_tracker if incident.is_error()]


def test_cli_output_of_two_files_passes_level_2(ud14_model_dir, tmp_path, capsys):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    second.write_text("\n".join(TEXTS[:5]) + "\n", encoding="utf-8")
    out = tmp_path / "out.conllu"
    assert main(["tag", "--model", str(ud14_model_dir), str(first), str(second),
                 "--tasks", "cws,pos,ner,dep,srl,sdp", "-o", str(out)]) == 0
    conllu = out.read_text(encoding="utf-8")
    assert "# sent_id = 1-1-1\n" in conllu and "# sent_id = 2-1-1\n" in conllu
    assert len(list(read_conll(conllu.splitlines()))) > len(TEXTS) + 5  # some lines split
    assert all(row.split("\t")[8] != "_" for row in conllu.splitlines() if row[:1].isdigit())
    assert main(["tag", "--model", str(ud14_model_dir), str(second), "-o", str(out)]) == 0
    assert "\t0:root\t" not in out.read_text(encoding="utf-8")  # sdp only when asked for
    assert validate(conllu) == []
    # pretokenized: one character a word (a control character alone is no word)
    words = [" ".join(char for char in text if char.isprintable()) for text in TEXTS]
    first.write_text("\n".join(words) + "\n", encoding="utf-8")
    assert main(["tag", "--model", str(ud14_model_dir), str(first), "--pretokenized",
                 "-o", str(out)]) == 0
    assert validate(out.read_text(encoding="utf-8")) == []


def test_api_and_http_records_pass_level_2(ud14_model_dir):
    from zhnlp.pipeline import load

    nlp = load(ud14_model_dir)
    assert nlp.to_ud2  # the model has UD 1.4 labels: its trees are converted
    docs = nlp(TEXTS)
    api = "".join(doc.to_conllu(str(number)) for number, doc in enumerate(docs, 1))
    assert validate(api) == []
    relations = {row.split("\t")[7] for row in api.splitlines() if row and row[0].isdigit()}
    assert relations <= UD2_ZH_RELATIONS  # a random model: few (test below: all of them)
    client = create_app(pipeline=nlp, model_name="tiny-ud14").test_client()
    records = client.post("/v1/annotate", json={"texts": TEXTS, "format": "conllu"}).get_json()
    assert validate("".join(record["conllu"] for record in records)) == []  # one file
    assert validate(nlp(TEXTS[0]).to_conllu()) == []


def test_ud_version_1_keeps_the_model_labels(ud14_model_dir):
    from zhnlp.pipeline import load

    v1 = load(ud14_model_dir, ud_version=1)
    assert not v1.to_ud2
    relations = {token.deprel for doc in v1(TEXTS) for token in doc.tokens}
    assert relations & set(RENAMED)  # v1 labels such as dobj or case:dec come through


def test_ud_version_is_checked(ud14_model_dir):
    from zhnlp.errors import ZhnlpError
    from zhnlp.model import MultiTaskModel

    with pytest.raises(ZhnlpError, match="ud_version must be 1"):
        Pipeline(MultiTaskModel.load(ud14_model_dir), ud_version=3)


def test_is_ud1():
    assert is_ud1(["root", "dobj"]) and is_ud1(["NOUN", "CONJ"])
    assert not is_ud1(["root", "obj", "CCONJ", "mark:rel"])


def random_ud14_sentence(rng: random.Random, n: int) -> Sentence:
    """A random tree (each word's head an earlier word or the root, then shuffled ids)."""
    order = list(range(n))
    rng.shuffle(order)
    heads = [0] * n
    for rank, word in enumerate(order[1:], 1):
        heads[word] = order[rng.randrange(rank)] + 1
    return Sentence(text="字" * n, words=["字"] * n,
                    upos=[rng.choice(UD14_UPOS) for _ in range(n)],
                    xpos=[rng.choice(CTB_TAGS) for _ in range(n)], heads=heads,
                    deprels=["root" if head == 0 else rng.choice(UD14_RELATIONS[:-4])
                             for head in heads])  # [:-4]: all but root, vocative, xcomp


def is_tree(heads: list[int]) -> bool:
    if heads.count(0) != 1:
        return False
    for word in range(1, len(heads) + 1):
        seen, node = set(), word
        while node:
            if node in seen:
                return False
            seen.add(node)
            node = heads[node - 1]
    return True


def test_conversion_keeps_a_tree_and_gives_v2_labels():
    rng = random.Random(0)
    document = Document(text="", tasks=("cws", "pos", "dep"))
    for number in range(2000):
        sentence = random_ud14_sentence(rng, rng.randint(1, 25))
        converted = to_ud2(sentence)
        assert is_tree(converted.heads), (sentence, converted)
        assert [rel == "root" for rel in converted.deprels] == [h == 0 for h in converted.heads]
        assert set(converted.deprels) <= UD2_ZH_RELATIONS
        assert "CONJ" not in converted.upos and converted.words == sentence.words
        if number < 300:  # what the Pipeline does with a UD 1.4 model's trees
            tokens = [Token(i, word, i - 1, i, upos, xpos, None, head, rel) for i, (
                word, upos, xpos, head, rel) in enumerate(zip(
                    sentence.words, sentence.upos, sentence.xpos, sentence.heads,
                    sentence.deprels), 1)]
            tokens_to_ud2(tokens)
            assert [t.deprel for t in tokens] == converted.deprels
            document.sentences.append(DocSentence(sentence.text, 0, len(tokens), tokens))
    assert validate(document.to_conllu()) == []


def ud14(rows: str) -> Sentence:
    """A sentence from `FORM UPOS XPOS HEAD DEPREL` lines."""
    table = [line.split() for line in rows.strip().splitlines()]
    conllu = "\n".join("\t".join([str(i), form, "_", upos, xpos, "_", head, rel, "_", "_"])
                       for i, (form, upos, xpos, head, rel) in enumerate(table, 1))
    return next(read_conll(conllu.splitlines()))


def test_conversion_rules_on_sentences_of_ud14_dev():
    # constructions of UD 1.4 dev, abridged; expected: how GSDSimp v2 dev annotates them
    sentence = ud14("""
        但      ADV   RB   6 mark
        人们    NOUN  NN   6 nsubj
        将      VERB  BB   6 aux:caus
        一      NUM   CD   5 nummod
        个      NOUN  NNB  6 dobj
        有      VERB  VV   0 root
        紧密    ADJ   JJ   9 amod
        的      PART  DEC  7 acl:relcl
        联系    NOUN  NN   6 dobj
        .       PUNCT .    6 punct""")
    converted = to_ud2(sentence)
    assert converted.deprels == ["mark", "nsubj", "case", "nummod", "obl:patient", "root",
                                 "amod", "mark:rel", "obj", "punct"]
    assert converted.heads == [6, 6, 5, 5, 6, 0, 9, 7, 6, 6]
    assert converted.upos[0] == "SCONJ" and converted.upos[2] == "ADP"
    assert converted.upos[7] == "SCONJ" and converted.words[-1] == "。"  # v2: full width
    names = to_ud2(ud14("""
        鸟山  PROPN NNP 2 nmod
        明    PROPN NNP 3 nsubj
        设计  VERB  VV  0 root
        ,     PUNCT ,   5 punct
        成功  VERB  VV  3 conj"""))
    assert names.heads == [3, 1, 0, 5, 3] and names.deprels[:2] == ["nsubj", "flat:name"]
    clauses = to_ud2(ud14("""
        结果  NOUN  NN  2 nsubj
        不同  ADJ   JJ  6 dep
        ,     PUNCT ,   6 punct
        我们  PRON  PN  6 nsubj
        一    NUM   CD  6 dep
        看    VERB  VV  0 root
        .     PUNCT .   6 punct"""))
    assert clauses.heads == [2, 0, 6, 6, 6, 2, 2]  # the first clause heads the sentence
    assert clauses.deprels[1] == "root" and clauses.deprels[5] == "parataxis"


def test_without_a_tree_only_conj_changes():
    sentence = Sentence(text="和他", words=["和", "他"], upos=["CONJ", "PRON"])
    assert to_ud2(sentence).upos == ["CCONJ", "PRON"]


@needs_corpora
def test_converted_ud14_dev_agrees_with_the_official_v2_dev():
    converted = get_dataset("ud14_simp_v2").read("dev")  # the reader option to_ud2
    official = get_dataset("ud2_gsdsimp").read("dev")
    pairs = [(ours, theirs) for ours, theirs in zip(converted, official)
             if [len(w) for w in ours.words] == [len(w) for w in theirs.words]]
    words = sum(len(ours.words) for ours, _ in pairs)
    heads = sum(a == b for ours, theirs in pairs for a, b in zip(ours.heads, theirs.heads))
    rels = sum(a == b for ours, theirs in pairs for a, b in zip(ours.deprels, theirs.deprels))
    assert len(pairs) == 487 and heads / words > 0.94 and rels / words > 0.97
