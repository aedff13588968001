"""Screen geometry: pixels <-> degrees of visual angle.

Units: sizes in pixels and centimetres, distances in centimetres, angles in degrees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gazekit.errors import InvalidInputError

__all__ = ["ScreenGeometry"]


@dataclass(frozen=True)
class ScreenGeometry:
    """A display as the observer saw it.

    Args:
        width_px, height_px: screen resolution in pixels.
        width_cm, height_cm: physical size of the visible screen area in centimetres.
        distance_cm: eye-to-screen distance in centimetres.
        origin: where pixel (0, 0) is; gazekit uses ``"top-left"`` (x right, y down) everywhere.
    """

    width_px: float
    height_px: float
    width_cm: float
    height_cm: float
    distance_cm: float

    def __post_init__(self):
        for name in ("width_px", "height_px", "width_cm", "height_cm", "distance_cm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InvalidInputError(f"ScreenGeometry.{name} must be a positive finite number, got {value!r}")

    @property
    def cm_per_px(self) -> tuple[float, float]:
        """Size of one pixel in cm, ``(horizontal, vertical)``."""
        return self.width_cm / self.width_px, self.height_cm / self.height_px

    @property
    def pixels_per_degree(self) -> float:
        """Pixels per degree at the screen centre (mean of the horizontal and vertical values)."""
        ppd_x = self.width_px / (2 * math.degrees(math.atan(self.width_cm / 2 / self.distance_cm)))
        ppd_y = self.height_px / (2 * math.degrees(math.atan(self.height_cm / 2 / self.distance_cm)))
        return 0.5 * (ppd_x + ppd_y)

    def px_to_deg(self, x_px, y_px):
        """Pixel coordinates (origin top-left) -> degrees of visual angle from the screen centre.

        Exact (arctangent) conversion, not the small-angle approximation, so it holds at the screen edges.
        """
        cx, cy = self.cm_per_px
        x_cm = (np.asarray(x_px, dtype=np.float64) - self.width_px / 2) * cx
        y_cm = (np.asarray(y_px, dtype=np.float64) - self.height_px / 2) * cy
        return np.degrees(np.arctan2(x_cm, self.distance_cm)), np.degrees(np.arctan2(y_cm, self.distance_cm))

    def deg_to_px(self, x_deg, y_deg):
        """Inverse of :meth:`px_to_deg`."""
        cx, cy = self.cm_per_px
        x_cm = np.tan(np.radians(np.asarray(x_deg, dtype=np.float64))) * self.distance_cm
        y_cm = np.tan(np.radians(np.asarray(y_deg, dtype=np.float64))) * self.distance_cm
        return x_cm / cx + self.width_px / 2, y_cm / cy + self.height_px / 2

    def to_dict(self) -> dict:
        """The five fields as a dict (pixels, centimetres, viewing distance)."""
        return {k: getattr(self, k) for k in ("width_px", "height_px", "width_cm", "height_cm", "distance_cm")}
