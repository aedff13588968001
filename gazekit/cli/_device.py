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
