"""Image backbones for gazekit models: any timm architecture through ``features_only`` (multi-level features).

``pretrained`` is either a timm weight tag (``"in1k"``, ``"ra_in1k"``, ... or ``True`` for the default tag; needs
the weights in the local Hugging Face / torch cache or network access) or a path to a local checkpoint (a timm
model ``state_dict``, a ``{"state_dict": ...}`` / ``{"model": ...}`` dict, or a ``.safetensors`` file). Nothing
is downloaded unless a tag is asked for; a failed download raises :class:`~gazekit.errors.InvalidInputError`
saying how to fix it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from gazekit.errors import InvalidInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    from gazekit.models._checkpoint import read_checkpoint

    obj, _ = read_checkpoint(path)  # weights-only: a file holding code is refused (docs/security.md)
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise InvalidInputError(f"checkpoint {str(path)!r} holds no state_dict (found {type(obj).__name__})")
    return {k.removeprefix("module.").removeprefix("model."): v for k, v in obj.items()}


class _NormalisedFeatures(nn.Module):
    """Shared forward: normalise RGB in [0, 1] with ``mean``/``std`` and return ``body``'s feature maps."""

    def forward(self, images: Tensor) -> list[Tensor]:
        """``[B, 3, H, W]`` RGB in [0, 1] -> list of ``[B, C_i, H / r_i, W / r_i]`` feature maps."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise InvalidInputError(f"backbone expects images [B, 3, H, W], got shape {tuple(images.shape)}")
        return self.body((images - self.mean) / self.std)


class Backbone(_NormalisedFeatures):
    """A timm ``features_only`` network that takes ``[B, 3, H, W]`` RGB in [0, 1] and returns feature maps.

    Args:
        name: timm architecture name (``timm.list_models()``), e.g. ``"lcnet_050"``, ``"resnet18"``.
        pretrained: ``None``/``False`` (random init), ``True`` or a timm tag (download/cache), or a local
            checkpoint path.
        out_indices: which feature levels to return (timm's ``out_indices``).
        **timm_kwargs: passed to ``timm.create_model``.

    Attributes:
        channels: channels of each returned level. reductions: stride (px of input per feature cell) of each level.
    """

    def __init__(self, name: str = "lcnet_050", pretrained: str | bool | None = None,
                 out_indices: tuple[int, ...] = (2, 3, 4), **timm_kwargs):
        super().__init__()
        import timm

        if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
            raise InvalidInputError(f"unknown timm backbone {name!r} (see timm.list_models())")
        local = None
        if isinstance(pretrained, (str, Path)) and pretrained not in ("", "none", "None"):
            candidate = Path(pretrained).expanduser()
            if candidate.suffix or candidate.exists() or "/" in str(pretrained):
                if not candidate.is_file():
                    raise InvalidInputError(f"backbone checkpoint {str(candidate)!r} does not exist")
                local = candidate
        use_hub = bool(pretrained) and local is None and pretrained not in ("none", "None")
        arch = name
        if use_hub and isinstance(pretrained, str) and pretrained not in ("true", "True"):
            arch = f"{name.split('.')[0]}.{pretrained}"
        try:
            self.body = timm.create_model(arch, pretrained=use_hub, features_only=True,
                                          out_indices=tuple(out_indices), **timm_kwargs)
        except (OSError, RuntimeError, ConnectionError) as err:  # hub/network failures
            raise InvalidInputError(
                f"could not load pretrained weights for backbone {arch!r}: {err}. No weights are downloaded "
                "offline: pass a local checkpoint path as pretrained=..., or pretrained=None to train from "
                "scratch") from err
        if local is not None:
            self.load_checkpoint(local)
        self.name = name
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())
        cfg = getattr(self.body, "pretrained_cfg", None) or {}
        self.register_buffer("mean", torch.tensor(cfg.get("mean", IMAGENET_MEAN)).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", IMAGENET_STD)).view(1, 3, 1, 1), persistent=False)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load backbone weights from a local file; keys of a full timm model (with a classifier) are accepted."""
        state = _read_state_dict(Path(path))
        own = self.body.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise InvalidInputError(f"checkpoint {str(path)!r} has no weights matching backbone "
                                    f"{type(self.body).__name__} (first keys: {list(state)[:3]})")
        missing = [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
        if missing:
            raise InvalidInputError(f"checkpoint {str(path)!r} lacks {len(missing)} backbone weights, e.g. "
                                    f"{missing[:3]}")
        self.body.load_state_dict(usable, strict=False)


class FrozenBackbone(_NormalisedFeatures):
    """A backbone rebuilt from a ``torch.fx`` layer graph (:func:`freeze_backbone`): the same computation as the
    :class:`Backbone` it was traced from, made of plain ``torch.nn`` layers, so running it imports neither timm nor
    torchvision (seconds of start-up time for a command-line prediction)."""

    def __init__(self, body: nn.Module, channels: list[int], reductions: list[int], mean: Tensor, std: Tensor):
        super().__init__()
        self.body = body
        self.name = "frozen"
        self.channels, self.reductions = list(channels), list(reductions)
        self.register_buffer("mean", mean.reshape(1, 3, 1, 1).float(), persistent=False)
        self.register_buffer("std", std.reshape(1, 3, 1, 1).float(), persistent=False)

    @classmethod
    def from_graph(cls, blob: bytes, state_dict: dict[str, Tensor], source: str = "checkpoint") -> FrozenBackbone:
        """Rebuild from :func:`freeze_backbone` bytes and the body's weights (keys of the traced timm model).
        Unpickling runs code: call it only on files whose hash you checked."""
        import io

        try:
            spec = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)  # trusted: sha256-checked
            body = spec["graph"]
        except Exception as err:
            raise InvalidInputError(f"{source}: the stored backbone graph cannot be read ({err})") from err
        own = set(body.state_dict())
        missing = sorted(own - set(state_dict))
        if missing:
            raise InvalidInputError(f"{source}: no weights for {len(missing)} backbone graph tensors, e.g. "
                                    f"{missing[:3]}")
        body.load_state_dict({k: v for k, v in state_dict.items() if k in own}, assign=True)
        return cls(body.eval(), spec["channels"], spec["reductions"], spec["mean"], spec["std"])


def freeze_backbone(backbone: Backbone) -> bytes | None:
    """The layer graph of ``backbone`` (``torch.fx`` trace of the timm body) pickled without its weights (they stay
    in the model's ``state_dict``), or None where the architecture cannot be traced symbolically."""
    import copy
    import io

    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(backbone.body)
    except Exception:  # noqa: BLE001  data-dependent control flow in some timm models: no frozen graph then
        return None
    graph = copy.deepcopy(graph).to("meta")  # the trace shares layers with the live model: copy before emptying
    buf = io.BytesIO()
    torch.save({"graph": graph, "channels": backbone.channels, "reductions": backbone.reductions,
                "mean": backbone.mean.detach().cpu().flatten(), "std": backbone.std.detach().cpu().flatten()}, buf)
    return buf.getvalue()


def create_backbone(name: str, pretrained: str | bool | None = None, **kwargs) -> Backbone:
    """Shorthand for :class:`Backbone` (kept so model configs can name a backbone with two strings)."""
    return Backbone(name, pretrained=pretrained, **kwargs)
