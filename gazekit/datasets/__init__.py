"""Dataset and raw eye-tracker readers, registered by name. Each reader is a module of its own."""

from gazekit.datasets.registry import dataset_info, list_datasets, load_dataset, register_dataset

__all__ = ["register_dataset", "list_datasets", "load_dataset", "dataset_info"]
