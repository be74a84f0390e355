"""The task registry (one line per task) and which tasks a request runs.

Each task is one module in zhnlp/tasks/ whose head class owns everything about it (the
`TaskHead` interface in `zhnlp.tasks.common`): its labels, training targets, loss,
soft-target loss, decoding, how it fills a Document and how it is scored. This module is
torch-free (the HTTP process and `resolve_tasks` read it without loading a model);
`head_class(task)` imports a head's module only when a model needs it. Adding a task = its
module plus one `TaskInfo` line here (in pipeline order: after the tasks it needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module

from zhnlp.errors import ZhnlpError


@dataclass(frozen=True)
class TaskInfo:
    name: str
    head: str  # "module:Class" of its head
    needs_words: bool  # works on words: from CWS, or given (pretokenized input)
    by_default: bool = True  # run when no tasks are asked for


REGISTRY = {info.name: info for info in (
    TaskInfo("cws", "zhnlp.tasks.cws:SegmentationHead", needs_words=False),
    TaskInfo("pos", "zhnlp.tasks.pos:TaggingHead", needs_words=True),
    TaskInfo("ner", "zhnlp.tasks.ner:EntityHead", needs_words=False),
    TaskInfo("dep", "zhnlp.tasks.dep:ParsingHead", needs_words=True),
    TaskInfo("srl", "zhnlp.tasks.srl:RoleHead", needs_words=True),
    # SDP's relation biaffine (134 labels) doubles the analysis time: asked for by name
    TaskInfo("sdp", "zhnlp.tasks.sdp:SemanticGraphHead", needs_words=True, by_default=False),
)}
TASK_ORDER = tuple(REGISTRY)
WORD_TASKS = tuple(name for name, info in REGISTRY.items() if info.needs_words)


def head_class(task: str) -> type:
    """The head class of a registered task (imports its module)."""
    module, name = REGISTRY[task].head.split(":")
    return getattr(import_module(module), name)


def resolve_tasks(available: Sequence[str], tasks: str | Sequence[str] | None = None,
                  pretokenized: bool = False) -> list[str]:
    """The tasks to run on a model that has `available`, checked: None means all of them
    but those run only when asked for (sdp); "cws,pos" or a list. Also the tasks they need
    (pos/dep/srl need cws unless the words are given); cws itself is dropped for
    pretokenized input."""
    if tasks is None:
        asked = [task for task in TASK_ORDER if task in available and REGISTRY[task].by_default]
    else:
        if isinstance(tasks, str):
            tasks = tasks.split(",")
        if not isinstance(tasks, list | tuple | set) or not all(
                isinstance(task, str) for task in tasks):
            raise ZhnlpError("tasks must be a list of task names such as ['cws', 'pos'] "
                             f"or a comma-separated str, not {tasks!r}.")
        asked = [task.strip() for task in tasks if task.strip()]
        if not asked:
            raise ZhnlpError(f"no task given; choose from {', '.join(TASK_ORDER)}.")
        for task in asked:
            if task not in TASK_ORDER:
                raise ZhnlpError(f"unknown task {task!r}; choose from {', '.join(TASK_ORDER)}.")
            if task not in available:
                raise ZhnlpError(f"this model has no {task} head; it has "
                                 f"{', '.join(available)}.")
    needed = set(asked)
    if needed & set(WORD_TASKS) and not pretokenized:
        if "cws" not in available:
            raise ZhnlpError(f"{', '.join(sorted(needed & set(WORD_TASKS)))} need words but this "
                             "model has no cws head; give pretokenized input.")
        needed.add("cws")
    if pretokenized:
        needed.discard("cws")
    return [task for task in TASK_ORDER if task in needed]
