"""Run a batch in one call, and fall back to one call per item when that call fails.

`zhnlp tag` (a chunk of input lines) and the HTTP service (the requests that queued up
while the model was busy) both batch for speed; neither may let one bad item spoil the
others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def batch_or_each(call: Callable[[list[Item]], list[Result]], items: Sequence[Item]
                  ) -> list[tuple[Result | None, Exception | None]]:
    """(result, None) or (None, error) for each item, in order. `call` takes a list of
    items and returns one result per item; it runs once on all of them and, only if that
    raises, once on each item alone, so an error reaches only the item that caused it."""
    items = list(items)
    try:
        return [(result, None) for result in call(items)]
    except Exception as error:
        if len(items) == 1:
            return [(None, error)]
    results: list[tuple[Result | None, Exception | None]] = []
    for item in items:
        try:
            results.append((call([item])[0], None))
        except Exception as error:  # this item's own error
            results.append((None, error))
    return results
