"""Registry of dataset readers: ``@register_dataset("osie")`` on a function ``load(root, **kwargs)``."""

from __future__ import annotations

from gazekit._registry import Registry

# the DataModules import Lightning (slow); these modules register nothing
DATASETS = Registry("dataset", "gazekit.datasets",
                    skip=("datamodule", "collate", "image_cache", "multi", "catalog", "grouped", "objarray_trials"))


def register_dataset(name: str, **info):
    """Register a reader. ``info`` documents it (``description``, ``has_images``, ``has_durations``, ...)."""
    return DATASETS.register(name, **info)


def list_datasets(pattern: str = "*") -> list[str]:
    """Names of the registered datasets matching the wildcard ``pattern``."""
    return DATASETS.names(pattern)


def dataset_info(name: str) -> dict:
    """What a dataset reader registered about itself (description, has_images, has_durations, ...)."""
    return dict(DATASETS.get(name).info)


def load_dataset(name: str, root=None, **kwargs):
    """Load a registered dataset by name from ``root`` (default: its folder under :func:`gazekit.paths.data_root`).

    ``on_invalid`` (every reader): ``"error"`` (alias ``"raise"``), ``"drop"`` or ``"clip"``."""
    return DATASETS.get(name).obj(root=root, **_normalized(kwargs))


def _normalized(kwargs: dict) -> dict:
    """Reader options with ``on_invalid`` spelled the way every reader understands it (``"error"`` -> ``"raise"``)."""
    if "on_invalid" in kwargs:
        from gazekit.scanpaths._validation import normalize_policy

        kwargs = {**kwargs, "on_invalid": normalize_policy(kwargs["on_invalid"])}
    return kwargs
