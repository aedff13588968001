"""Charts of results: target-fixation-probability curves, duration histograms, metric bars with the human ceiling.

Every function takes plain numbers (dicts of arrays), draws with matplotlib's Agg backend and writes a PNG;
none of them knows a model or a dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gazekit._atomic import atomic_path
from gazekit.errors import InvalidInputError


def _figure(figsize=(6.4, 4.2)):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, dpi=120)


def _save(fig, out: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(out)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return out


def plot_tfp_curves(curves: Mapping[str, Sequence[float]], out: str | Path, *, title: str = "Target-fixation "
                    "probability", human_key: str = "human") -> Path:
    """Cumulative probability of having fixated the target by fixation k, one line per source.

    Args:
        curves: name -> TFP values for k = 0, 1, ... (fractions in [0, 1]). The ``human_key`` line is drawn black.
        out: PNG path.
    """
    if not curves:
        raise InvalidInputError("plot_tfp_curves needs at least one curve")
    fig, ax = _figure()
    for name, values in curves.items():
        v = np.asarray(values, dtype=float)
        if v.ndim != 1 or ((v < 0) | (v > 1)).any():
            raise InvalidInputError(f"TFP curve {name!r} must be a 1-D sequence of fractions in [0, 1]")
        style = dict(color="black", lw=2.5) if name == human_key else dict(lw=1.6)
        ax.plot(np.arange(len(v)), v, marker="o", ms=3, label=name, **style)
    ax.set_xlabel("fixation number k")
    ax.set_ylabel("P(target fixated by k)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, out)


def plot_duration_histograms(durations: Mapping[str, Sequence[float]], out: str | Path, *, bins: int = 40,
                             max_ms: float | None = None, title: str = "Fixation durations") -> Path:
    """Overlaid normalised histograms of fixation durations (milliseconds), one per source, on a log-time axis."""
    clean = {}
    for name, values in durations.items():
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            clean[name] = v
    if not clean:
        raise InvalidInputError("plot_duration_histograms needs at least one source with positive durations")
    hi = max_ms or max(np.percentile(v, 99.5) for v in clean.values())
    lo = max(1.0, min(np.percentile(v, 0.5) for v in clean.values()))
    edges = np.geomspace(lo, hi, bins + 1)
    fig, ax = _figure()
    for name, v in clean.items():
        ax.hist(v, bins=edges, density=True, histtype="step", lw=1.8,
                label=f"{name} (n={v.size}, median {np.median(v):.0f} ms)")
    ax.set_xscale("log")
    ax.set_xlabel("duration (ms)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, out)


def metric_panels(scores: Mapping[str, Mapping[str, float]], ceiling: Mapping[str, float] | None = None,
                  higher_is_better: Mapping[str, bool] | None = None) -> list[tuple[str, list[str]]]:
    """How :func:`plot_metric_bars` groups metrics onto axes: the higher-is-better metrics whose values (models and
    ceiling) all lie in [0, 1] share one axis; every lower-is-better or unbounded metric gets its own, so that a
    0-1 similarity is never drawn against an edit distance of 8. Returns ``[(axis title, [metric, ...]), ...]``."""
    metrics = list(dict.fromkeys(m for s in scores.values() for m in s))
    higher = higher_is_better or {}
    shared, own = [], []
    for m in metrics:
        values = [v for s in scores.values() for v in [s.get(m)] if v is not None and np.isfinite(v)]
        if ceiling and m in ceiling and ceiling[m] is not None and np.isfinite(ceiling[m]):
            values.append(ceiling[m])
        bounded = all(0.0 <= v <= 1.0 for v in values)
        if higher.get(m, True) and bounded:
            shared.append(m)
        else:
            own.append((f"{m} ({'higher' if higher.get(m, True) else 'lower'} is better)", [m]))
    return ([("higher is better, 0-1", shared)] if shared else []) + own


def plot_metric_bars(scores: Mapping[str, Mapping[str, float]], out: str | Path, *,
                     ceiling: Mapping[str, float] | None = None, title: str = "Scores vs humans",
                     higher_is_better: Mapping[str, bool] | None = None) -> Path:
    """Grouped bars: one group per metric, one bar per model; the human ceiling as a dashed line per group.
    Lower-is-better and unbounded metrics are drawn on their own axes (see :func:`metric_panels`).

    Args:
        scores: model name -> {metric name -> value}.
        ceiling: metric name -> human (leave-one-subject-out) value.
        higher_is_better: metric name -> direction (default: higher is better).
    """
    if not scores:
        raise InvalidInputError("plot_metric_bars needs at least one model")
    panels = metric_panels(scores, ceiling, higher_is_better)
    models = list(scores)
    width = 0.8 / len(models)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sizes = [max(len(ms), 1) for _, ms in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.4, 1.2 * sum(sizes) + 1.6 * len(panels)), 4.2), dpi=120,
                             gridspec_kw={"width_ratios": sizes}, squeeze=False)
    labelled = False
    for ax, (panel_title, metrics) in zip(axes[0], panels):
        x = np.arange(len(metrics))
        for i, model in enumerate(models):
            vals = [scores[model].get(m, np.nan) for m in metrics]
            ax.bar(x - 0.4 + width * (i + 0.5), vals, width, label=model if ax is axes[0][0] else None,
                   color=f"C{i}")
        for j, m in enumerate(metrics):
            if ceiling and m in ceiling and ceiling[m] is not None and np.isfinite(ceiling[m]):
                ax.hlines(ceiling[m], j - 0.45, j + 0.45, colors="black", linestyles="--",
                          label=None if labelled else "human ceiling")
                labelled = True
        ax.set_xticks(x, metrics, rotation=30, ha="right")
        ax.set_title(panel_title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    return _save(fig, out)
