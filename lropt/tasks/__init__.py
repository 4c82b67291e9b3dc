"""lropt's task library: synthetic families for meta-training, real offline tasks, download tasks.

>>> from lropt.tasks import get_task, get_family, list_tasks
>>> task = get_task("digits-mlp")            # a fixed real task (data loads on first use)
>>> family = get_family("teacher_mlp", depth=2)
>>> task = family.sample(0)                   # a random synthetic task

Importing this package imports only torch: scikit-learn, datasets,
transformers and friends load inside the tasks that need them.
"""

from .base import KINDS, Mixture, Task, TaskFamily, forward
from .registry import get_family, get_task, list_families, list_tasks

__all__ = ["KINDS", "Mixture", "Task", "TaskFamily", "forward", "get_family", "get_task", "list_families", "list_tasks"]
