"""Scanpath models, registered by name (timm-style): ``create_model(name, pretrained=...)``,
``load_checkpoint(path)``, ``model.save_checkpoint(path)``; see docs/model-api.md."""

from gazekit.models.registry import (
    WeightSpec,
    catalog,
    create_model,
    list_models,
    load_checkpoint,
    load_predictor,
    model_info,
    register_model,
)

__all__ = ["WeightSpec", "catalog", "create_model", "list_models", "load_checkpoint", "load_predictor",
           "model_info", "register_model"]
