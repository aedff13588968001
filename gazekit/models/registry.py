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
