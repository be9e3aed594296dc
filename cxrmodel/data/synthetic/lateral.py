"""A geometric model of a lateral chest radiograph, for measuring the view check (no real lateral film is held here).

The project holds no real lateral film (the demo studies are frontal phantoms, the 1,000 NIH ChestX-ray14
films of ``shared/data`` are frontal PA/AP), so :mod:`cxrmodel.imaging.view` is measured on laterals drawn
from this model. It is written from the anatomy of a lateral (left-to-right) chest film, independently of the
frontal phantom generator (:mod:`cxrmodel.data.synthetic.phantom`), and with randomised proportions,
position, facing, exposure, blur and noise:

* the trunk in side view: the anterior chest wall on one side, the back on the other, soft tissue between;
* **one** large dark lung field (both lungs superimposed) from the apex to the diaphragm, its posterior
  costophrenic recess lower than the anterior one;
* the heart as a rounded opacity in the anterior lower lung field, the retrosternal clear space above it;
* the thoracic spine as a column of bright vertebral bodies along the **back** of the lung field (slight
  kyphosis), the sternum as a thin bright line along the front;
* the trachea as a dark band descending to the hilum, the raised arms as soft tissue over the upper front
  in some films, the abdomen below the diaphragm.

It is a construction, not a collected film: a real lateral may differ in ways this model does not capture
(the view check's limits are measured on these images only). Output polarity is the radiograph's (air
black, bone bright), ``(height, width)`` float64 in ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _smoothstep_inside(distance: np.ndarray, softness: float) -> np.ndarray:
    """1 inside (distance < 0), 0 outside, a soft edge ``softness`` pixels wide."""
    return 1.0 / (1.0 + np.exp(np.clip(distance / max(softness, 1e-6), -50.0, 50.0)))


def lateral_chest(width: int = 480, height: int = 512, seed: int = 0) -> np.ndarray:
    """One lateral chest film drawn from the geometric model (see the module docstring).

    Args:
        width: Image width in pixels (>= 64).
        height: Image height in pixels (>= 64).
        seed: Seed of the random proportions, facing, exposure and noise.

    Returns:
        ``(height, width)`` float64 in ``[0, 1]``.
    """
    if width < 64 or height < 64:
        raise ValueError(f"a lateral film needs at least 64 x 64 pixels, got {width} x {height}")
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float64)
    y = rows / height  # 0 top .. 1 bottom
    # Work in a "facing left" frame (front of the chest at small x); mirror at the end half of the time.
    x = columns / width

    front = rng.uniform(0.04, 0.20)  # anterior skin line at mid height
    back = rng.uniform(0.80, 0.97)  # posterior skin line
    bulge = rng.uniform(0.02, 0.06)  # the chest wall is convex forwards
    anterior_skin = front - bulge * np.sin(np.pi * np.clip(y, 0, 1))
    posterior_skin = back + 0.03 * np.sin(np.pi * np.clip(y, 0, 1))
    trunk = _smoothstep_inside(np.maximum(anterior_skin - x, x - posterior_skin) * width, 2.0)

    depth = posterior_skin - anterior_skin
    sternum_x = anterior_skin + rng.uniform(0.05, 0.08) * depth
    spine_front = posterior_skin - rng.uniform(0.28, 0.34) * depth + 0.04 * np.sin(np.pi * y)  # kyphosis
    spine_back = spine_front + rng.uniform(0.10, 0.14) * depth

    apex = rng.uniform(0.06, 0.14)
    anterior_recess = rng.uniform(0.58, 0.66)
    posterior_recess = anterior_recess + rng.uniform(0.08, 0.15)
    # The diaphragm runs from the anterior to the posterior recess, domed upwards in the middle.
    fraction = np.clip((x - sternum_x) / np.maximum(spine_front - sternum_x, 1e-3), 0.0, 1.0)
    diaphragm = anterior_recess + (posterior_recess - anterior_recess) * fraction - 0.05 * np.sin(np.pi * fraction)
    lung_front = sternum_x + 0.015
    lung_back = spine_front + 0.35 * (spine_back - spine_front)  # the posterior lung wraps beside the spine
    apex_curve = apex + 0.35 * ((x - (lung_front + lung_back) / 2) / np.maximum(lung_back - lung_front, 1e-3)) ** 2
    lung = _smoothstep_inside(
        np.maximum.reduce([lung_front - x, x - lung_back, apex_curve - y, y - diaphragm]) * width, 3.0
    )

    heart_x = sternum_x + rng.uniform(0.14, 0.22) * depth
    heart_rx, heart_ry = rng.uniform(0.16, 0.22) * depth, rng.uniform(0.12, 0.17)
    heart_y = anterior_recess - rng.uniform(0.4, 0.7) * heart_ry  # resting on the anterior diaphragm
    heart = _smoothstep_inside((np.hypot((x - heart_x) / heart_rx, (y - heart_y) / heart_ry) - 1.0) * 40.0, 2.0)

    soft = rng.uniform(0.72, 0.84)
    lung_tone = rng.uniform(0.22, 0.40)
    image = rng.uniform(0.0, 0.08) * np.ones_like(x)
    image = image + (soft - image) * trunk
    image = image + (lung_tone - image) * lung
    image = image + (rng.uniform(0.55, 0.68) - image) * heart * lung
    # Vertebral bodies: bright blocks with darker disc spaces, along the back of the lung field.
    levels = rng.uniform(0.052, 0.064)
    phase = rng.uniform(0.0, 1.0)
    discs = 0.5 + 0.5 * np.cos(2 * np.pi * (y / levels + phase))
    body = _smoothstep_inside(np.maximum(spine_front - x, x - spine_back) * width, 1.5) * (y > 0.02)
    image = image + (rng.uniform(0.82, 0.92) - image) * body * (0.75 + 0.25 * (discs < 0.85))
    # Sternum: a thin bright line just behind the anterior skin.
    sternum = _smoothstep_inside((np.abs(x - sternum_x) - 0.012) * width, 1.0) * (y > apex + 0.08) * (y < 0.62)
    image = image + (rng.uniform(0.80, 0.90) - image) * sternum
    # Trachea: a dark band from the top down to the hilum, in front of the spine.
    trachea_x = spine_front - rng.uniform(0.18, 0.24) * (spine_front - sternum_x)
    trachea = _smoothstep_inside((np.abs(x - trachea_x - 0.06 * y) - 0.018) * width, 1.5) * (y < 0.40)
    image = image - 0.12 * trachea * trunk
    # Raised arms: soft tissue over the upper front in some films.
    if rng.random() < 0.6:
        arm_y = rng.uniform(0.05, 0.22)
        arms = _smoothstep_inside((np.hypot((x - lung_front - 0.15) / 0.22, (y - arm_y) / 0.12) - 1.0) * 40.0, 3.0)
        image = image + 0.25 * arms * trunk * (1.0 - image)
    # Posterior ribs: faint oblique stripes across the back of the lung field.
    ribs = 0.5 + 0.5 * np.sin(2 * np.pi * (y + 0.4 * x) / rng.uniform(0.07, 0.09))
    image = image + 0.05 * ribs * lung * (x > heart_x)

    image = ndimage.gaussian_filter(image, rng.uniform(1.0, 2.5))
    gamma = rng.uniform(0.8, 1.25)
    image = np.clip(image, 0.0, 1.0) ** gamma
    image = image + rng.normal(0.0, rng.uniform(0.005, 0.02), image.shape)
    if rng.random() < 0.5:
        image = image[:, ::-1]  # facing right instead
    return np.clip(image, 0.0, 1.0)
