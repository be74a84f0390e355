"""UD 1.4 Chinese trees to UD v2 (the annotation of UD_Chinese-GSD/GSDSimp v2).

UD_Chinese 1.4 is the only Chinese treebank here with a train split; its v2 re-release
(GSDSimp) has the same sentences, re-annotated. `to_ud2` rewrites one 1.4 sentence the way
v2 annotates it: the generic v1 -> v2 renames (dobj -> obj, nsubjpass -> nsubj:pass, neg
-> advmod, CONJ -> CCONJ, ...) plus rules read off the differences between UD 1.4 dev and
GSDSimp v2 dev (never its test): Chinese-specific relations (case:dec, case:suff,
case:aspect, aux:caus), classifiers (`clf` under the numeral), person names (`flat:name`),
the first of several clauses as the root, and coordinators and punctuation attached to
the conjunct or clause they belong to. `benchmarks/ud_conversion.py` measures the
agreement with the official v2 dev (and with udapi's generic `ud.Convert1to2`).

The rules read UPOS, XPOS (CTB tags), heads and relations; without tags (a model run with
dep but not pos) only the relation renames apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from zhnlp.document import Token
from zhnlp.sentence import Sentence

# v1 relations that v2 renamed, whatever their context
RENAMED = {
    "dobj": "obj", "nsubjpass": "nsubj:pass", "csubjpass": "csubj:pass",
    "auxpass": "aux:pass", "neg": "advmod", "foreign": "flat:foreign", "mwe": "fixed",
    "name": "flat:name", "remnant": "orphan", "case:suff": "compound", "case:pref": "case",
    "case:dec": "case", "case:aspect": "aux", "aux:caus": "case",
}
# UD 1.4 (these files) writes punctuation half-width, v2 full-width as the text has it;
# the models keep 。 apart from "." (zhnlp.text.normalize), so a model trained on 1.4's
# "." segments text with 。 worse (the shipped model: raw-text tokens 84.7 on v2 dev,
# 95.2 with 。 replaced by ".")
FULL_WIDTH = {",": "，", ".": "。", "(": "（", ")": "）", ":": "：", ";": "；", "?": "？",
              "!": "！"}
PREDICATES = {"VERB", "ADJ"}
NOMINALS = {"NOUN", "PROPN", "PRON", "NUM", "PART", "X"}  # PART: CTB's SFN suffixes (们, 性)
# (1.4 UPOS, v2 relation) -> v2 UPOS: v2 tags auxiliaries and copulas AUX, subordinators
# SCONJ; v1's CONJ is CCONJ
NEW_UPOS = {("ADV", "mark"): "SCONJ", ("PART", "mark:adv"): "SCONJ",
            ("PART", "mark:rel"): "SCONJ", ("VERB", "aux:pass"): "AUX",
            ("VERB", "cop"): "AUX", ("PART", "aux"): "AUX", ("X", "discourse"): "PART",
            ("SYM", "punct"): "PUNCT", ("CONJ", "cc"): "CCONJ"}


class _Tree:
    """0-based word indices; head -1 is the root."""

    def __init__(self, sentence: Sentence) -> None:
        self.heads = [head - 1 for head in sentence.heads or []]
        self.rels = list(sentence.deprels or [])
        n = len(self.heads)
        self.upos = list(sentence.upos) if sentence.upos else ["_"] * n
        self.xpos = list(sentence.xpos) if sentence.xpos else ["_"] * n

    def children(self, head: int) -> list[int]:
        return [i for i, h in enumerate(self.heads) if h == head]

    def head_upos(self, i: int) -> str:
        return self.upos[self.heads[i]] if self.heads[i] >= 0 else "ROOT"

    def ancestors(self, i: int) -> list[int]:
        """The words above i, nearest first, up to the root word."""
        found = []
        while self.heads[i] >= 0:
            i = self.heads[i]
            found.append(i)
        return found

    def right_edge(self, i: int) -> int:
        """The last word of i's subtree."""
        edge = i
        for child in self.children(i):
            edge = max(edge, self.right_edge(child))
        return edge


def is_ud1(labels: Iterable[str]) -> bool:
    """Whether a label set (relations or UPOS tags) is UD v1's."""
    return any(label in RENAMED or label == "CONJ" for label in labels)


