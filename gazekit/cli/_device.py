"""``--device cpu|cuda|auto`` for the commands that run a model (``predict``, ``evaluate``)."""

from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def add_device_option(parser) -> None:
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                        help="where the model runs: cpu, cuda (an NVIDIA GPU), or auto (cuda when one is available, "
                             "else cpu; default)")


def resolve_device(name: str):
    """``"auto"`` -> cuda when available else cpu; ``"cuda"`` without a GPU is an error naming the flag."""
    import torch

    from gazekit.errors import InvalidInputError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda: no CUDA GPU is available to torch here; use --device cpu or auto")
    return torch.device(name)


def model_to(model, device):
    """Move a model (any object with ``.to``) to ``device``; models without tensors stay as they are."""
    if device.type != "cpu" and hasattr(model, "to"):
        moved = model.to(device)
        return model if moved is None else moved
    return model


def _move(value, device):
    import dataclasses

    import torch

    from gazekit.scanpaths import Scanpaths

    if isinstance(value, (torch.Tensor, Scanpaths)):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_move(v, device) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _move(getattr(value, f.name), device) for f in dataclasses.fields(value)
                   if isinstance(getattr(value, f.name), (torch.Tensor, Scanpaths, list))}
        return dataclasses.replace(value, **changes)
    return value


class OnDevice:
    """A model on ``device`` seen from the CPU: every method call moves its tensor and scanpath arguments (also
    inside request dataclasses) to the device and its results back to the CPU, so CPU-side code (the evaluators,
    the plots) runs unchanged on a GPU model. Attributes other than methods pass through."""

    def __init__(self, model, device):
        self._model, self._device = model_to(model, device), device

    def __getattr__(self, name):
        import torch

        value = getattr(self._model, name)
        if not callable(value) or self._device.type == "cpu":
            return value

        def call(*args, **kwargs):
            out = value(*_move(list(args), self._device), **{k: _move(v, self._device) for k, v in kwargs.items()})
            return _move(out, torch.device("cpu"))

        return call
