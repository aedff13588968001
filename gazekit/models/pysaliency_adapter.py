"""Any gazekit model with a conditional density as a pysaliency scanpath model, so that pysaliency's own metrics
(log-likelihoods, information gains, ...) score it.

    from gazekit.models.pysaliency_adapter import as_pysaliency_model
    trains, stimuli = scanpaths.to_pysaliency(dataset.images)
    ll = as_pysaliency_model(create_model("tpp-osie", pretrained=True)).log_likelihoods(stimuli, trains)

The adapter answers ``conditional_log_density(stimulus, x_hist, y_hist, t_hist, attributes)``: the gazekit model's
log density (natural log, per pixel, ``H x W`` of the stimulus) of the next fixation given the history. Fixation
durations reach the model from the ``duration_hist`` attribute that :meth:`Scanpaths.to_pysaliency` writes (NaN
where a train has none). pysaliency is optional: it is imported when the adapter is made.
"""

from __future__ import annotations

import math

import numpy as np

from gazekit.errors import InvalidInputError


def as_pysaliency_model(model):
    """Wrap a gazekit model that has ``conditional_log_density(images, history)`` as a ``pysaliency.ScanpathModel``."""
    import pysaliency

    from gazekit.models.base import ConditionalDensityModel

    if not isinstance(model, ConditionalDensityModel):
        raise InvalidInputError(f"{type(model).__name__} has no conditional_log_density: only models with a "
                                "density can be scored by pysaliency")

    class GazekitScanpathModel(pysaliency.ScanpathModel):
        """A gazekit model seen by pysaliency (see :mod:`gazekit.models.pysaliency_adapter`)."""

        def __init__(self):
            super().__init__()
            self.model = model
            self._image = (None, None)  # (id of the last stimulus array, its tensor)

        def _tensor(self, stimulus):
            import torch

            if self._image[0] is not stimulus:
                arr = np.asarray(getattr(stimulus, "stimulus_data", stimulus))  # a pysaliency Stimulus or an array
                if arr.ndim == 2:
                    arr = np.repeat(arr[:, :, None], 3, axis=2)
                scale = 255.0 if arr.dtype == np.uint8 else 1.0
                self._image = (stimulus, torch.from_numpy(arr[:, :, :3].astype(np.float32) / scale).permute(2, 0, 1))
            return self._image[1]

        def conditional_log_density(self, stimulus, x_hist, y_hist, t_hist, attributes=None, out=None):
            import torch

            from gazekit.scanpaths import Scanpaths

            image = self._tensor(stimulus)
            h, w = image.shape[-2:]
            n = len(x_hist)
            durations = list((attributes or {}).get("duration_hist", [math.nan] * n))[:n]
            durations += [math.nan] * (n - len(durations))
            onsets = list(map(float, t_hist))[:n]  # pysaliency strips trailing NaNs: absent onsets come back empty
            onsets += [math.nan] * (n - len(onsets))
            # the history plus one placeholder fixation: the model's map for step n is the density of fixation n
            history = Scanpaths.from_sequences(
                [list(map(float, x_hist)) + [w / 2]], [list(map(float, y_hist)) + [h / 2]],
                [onsets + [math.nan]], [[float(d) for d in durations] + [math.nan]],
                image_size=[float(w), float(h)])
            with torch.no_grad():
                maps = self.model.conditional_log_density(image[None], history)
            step = min(n, maps.shape[1] - 1)  # history-free models return one map
            result = maps[0, step].double().cpu().numpy()
            if out is not None:
                out[...] = result
                return out
            return result

    return GazekitScanpathModel()