def to_ud2(sentence: Sentence) -> Sentence:
    """The sentence with v2 relations, heads and UPOS, and its punctuation full-width (a
    new Sentence). Without a tree only the UPOS tag CONJ changes (to CCONJ)."""
    if sentence.heads is None or sentence.deprels is None:
        if sentence.upos is None:
            return sentence
        return replace(sentence, upos=["CCONJ" if tag == "CONJ" else tag
                                       for tag in sentence.upos])
    tree = _Tree(sentence)
    if sentence.upos is not None:
        _first_clause_is_root(tree)
        _classifiers(tree)
        _person_names(tree)
        _ba_patient(tree)
        _coordinators(tree)
        _punctuation(tree)
        _projective_punctuation(tree)
        _relabel(tree)
    tree.rels = [RENAMED.get(rel, rel) for rel in tree.rels]
    upos = None
    if sentence.upos is not None:
        upos = [NEW_UPOS.get((tag, rel), "CCONJ" if tag == "CONJ" else tag)
                for tag, rel in zip(tree.upos, tree.rels)]
    words = sentence.words
    if sentence.upos is not None:
        words = [FULL_WIDTH.get(word, word) if tag == "PUNCT" else word
                 for word, tag in zip(sentence.words, sentence.upos)]
    return replace(sentence, text="".join(words), words=words, upos=upos,
                   heads=[head + 1 for head in tree.heads], deprels=tree.rels)


def _first_clause_is_root(tree: _Tree) -> None:
    """1.4 heads a sentence of several clauses by its last clause (earlier ones `dep`);
    v2 by the first, the later ones `parataxis` of it."""
    root = tree.heads.index(-1) if -1 in tree.heads else None
    if root is None:
        return
    earlier = [c for c in tree.children(root) if c < root and tree.rels[c] == "dep"
               and tree.upos[c] in PREDICATES | {"NOUN"}]
    if not earlier:
        return
    first = earlier[0]
    for child in tree.children(root):
        if child < first or (child == len(tree.heads) - 1 and tree.rels[child] == "punct"):
            tree.heads[child] = first
        elif child in earlier[1:]:
            tree.heads[child], tree.rels[child] = first, "parataxis"
    tree.heads[first], tree.rels[first] = -1, "root"
    tree.heads[root], tree.rels[root] = first, "parataxis"


def _classifiers(tree: _Tree) -> None:
    """一 个 人: 1.4 一 -nummod-> 个 -nmod-> 人; v2 一 -nummod-> 人, 个 -clf-> 一."""
    for i, tag in enumerate(tree.xpos):
        if tag != "NNB" or tree.rels[i] != "nmod" or tree.head_upos(i) not in NOMINALS:
            continue
        children = tree.children(i)
        if children and (len(children) > 1 or tree.rels[children[0]] != "nummod"):
            continue  # 这 两 个 族群, 4 月 至 12 月: v2 keeps the classifier a nmod
        tree.rels[i] = "clf"
        if children:
            tree.heads[children[0]], tree.heads[i] = tree.heads[i], children[0]


def _person_names(tree: _Tree) -> None:
    """鸟山 明: 1.4 鸟山 -nmod-> 明 -nsubj-> 设计; v2 鸟山 -nsubj-> 设计, 明 -flat:name-> 鸟山."""
    for first in range(len(tree.heads) - 1):
        last = first + 1
        if (tree.heads[first] == last and tree.rels[first] in ("nmod", "det")
                and tree.xpos[first] == tree.xpos[last] == "NNP"):
            for child in tree.children(last):
                if child < first:
                    tree.heads[child] = first
            tree.heads[first], tree.rels[first] = tree.heads[last], tree.rels[last]
            tree.heads[last], tree.rels[last] = first, "flat:name"


def _ba_patient(tree: _Tree) -> None:
    """把/将 X V: 1.4 把 -aux:caus-> V, X -dobj-> V; v2 把 -case-> X, X -obl:patient-> V."""
    for i, rel in enumerate(tree.rels):
        if rel != "aux:caus" or tree.xpos[i] != "BB":
            continue
        objects = [c for c in tree.children(tree.heads[i]) if c > i and tree.rels[c] == "dobj"]
        if objects:
            tree.heads[i], tree.rels[objects[0]] = objects[0], "obl:patient"
        tree.upos[i] = "ADP"


