"""Scanpath models, registered by name (timm-style): ``create_model(name, pretrained=...)``."""

from gazekit.models.registry import create_model, list_models, load_predictor, model_info, register_model

__all__ = ["create_model", "list_models", "load_predictor", "model_info", "register_model"]
