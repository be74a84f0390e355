"""What the HTTP side needs to know about the model: its tasks, standards and label sets.

`zhnlp serve` keeps the model in a process of its own (`model_process.py`); the HTTP process
checks requests and answers /v1/info and /v1/openapi.json from this summary alone, without
torch or the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zhnlp.task_registry import resolve_tasks


@dataclass(frozen=True)
class ModelSummary:
    name: str
    tasks: list[str]
    standards: list[str]
    default_standard: str
    labels: dict[str, object]  # task -> its head's summary_labels() (pos: layer -> tags, ...)
    piece_chars: int  # the Pipeline cuts longer sentences at clause boundaries

    def resolve_tasks(self, tasks: str | Sequence[str] | None = None,
                      pretokenized: bool = False) -> list[str]:
        return resolve_tasks(self.tasks, tasks, pretokenized)


def summarize(pipeline, default_name: str | None = None) -> ModelSummary:
    """The summary of a loaded `Pipeline`, named after its model (its training config's
    name), else `default_name` (e.g. its directory), else "zhnlp"."""
    labels = {task: head.summary_labels() for task, head in pipeline.model.heads.items()
              if head.summary_labels() is not None}
    return ModelSummary(name=pipeline.model.meta.get("name") or default_name or "zhnlp",
                        tasks=pipeline.tasks, standards=pipeline.standards,
                        default_standard=pipeline.model.default_standard, labels=labels,
                        piece_chars=pipeline.piece_chars)
