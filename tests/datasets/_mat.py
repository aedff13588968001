"""Writers of small synthetic MATLAB files in the OSIE and Interiors layouts (for bad-input tests)."""

from __future__ import annotations

import numpy as np
import scipy.io


def row(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(1, -1)


def write_osie(path, images: dict[str, list[dict]]) -> None:
    """``images``: image name -> list of subjects ``{"fix_x": [...], "fix_y": [...], "fix_duration": [...]}``."""
    cells = np.empty(len(images), dtype=object)
    for i, (img, subjects) in enumerate(images.items()):
        subs = np.empty(len(subjects), dtype=object)
        for j, s in enumerate(subjects):
            subs[j] = {k: (row(v) if isinstance(v, list) else v) for k, v in s.items()}
        cells[i] = {"img": img, "subjects": subs.reshape(1, -1)}
    scipy.io.savemat(str(path), {"fixations": cells.reshape(1, -1)})


def interiors_trial(**overrides) -> dict:
    trial = {"subj": "S1", "image_name": "img.jpg", "target_name": "img_template_1.jpg", "trial_order": 1,
             "target_rect": row([101, 201, 173, 273]), "target_found": 1, "search_rt": 1.5, "nsaccades_allowed": 4,
             "x": row([513.0, 150.0]), "y": row([385.0, 240.0]), "t": row([1000, 1300]), "dur": row([290, 400])}
    trial.update(overrides)
    return trial


def write_interiors(path, trials: list[dict]) -> None:
    arr = np.empty((1, len(trials)), dtype=object)
    for i, t in enumerate(trials):
        arr[0, i] = t
    # a 1 x N cell of structs loads like the original struct array (squeezed to N entries)
    scipy.io.savemat(str(path), {"info_per_subj_final": arr})
