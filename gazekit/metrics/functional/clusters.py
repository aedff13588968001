"""The sequence-score cluster protocol: MeanShift regions per image, chosen and frozen once per dataset.

How clusters are built (the protocol of Yang et al. 2020, Scanpath_Prediction issue #24, as HAT and Gazeformer
use it), for each image key (by default dataset + image + task):

1. Pool the (x, y) of every human fixation on that key (pixels, in the coordinate frame the scores use, e.g.
   512 x 320 for COCO-Search18).
2. ``bandwidth = estimate_bandwidth(points)``: the mean over points of the distance to their
   ``max(1, int(0.3 * n))``-th nearest point (the point itself counting as the first), as scikit-learn computes it.
3. For each factor in ``factors`` (search: 0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.8; the older grid 0.25 ... 4.0 is
   ``FACTORS_WIDE``), run flat-kernel MeanShift with bandwidth ``factor * bandwidth`` seeded at every point
   (scikit-learn's defaults: no bin seeding, stop when a mean moves <= 1e-3 x bandwidth, 300 iterations, modes
   sorted by window count and merged when closer than the bandwidth).
4. Score each clustering by ``(N_between - N_within) / N_clusters``: over consecutive fixation pairs of every
   human scanpath, N_between counts pairs in different clusters and N_within pairs in the same one. Keep the
   first factor with the highest score.
5. A fixation's symbol is the index of its nearest cluster centre (first index on ties).

The result is frozen: :meth:`SequenceClusters.save` writes a JSON fixture (centres, bandwidths, factor, point
counts and the settings above) and :meth:`SequenceClusters.load` reads it back, so sequence scores do not depend
on re-clustering, library versions or thread counts. The MeanShift here is gazekit's own vectorised numpy version
of the algorithm (no scikit-learn at run time); it reproduces scikit-learn's centres to ~1e-12 px.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gazekit.errors import DataFormatError, InvalidInputError
from gazekit.scanpaths import Scanpaths

__all__ = [
    "FACTORS_SEARCH",
    "FACTORS_WIDE",
    "ImageClusters",
    "SequenceClusters",
    "estimate_bandwidth",
    "fit_clusters",
    "image_key",
    "mean_shift",
    "nearest_centre",
]

FACTORS_SEARCH = (0.2, 0.5, 0.8, 1.0, 1.2, 1.5, 1.8)
FACTORS_WIDE = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
DEFAULT_KEY = ("dataset", "image", "task")
_FORMAT = "gazekit-sequence-clusters"
FIXTURE_DIR = Path(__file__).resolve().parent.parent / "fixtures"
# Frozen fixtures shipped with gazekit: name -> file in gazekit/metrics/fixtures (how each was built is stored in
# its "description" and "meta" fields).
BUILTIN_CLUSTERS = {
    "coco_search18": "ss_clusters_coco_search18_tp_val1_512x320.json",
}


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt((a[:, None, 0] - b[None, :, 0]) ** 2 + (a[:, None, 1] - b[None, :, 1]) ** 2)


def estimate_bandwidth(points: np.ndarray, quantile: float = 0.3) -> float:
    """Mean distance of each point to its ``max(1, int(quantile * n))``-th nearest point (itself included)."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n == 0:
        raise InvalidInputError("estimate_bandwidth: no points")
    k = max(1, int(n * quantile))
    d = np.sort(_distances(points, points), axis=1)
    return float(d[:, k - 1].mean())


