"""The task registry: one line per task. Each task is one module whose head class owns
everything about it (the `TaskHead` interface in `zhnlp.tasks.common`): its labels, training
targets, loss, soft-target loss, decoding, how it fills a Document and how it is scored.

This module is torch-free (the HTTP process and `resolve_tasks` read it without loading a
model); `head_class(task)` imports a head's module only when a model needs it. Adding a
task = its module plus one `TaskInfo` line here (in pipeline order: a task comes after the
ones it needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class TaskInfo:
    name: str
    head: str  # "module:Class" of its head
    needs_words: bool  # works on words: from CWS, or given (pretokenized input)


REGISTRY = {info.name: info for info in (
    TaskInfo("cws", "zhnlp.tasks.cws:SegmentationHead", needs_words=False),
    TaskInfo("pos", "zhnlp.tasks.pos:TaggingHead", needs_words=True),
    TaskInfo("ner", "zhnlp.tasks.ner:EntityHead", needs_words=False),
    TaskInfo("dep", "zhnlp.tasks.dep:ParsingHead", needs_words=True),
    TaskInfo("srl", "zhnlp.tasks.srl:RoleHead", needs_words=True),
)}
TASK_ORDER = tuple(REGISTRY)
WORD_TASKS = tuple(name for name, info in REGISTRY.items() if info.needs_words)


def head_class(task: str) -> type:
    """The head class of a registered task (imports its module)."""
    module, name = REGISTRY[task].head.split(":")
    return getattr(import_module(module), name)