def _coordinators(tree: _Tree) -> None:
    """A coordinator attaches to the conjunct after it, not to the first conjunct."""
    for i, rel in enumerate(tree.rels):
        if rel == "cc":
            following = [c for c in tree.children(tree.heads[i]) if c > i
                         and tree.rels[c] == "conj"]
            if following:
                tree.heads[i] = following[0]


def _punctuation(tree: _Tree) -> None:
    """Punctuation after a dependent that precedes its head (a fronted clause or phrase)
    attaches to that dependent; between conjuncts, to the conjunct after it."""
    for i, rel in enumerate(tree.rels):
        head = tree.heads[i]
        if rel != "punct" or head < 0:
            continue
        siblings = [c for c in tree.children(head) if c != i and tree.rels[c] != "punct"]
        after = [c for c in siblings if c > i]
        if head < i and after and tree.rels[after[0]] == "conj":
            tree.heads[i] = after[0]
            continue
        before = [c for c in siblings if c < head and tree.right_edge(c) == i - 1]
        if before:
            tree.heads[i] = before[0]


def _projective_punctuation(tree: _Tree) -> None:
    """UD wants punctuation attached without crossing arcs: a punctuation mark whose arc
    crosses another (after the rules above, or as a parser predicted it) moves up to the
    nearest ancestor of its head where none crosses."""
    for i, rel in enumerate(tree.rels):
        if rel != "punct" or tree.heads[i] < 0:
            continue
        ancestors = [set(tree.ancestors(k)) for k in range(len(tree.heads))]
        spanning = [h for k, h in enumerate(tree.heads) if h >= 0 and min(k, h) < i < max(k, h)]
        for head in [tree.heads[i], *tree.ancestors(tree.heads[i])]:
            low, high = min(i, head), max(i, head)
            if (all(head in ancestors[k] for k in range(low + 1, high) if k != i)
                    and all(head == h or h in ancestors[head] for h in spanning)):
                tree.heads[i] = head
                break


def _relabel(tree: _Tree) -> None:
    """Relations whose v2 name depends on the word's tag or its head's."""
    for i, rel in enumerate(tree.rels):
        upos, head_upos = tree.upos[i], tree.head_upos(i)
        if rel == "acl:relcl" and tree.xpos[i] == "DEC":  # the relativiser 的 itself
            tree.rels[i] = "mark:rel"
        elif rel == "acl" and upos == "ADP":  # localisers: 中, 之内
            tree.rels[i] = "case"
        elif rel == "acl" and head_upos in PREDICATES:
            tree.rels[i] = "advcl"
        elif rel == "det":
            tree.rels[i] = {"NOUN": "nmod", "PROPN": "nmod", "PART": "nmod", "ADP": "case",
                            "ADJ": "amod", "NUM": "nummod"}.get(upos, "det")
        elif rel == "nmod" and head_upos == "VERB":
            tree.rels[i] = "obl"
        elif rel == "advmod" and upos in NOMINALS and head_upos in PREDICATES:
            tree.rels[i] = "obl"
        elif rel == "mark" and tree.xpos[i] == "DEV":  # 地
            tree.rels[i] = "mark:adv"
        elif rel == "case:pref":
            tree.upos[i] = "PART" if upos == "PART" else "ADP"


def tokens_to_ud2(tokens: list[Token]) -> None:
    """Convert one analysed sentence of a Document in place (the Pipeline's v2 output for
    a model trained on UD 1.4). Layers a task did not fill (None) stay None."""
    def layer(name: str) -> list | None:
        values = [getattr(token, name) for token in tokens]
        return None if any(value is None for value in values) else values

    converted = to_ud2(Sentence(text="", words=[token.text for token in tokens],
                                upos=layer("upos"), xpos=layer("xpos"), heads=layer("head"),
                                deprels=layer("deprel")))
    for k, token in enumerate(tokens):
        if converted.upos is not None:
            token.upos = converted.upos[k]
        if converted.heads is not None:
            token.head, token.deprel = converted.heads[k], converted.deprels[k]
