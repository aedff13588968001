"""Model registry: ``@register_model(name, predicts=..., inputs=..., weights=...)`` on a factory function.

The registry owns the weights: each model names its shipped weight files (:class:`WeightSpec`: tag, file,
sha256, optional fast inference-only loader) and the checkpoint ``format`` values it reads. One verb loads any
gazekit checkpoint (:func:`load_checkpoint`, which picks the family from the file's ``format`` field) and one
saves it (``model.save_checkpoint(path)``). ``pretrained=`` means whole-model weights for every model; backbone
weights are ``backbone_pretrained=`` where a model has a backbone.

This module imports no torch: listing models (``gazekit models``) reads :data:`gazekit.models._catalog.CATALOG`,
a generated copy of the listing metadata that a test checks against the live registry.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from gazekit._registry import Registry

MODELS = Registry("model", "gazekit.models")
LISTING_KEYS = ("predicts", "inputs", "weights", "description", "module")


@dataclass(frozen=True)
class WeightSpec:
    """A weight file shipped in ``gazekit/weights``.

    tag: the name ``pretrained=`` accepts (``"osie"``). file: the file name. sha256: of its bytes, checked on
    every load. fast: ``"module:function"``, an inference-only loader ``fn(path, sha256) -> model`` that gives
    the same predictions as the full model but starts faster (imports no training framework), or None.
    """

    tag: str
    file: str
    sha256: str
    fast: str | None = None

    @property
    def path(self) -> Path:
        """The file under ``gazekit/weights``."""
        from gazekit.paths import WEIGHTS_DIR

        return WEIGHTS_DIR / self.file


def register_model(name: str, *, predicts: tuple[str, ...], inputs: tuple[str, ...],
                   weights: tuple[WeightSpec, ...] = (), default_weights: str | None = None,
                   formats: tuple[str, ...] = (), description: str = ""):
    """Register a model factory ``fn(checkpoint=None, **kwargs) -> model``.

    ``checkpoint`` is None (build from ``kwargs``: random init, or no weights at all) or the dict read from a
    weight file (:func:`create_model` reads and checks the file and passes it on).

    Args:
        predicts: what the model outputs, from ``("positions", "durations", "stop", "density")``.
        inputs: what it needs, from ``("image", "target_text", "target_template", "target_box", "boxes")``.
        weights: the shipped weight files (tags accepted by ``pretrained=``).
        default_weights: the tag loaded when ``pretrained`` is not given (None: no weights by default).
        formats: checkpoint ``format`` values (and Lightning class paths) this model reads; :func:`load_checkpoint`
            sends a file of one of these formats to this model.
    """
    specs = tuple(weights)
    for spec in specs:
        if not isinstance(spec, WeightSpec):
            raise TypeError(f"model {name!r}: weights must be WeightSpec entries, got {spec!r}")
    if default_weights is not None and default_weights not in {s.tag for s in specs}:
        raise ValueError(f"model {name!r}: default weights {default_weights!r} are not among its weights")

    def deco(fn):
        return MODELS.register(name, predicts=tuple(predicts), inputs=tuple(inputs), weights=specs,
                               default_weights=default_weights, formats=tuple(formats), description=description,
                               module=fn.__module__)(fn)

    return deco


def list_models(pattern: str = "*") -> list[str]:
    """Names of the registered models matching the wildcard ``pattern`` (imports every model module)."""
    return MODELS.names(pattern)


def model_info(name: str) -> dict:
    """The listing metadata of a registered model (what ``gazekit models`` shows): predicts, inputs, weight tags,
    description and the defining module."""
    info = MODELS.get(name).info
    return {"predicts": info["predicts"], "inputs": info["inputs"], "weights": tuple(s.tag for s in info["weights"]),
            "description": info["description"], "module": info["module"]}


def catalog(pattern: str = "*") -> list[dict]:
    """Listing rows ``{"name", "predicts", "inputs", "weights", "description", "module"}`` of the models matching
    ``pattern``, read from the generated catalog: imports no model module and no torch."""
    from gazekit.models._catalog import CATALOG

    return [{"name": name, **{k: CATALOG[name][k] for k in LISTING_KEYS}}
            for name in sorted(CATALOG) if fnmatch.fnmatch(name, pattern)]


def render_catalog() -> str:
    """The source of ``gazekit/models/_catalog.py`` for the live registry (imports every model module)."""
    lines = ['"""Listing metadata of every registered model, generated from the registry so that `gazekit models`',
             "needs no torch. Do not edit: regenerate with",
             "``python -c \"from gazekit.models.registry import write_catalog; write_catalog()\"``",
             '(tests/models/test_registry.py checks it against the registry)."""', "", "CATALOG = {"]
    for name in list_models():
        lines.append(f"    {name!r}: {{")
        info = MODELS.get(name).info
        specs = tuple((w.tag, w.file, w.sha256, w.fast) for w in info["weights"])
        for key, value in {**model_info(name), "default_weights": info["default_weights"],
                           "weight_specs": specs}.items():
            text = repr(tuple(value) if isinstance(value, list) else value)
            if key == "weight_specs" and value:
                lines.append(f"        {key!r}: (")
                for w in value:
                    lines += [f"            ({w[0]!r}, {w[1]!r},", f"             {w[2]!r},", f"             {w[3]!r}),"]
                lines.append("        ),")
                continue
            while len(text) > 100 and isinstance(value, str):  # keep lines short: split long strings
                cut = text.rfind(" ", 0, 90) + 1
                lines.append(f"        {key!r}: {text[:cut]}{text[0]}" if key else f"            {text[:cut]}{text[0]}")
                text, key = text[0] + text[cut:], None
            lines.append(f"        {key!r}: {text}," if key else f"            {text},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_catalog() -> Path:
    """Regenerate ``gazekit/models/_catalog.py`` from the live registry; returns its path."""
    from gazekit._atomic import write_text

    return write_text(Path(__file__).with_name("_catalog.py"), render_catalog())


def catalog_weight_spec(name: str, tag: str | None = None) -> WeightSpec | None:
    """The weights ``tag`` (default: the model's default weights) of model ``name`` from the generated catalog
    (no model module imported), or None."""
    from gazekit.models._catalog import CATALOG

    entry = CATALOG.get(name)
    tag = entry.get("default_weights") if entry is not None and tag is None else tag
    if entry is None or tag is None:
        return None
    return next((WeightSpec(*w) for w in entry["weight_specs"] if w[0] == tag), None)


def all_weight_specs() -> list[WeightSpec]:
    """Every shipped weight file of every registered model."""
    return [s for name in list_models() for s in MODELS.get(name).info["weights"]]


def weight_spec(name: str, tag: str) -> WeightSpec | None:
    """The shipped weights ``tag`` of model ``name``, or None."""
    return next((s for s in MODELS.get(name).info["weights"] if s.tag == tag), None)


def checkpoint_format(state: dict) -> str | None:
    """The family key of a checkpoint dict: its ``format`` field, else the Lightning class path of its
    hyper-parameters (``LightningCLI`` records it), else None."""
    fmt = state.get("format")
    if fmt is None and isinstance(state.get("hyper_parameters"), dict):
        fmt = state["hyper_parameters"].get("_class_path")
    return fmt


def _read(name: str, pretrained, trust) -> tuple[dict, str]:
    from gazekit.errors import InvalidInputError
    from gazekit.models._checkpoint import read_checkpoint

    spec = weight_spec(name, str(pretrained)) if isinstance(pretrained, str) else None
    if spec is not None:
        if not spec.path.is_file():
            raise InvalidInputError(f"shipped weights {str(spec.path)!r} ({name}:{spec.tag}) are missing from this "
                                    "installation")
        return read_checkpoint(spec.path, sha256=spec.sha256)[0], str(spec.path)
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        tags = [s.tag for s in MODELS.get(name).info["weights"]]
        raise InvalidInputError(f"model {name!r}: pretrained={str(pretrained)!r} is neither a shipped weight tag "
                                f"({', '.join(tags) or 'none'}) nor an existing file")
    return read_checkpoint(path, trust=trust)[0], str(path)


def _build(name: str, state: dict, source: str, kwargs: dict):
    from gazekit.errors import InvalidInputError

    fmt, accepted = checkpoint_format(state), MODELS.get(name).info["formats"]
    if fmt is not None and fmt not in accepted:
        raise InvalidInputError(f"{source!r} is a {fmt!r} checkpoint; model {name!r} reads "
                                f"{', '.join(accepted) or 'no checkpoints'}")
    try:
        return MODELS.get(name).obj(checkpoint=state, **kwargs)
    except RuntimeError as err:  # load_state_dict: missing, unexpected or mis-shaped tensors
        if "state_dict" not in str(err):
            raise
        raise InvalidInputError(f"{source!r}: its weights do not fit model {name!r} "
                                f"({str(err).splitlines()[-1].strip()[:300]})") from err


def create_model(name: str, pretrained: str | bool | None = None, *, trust: str | None = None, **kwargs):
    """Build a registered model.

    Args:
        pretrained: whole-model weights: a shipped tag, a checkpoint path (a file written by
            ``model.save_checkpoint`` or a Lightning ``.ckpt`` of that model), None (the model's default weights,
            if it has any) or False (no weights: random init / unfitted).
        trust: the sha256 (64 hex digits) of a checkpoint file you reviewed: allows loading exactly those bytes
            when the weights-only reader refuses the file; a file with another sha256 is refused (see
            docs/security.md). ``sha256sum FILE`` prints it.
        kwargs: model options (``None`` values are dropped, so configs can leave options unset); with weights
            they override the stored hyper-parameters where the family allows it (e.g. ``max_fixations``).
    """
    from gazekit.models._checkpoint import check_trust

    check_trust(trust)  # a bare True is refused even where no file is read
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    entry = MODELS.get(name)
    if pretrained is None:
        pretrained = entry.info["default_weights"]
    if pretrained is None or pretrained is False:
        return entry.obj(checkpoint=None, **kwargs)
    state, source = _read(name, pretrained, trust)
    return _build(name, state, source, kwargs)


def load_checkpoint(path: str | Path, *, trust: str | None = None, **overrides):
    """Load any gazekit checkpoint: the file's ``format`` field (or a Lightning checkpoint's class path) picks the
    registered model that reads it. ``trust``: see :func:`create_model`. Returns the model in eval mode."""
    from gazekit.errors import InvalidInputError
    from gazekit.models._checkpoint import read_checkpoint

    state, _ = read_checkpoint(path, trust=trust)
    fmt = checkpoint_format(state)
    owners = [n for n in list_models() if fmt is not None and fmt in MODELS.get(n).info["formats"]]
    if not owners:
        known = sorted({f for n in list_models() for f in MODELS.get(n).info["formats"]})
        what = f"format {fmt!r}" if fmt is not None else "no 'format' field and no Lightning class path"
        raise InvalidInputError(f"{str(path)!r} is not a gazekit checkpoint ({what}; known formats: "
                                f"{', '.join(known)}). A checkpoint of a known model loads with "
                                "create_model(NAME, pretrained=PATH)")
    return _build(owners[0], state, str(path), {k: v for k, v in overrides.items() if v is not None}).eval()


def _fast(spec: WeightSpec):
    import importlib

    module, func = spec.fast.split(":")
    return getattr(importlib.import_module(module), func)(spec.path, spec.sha256).eval()


def load_predictor(spec: str, *, trust: str | None = None):
    """A model for inference (eval mode) from a spec: a registered name, ``NAME:WEIGHTS`` (a weight tag or a
    checkpoint path for that model), or a path to any gazekit checkpoint (:func:`load_checkpoint`).

    Same predictions as ``create_model(name)``; shipped weights with a fast inference-only loader
    (:attr:`WeightSpec.fast`) use it, so that no training framework is imported. ``trust``: see
    :func:`create_model` (several hashes may be given, for callers that load several files).
    """
    from gazekit.models._checkpoint import check_trust

    check_trust(trust)
    name, weights = (spec.split(":", 1) + [None])[:2]
    fast = catalog_weight_spec(name, weights)
    if fast is not None and fast.fast:
        return _fast(fast)  # without importing the model modules (and their training framework)
    known = list_models()
    if spec in known:
        name, weights = spec, None
    if name in known:
        tag = weights if weights is not None else MODELS.get(name).info["default_weights"]
        ws = weight_spec(name, tag) if tag is not None else None
        if ws is not None and ws.fast:
            return _fast(ws)
        return create_model(name, pretrained=weights, trust=trust).eval()
    if Path(spec).expanduser().is_file():
        return load_checkpoint(Path(spec).expanduser(), trust=trust)
    from gazekit.errors import UnknownNameError

    raise UnknownNameError("model", spec, known)