def mean_shift(points: np.ndarray, bandwidth: float, max_iter: int = 300) -> np.ndarray:
    """Flat-kernel MeanShift seeded at every point; returns the cluster centres ``[K, 2]`` (strongest first).

    All seeds climb together: one ``[seeds, points]`` distance matrix per iteration.
    """
    x = np.asarray(points, dtype=np.float64)
    if len(x) == 0:
        raise InvalidInputError("mean_shift: no points")
    stop = 1e-3 * bandwidth
    means = x.copy()
    final = np.zeros_like(means)
    counts = np.zeros(len(x), dtype=np.int64)
    active = np.arange(len(x))
    for it in range(max_iter + 1):
        within = _distances(means[active], x) <= bandwidth
        n_in = within.sum(axis=1)
        new = (within[:, :, None] * x[None]).sum(axis=1) / np.maximum(n_in, 1)[:, None]
        done = (np.sqrt(((new - means[active]) ** 2).sum(axis=1)) <= stop) | (it == max_iter) | (n_in == 0)
        new = np.where((n_in == 0)[:, None], means[active], new)
        finished = active[done]
        final[finished], counts[finished] = new[done], n_in[done]
        means[active] = new
        active = active[~done]
        if not len(active):
            break
    keep = counts > 0
    modes = {}
    for centre, count in zip(map(tuple, final[keep]), counts[keep]):
        modes[centre] = int(count)
    ordered = sorted(modes.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    centres = np.array([c for c, _ in ordered], dtype=np.float64)
    unique = np.ones(len(centres), dtype=bool)
    close = _distances(centres, centres) <= bandwidth
    for i in range(len(centres)):
        if unique[i]:
            unique[close[i]] = False
            unique[i] = True
    return centres[unique]


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre of each point (first index on ties)."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.argmin(_distances(np.asarray(points, np.float64), centres), axis=1)


def _rate(centres: np.ndarray, scanpaths: Sequence[np.ndarray]) -> float:
    n_between = n_within = 0
    for sp in scanpaths:
        s = nearest_centre(sp, centres)
        same = int((s[1:] == s[:-1]).sum())
        n_within += same
        n_between += max(len(s) - 1, 0) - same
    return (n_between - n_within) / len(centres)


@dataclass
class ImageClusters:
    """Frozen clusters of one image key: centres ``[K, 2]`` px and how they were chosen."""

    centres: np.ndarray
    bandwidth: float  # the bandwidth used (factor x estimated)
    factor: float
    n_points: int

    def symbols(self, xy: np.ndarray) -> np.ndarray:
        """The index of the nearest cluster centre for each ``[N, 2]`` point."""
        return nearest_centre(xy, self.centres)


def fit_image_clusters(scanpaths: Sequence[np.ndarray], factors: Sequence[float] = FACTORS_SEARCH) -> ImageClusters:
    """Clusters for one image key from its human scanpaths (each ``[n, 2]`` pixels); see the module docstring."""
    scanpaths = [np.asarray(sp, np.float64).reshape(-1, 2) for sp in scanpaths]
    points = np.concatenate(scanpaths) if scanpaths else np.zeros((0, 2))
    if len(points) == 0:
        raise InvalidInputError("fit_image_clusters: the human scanpaths of this image have no fixations")
    base = estimate_bandwidth(points)
    best = None
    for factor in factors:
        centres = mean_shift(points, base * factor)
        rate = _rate(centres, scanpaths)
        if best is None or rate > best[0]:
            best = (rate, factor, centres)
    _, factor, centres = best
    return ImageClusters(centres, float(base * factor), float(factor), len(points))


_STRING_FIELDS = ("dataset", "image", "subject", "trial", "task", "condition")


def image_key(sp: Scanpaths, i: int, key: Sequence[str] = DEFAULT_KEY) -> str:
    """The ``|``-joined values of the ``key`` fields of scanpath ``i`` (e.g. ``"coco_search18|0001.jpg|bottle"``)."""
    parts = []
    for k in key:
        if k in _STRING_FIELDS:
            parts.append(getattr(sp, k)[i])
        elif k in sp.scanpath_attrs:
            parts.append(sp.scanpath_attrs[k][i])
        else:
            raise InvalidInputError(f"image key field {k!r} is neither one of {_STRING_FIELDS} nor a scanpath "
                                    f"attribute (have {sorted(sp.scanpath_attrs)})")
    return "|".join(parts)


@dataclass
class SequenceClusters:
    """Frozen per-image clusters of a dataset (see the module docstring); keys are ``image_key`` strings."""

    clusters: dict[str, ImageClusters]
    key: tuple[str, ...] = DEFAULT_KEY
    factors: tuple[float, ...] = FACTORS_SEARCH
    description: str = ""
    meta: dict = field(default_factory=dict)

    def __getitem__(self, k: str) -> ImageClusters:
        if k not in self.clusters:
            raise InvalidInputError(f"no sequence-score clusters for image key {k!r} (key fields {self.key}); "
                                    f"the fixture has {len(self.clusters)} keys, e.g. {sorted(self.clusters)[:3]}")
        return self.clusters[k]

    def __contains__(self, k: str) -> bool:
        return k in self.clusters

    def __len__(self) -> int:
        return len(self.clusters)

    def to_dict(self) -> dict:
        """The JSON document :meth:`save` writes: format, key, factors, the protocol and every image key's clusters."""
        return {"format": _FORMAT, "version": 1, "key": list(self.key), "factors": list(self.factors),
                "description": self.description, "meta": self.meta,
                "protocol": "MeanShift per image key; bandwidth = estimate_bandwidth(quantile=0.3) x factor "
                            "maximising (N_between - N_within) / N_clusters; symbol = nearest centre",
                "clusters": {k: {"centres": c.centres.tolist(), "bandwidth": c.bandwidth, "factor": c.factor,
                                 "n_points": c.n_points} for k, c in sorted(self.clusters.items())}}

    def save(self, path: str | Path) -> Path:
        """Write the clusters as lossless JSON (atomically); returns the path."""
        from gazekit._atomic import write_text

        return write_text(path, json.dumps(self.to_dict()))  # shortest round-trip floats: lossless

    @classmethod
    def builtin(cls, name: str) -> SequenceClusters:
        """A frozen fixture shipped with gazekit (``BUILTIN_CLUSTERS``), e.g. ``"coco_search18"`` (TP validation
        split 1, 512 x 320)."""
        if name not in BUILTIN_CLUSTERS:
            from gazekit.errors import UnknownNameError

            raise UnknownNameError("sequence-score cluster fixture", name, list(BUILTIN_CLUSTERS))
        return cls.load(FIXTURE_DIR / BUILTIN_CLUSTERS[name])

    @classmethod
    def load(cls, path: str | Path) -> SequenceClusters:
        """Read clusters written by :meth:`save` (a ``DataFormatError`` names the file for anything else)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise DataFormatError(f"cannot read sequence clusters: {err}", file=path) from err
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise DataFormatError(f"not a {_FORMAT} file", file=path, field="format")
        out = {}
        for k, c in doc.get("clusters", {}).items():
            try:
                centres = np.asarray(c["centres"], dtype=np.float64).reshape(-1, 2)
                out[k] = ImageClusters(centres, float(c["bandwidth"]), float(c["factor"]), int(c["n_points"]))
            except (KeyError, TypeError, ValueError) as err:
                raise DataFormatError(f"bad cluster entry: {err}", file=path, record=k, field="clusters") from err
        return cls(out, tuple(doc.get("key", DEFAULT_KEY)), tuple(doc.get("factors", FACTORS_SEARCH)),
                   doc.get("description", ""), doc.get("meta", {}))


def fit_clusters(human: Scanpaths, *, key: Sequence[str] = DEFAULT_KEY, factors: Sequence[float] = FACTORS_SEARCH,
                 description: str = "", progress: bool = False) -> SequenceClusters:
    """Build the frozen clusters of a dataset from its human scanpaths (grouped by ``key``).

    Args:
        human: all human scanpaths, in the pixel frame used for scoring.
        key: scanpath attributes that identify an image (default dataset, image, task).
        factors: bandwidth factors to choose from (``FACTORS_SEARCH`` or ``FACTORS_WIDE``).
        description: free text stored in the fixture (e.g. which split and resolution).
        progress: show a rich progress bar.
    """
    groups: dict[str, list[np.ndarray]] = {}
    for i in range(len(human)):
        n = int(human.lengths[i])
        if n:
            xy = np.stack([human.x[i, :n].numpy(), human.y[i, :n].numpy()], axis=1).astype(np.float64)
            if not np.isfinite(xy).all():
                raise InvalidInputError(f"fit_clusters: human scanpath {i} has a non-finite coordinate")
            groups.setdefault(image_key(human, i, key), []).append(xy)
    items = sorted(groups.items())
    clusters = {}
    if progress:
        from rich.progress import track

        items = track(items, description="clustering fixations per image")
    for k, sps in items:
        clusters[k] = fit_image_clusters(sps, factors)
    return SequenceClusters(clusters, tuple(key), tuple(float(f) for f in factors), description,
                            {"n_scanpaths": len(human)})
