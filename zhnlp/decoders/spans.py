"""Semantic-role argument spans from the dependency tree (plain Python, no numba: a tree
walk per argument, microseconds for a sentence).

The standard CoNLL-2009 dependency-to-span conversion: an argument's span is the subtree of
its head word, without the predicate and the predicate's subtree when they fall inside it,
kept contiguous: the maximal run of consecutive words of that set that contains the head.

    heads      1-based head of each word, 0 = root (CoNLL-U HEAD; a head outside
               0..len(heads) counts as the root)
    argument   0-based index of the argument's head word
    predicate  0-based index of the predicate word (None: no predicate to exclude)
    -> (start, end)  0-based word indices, end exclusive: words[start:end]; always holds
               the argument's head word (a predicate that is its own argument: that word)

A cycle in `heads` (not a tree) cannot loop forever: each word is visited once.
"""

from __future__ import annotations

from collections.abc import Sequence


def children_of(heads: Sequence[int]) -> list[list[int]]:
    """0-based dependents of each 0-based word (the root's children are left out)."""
    children: list[list[int]] = [[] for _ in heads]
    for word, head in enumerate(heads):
        if 0 < head <= len(heads) and head - 1 != word:
            children[head - 1].append(word)
    return children


def argument_span(heads: Sequence[int], argument: int, predicate: int | None = None,
                  children: list[list[int]] | None = None) -> tuple[int, int]:
    """The word span of one argument (module docstring); `children` (from `children_of`)
    saves recomputing them for every argument of a sentence."""
    if not 0 <= argument < len(heads):
        raise ValueError(f"argument word {argument} is outside the sentence of "
                         f"{len(heads)} words")
    if argument == predicate:
        return argument, argument + 1
    if children is None:
        children = children_of(heads)
    inside = {argument}
    stack = [argument]
    while stack:
        for child in children[stack.pop()]:
            if child != predicate and child not in inside:
                inside.add(child)
                stack.append(child)
    start, end = argument, argument + 1
    while start - 1 in inside:
        start -= 1
    while end in inside:
        end += 1
    return start, end
