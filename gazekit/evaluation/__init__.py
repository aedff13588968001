"""Evaluation protocols, one per model task kind (``model.task_kind``), registered by name.

An evaluator is ``fn(model, dataset, *, images, train_images, model_name, seed, n_samples, show_progress,
**options) -> dict``:

* ``model``: a gazekit model (``predict_scanpaths``, maybe ``conditional_log_density``).
* ``dataset``: a loaded :class:`~gazekit.datasets.base.GazeDataset`.
* ``images``: the image names to score (e.g. the test split), or None for all.
* ``train_images``: the image names baselines may be fitted on (None: fit on the evaluated images and say so).
* ``n_samples``: scanpaths sampled per image (None: the evaluator's default).
* returns a JSON-serialisable dict; a ``"table"`` entry (a list of rows ``{"metric": ..., "<method>": value}``)
  is what ``gazekit evaluate`` prints.

``gazekit evaluate`` picks the evaluator by ``model.task_kind`` (``freeview``, ``search``, ``object_search``).
Modules in this package register themselves on import (:func:`get_evaluator` imports them all).
"""

from __future__ import annotations

from collections.abc import Callable

from gazekit._registry import Registry

__all__ = ["register_evaluator", "get_evaluator", "list_evaluators"]

EVALUATORS = Registry("evaluator", "gazekit.evaluation")


def register_evaluator(task_kind: str):
    """Decorator: register ``fn`` as the evaluator for models whose ``task_kind`` is ``task_kind``."""
    return EVALUATORS.register(task_kind)


def get_evaluator(task_kind: str) -> Callable:
    """The evaluator registered for a model's ``task_kind``."""
    return EVALUATORS.get(task_kind).obj


def list_evaluators() -> list[str]:
    """The task kinds that have a registered evaluator."""
    return EVALUATORS.names()
