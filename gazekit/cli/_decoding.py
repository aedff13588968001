"""Decoding options shared by ``gazekit predict`` and ``gazekit evaluate`` (free-viewing density models such as
``tpp-freeview``; :mod:`gazekit.models.tpp_decoding`). Every default keeps the model's samples as they were."""

from __future__ import annotations

DECODING_FIELDS = ("image_scale", "saliency_beta", "saliency_model", "return_rate", "return_sigma_deg",
                   "pixels_per_degree")


def add_decoding_options(p) -> None:
    """``--image-scale``, ``--saliency-beta``, ``--saliency-model``, ``--return-rate``, ``--return-sigma``,
    ``--pixels-per-degree``."""
    g = p.add_argument_group("decoding (free-viewing TPP models; docs/saliency.md)")
    g.add_argument("--image-scale", type=float, default=None, metavar="A",
                   help="multiply the image terms of the model's cell logits by A (its own image maps and its "
                        "static map, if any: sharpens the image evidence only, not the saccade and history terms; "
                        "default 1: as trained)")
    g.add_argument("--saliency-beta", type=float, default=None, metavar="B",
                   help="weigh each step's density by (s / cb) ** B, s the static map of --saliency-model and cb "
                        "the centre bias (default 0: off)")
    g.add_argument("--saliency-model", default=None, metavar="NAME",
                   help="static density model for --saliency-beta (default saliency-osie)")
    g.add_argument("--return-rate", type=float, nargs="+", default=None, metavar="R",
                   help="probability that fixation k >= 2 returns to a fixation before the last (one value, or "
                        "one per index k = 2, 3, ...; the last repeats; default: off)")
    g.add_argument("--return-sigma", type=float, default=None, metavar="DEG",
                   help="spread of a return around the earlier fixation, degrees per axis (default 0.5)")
    g.add_argument("--pixels-per-degree", type=float, default=None, metavar="PPD",
                   help="pixels per degree of the images, for returns and for the saccade geometry of models in "
                        "degrees such as tpp-freeview (default: the data set's for evaluate, else the longer side "
                        "spans 33.3 degrees, as OSIE)")


def decoding_kwargs(args, scale: float = 1.0) -> dict:
    """The :class:`~gazekit.models.base.PredictRequest` decoding fields that were given (``scale``: working over
    original image size, applied to ``--pixels-per-degree``)."""
    values = {"image_scale": args.image_scale, "saliency_beta": args.saliency_beta,
              "saliency_model": args.saliency_model, "return_rate": args.return_rate,
              "return_sigma_deg": args.return_sigma, "pixels_per_degree": args.pixels_per_degree}
    out = {k: v for k, v in values.items() if v is not None}
    if "pixels_per_degree" in out:
        out["pixels_per_degree"] = out["pixels_per_degree"] * scale
    if out:
        from gazekit.models.tpp_decoding import make_decoding

        make_decoding(**out)  # a bad value fails before any model runs, naming the field
    return out
