"""Registry of dataset readers: ``@register_dataset("osie")`` on a function ``load(root, **kwargs)``."""

from __future__ import annotations

from gazekit._registry import Registry

# the DataModule imports Lightning (slow) and registers nothing
DATASETS = Registry("dataset", "gazekit.datasets", skip=("datamodule", "collate"))


def register_dataset(name: str, **info):
    """Register a reader. ``info`` documents it (``description``, ``has_images``, ``has_durations``, ...)."""
    return DATASETS.register(name, **info)


def list_datasets(pattern: str = "*") -> list[str]:
    return DATASETS.names(pattern)


def dataset_info(name: str) -> dict:
    return dict(DATASETS.get(name).info)


def load_dataset(name: str, root=None, **kwargs):
    """Load a registered dataset by name from ``root`` (default: its folder under :func:`gazekit.paths.data_root`)."""
    return DATASETS.get(name).obj(root=root, **kwargs)
