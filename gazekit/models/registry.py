"""Model registry: ``@register_model(name, predicts=..., inputs=..., weights=...)`` on a factory function."""

from __future__ import annotations

from gazekit._registry import Registry

MODELS = Registry("model", "gazekit.models")


def register_model(name: str, *, predicts: tuple[str, ...], inputs: tuple[str, ...], weights: tuple[str, ...] = (),
                   description: str = ""):
    """Register a model factory ``fn(pretrained=None, **kwargs) -> LightningModule``.

    Args:
        predicts: what the model outputs, from ``("positions", "durations", "stop", "density")``.
        inputs: what it needs, from ``("image", "target_text", "target_template", "target_box", "boxes")``.
        weights: names of shipped or known pretrained weights (tags accepted by ``pretrained=``).
    """
    return MODELS.register(name, predicts=tuple(predicts), inputs=tuple(inputs), weights=tuple(weights),
                           description=description)


def list_models(pattern: str = "*") -> list[str]:
    return MODELS.names(pattern)


def model_info(name: str) -> dict:
    return dict(MODELS.get(name).info)


def create_model(name: str, pretrained: str | None = None, **kwargs):
    """Build a registered model; ``pretrained`` is a weight tag or a local checkpoint path. ``None`` kwargs are
    dropped so configs can leave options unset."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return MODELS.get(name).obj(pretrained=pretrained, **kwargs)


# Registered models whose shipped weights also load as inference-only modules that import neither Lightning nor
# timm (a much faster start for `gazekit predict`): name -> "module:function" returning the model in eval mode.
# tests/models/test_tpp_inference.py checks each gives the same predictions as create_model(name).
FAST_PREDICTORS = {"tpp-osie": "gazekit.models.tpp_core:load_shipped_osie"}


def load_predictor(spec: str):
    """A model for inference (eval mode) from a spec: a registered name, ``NAME:WEIGHTS`` (a weight tag or a
    checkpoint path for that model), or a path to a TPP checkpoint file.

    Same predictions as ``create_model(name)``; where a fast inference-only form exists (:data:`FAST_PREDICTORS`)
    it is used, so that no training framework is imported.
    """
    import importlib
    from pathlib import Path

    if spec in FAST_PREDICTORS:
        module, func = FAST_PREDICTORS[spec].split(":")
        return getattr(importlib.import_module(module), func)().eval()
    known = list_models()
    if spec in known:
        return create_model(spec).eval()
    if ":" in spec and spec.split(":", 1)[0] in known:
        name, weights = spec.split(":", 1)
        return create_model(name, pretrained=weights).eval()
    if Path(spec).expanduser().is_file():
        from gazekit.models.tpp_core import TPPGazeCore

        return TPPGazeCore.from_file(Path(spec).expanduser())
    from gazekit.errors import UnknownNameError

    raise UnknownNameError("model", spec, known)
