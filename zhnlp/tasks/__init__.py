"""One module per task; each head class implements `zhnlp.tasks.common.TaskHead`.
The registry of tasks is `zhnlp.task_registry`."""
