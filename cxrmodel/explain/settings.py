"""The integration settings: one frozen object for the defaults, which is also the cache-key part.

Everything besides the study and the model that determines an explanation's numbers lives here, so the
integrated-gradients engine, the study explainer, the CLI and the cache read their defaults from one place
(:data:`DEFAULT_INTEGRATION`). Needs no TensorFlow: a process can look an explanation up in the cache without
loading the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from cxrmodel.explain.baselines import BLUR_SIGMA_FRACTION

ADAPTIVE_METHOD = "riemann_trapezoid"
"""The rule whose ``steps="auto"`` is adaptive interval refinement (see the module docstring)."""


@dataclass(frozen=True)
class IntegrationSettings:
    """How the path integral is computed.

    Attributes:
        steps: Nodes of the integration rule, or ``"auto"`` (raise until ``target_error`` is met; see
            :mod:`cxrmodel.explain.integrated_gradients`).
        method: One of :data:`cxrmodel.explain.quadrature.METHODS`.
        image_baseline: Name of the image end of the path (:data:`cxrmodel.explain.baselines.IMAGE_BASELINES`).
        target_error: Completeness relative error that ``"auto"`` stops at.
        max_steps: Cap on the step count of ``"auto"``.
        batch_size: Path points per call of the compiled gradient function.
    """

    steps: int | str = "auto"
    method: str = ADAPTIVE_METHOD
    image_baseline: str = "black"
    target_error: float = 0.01
    max_steps: int = 128
    batch_size: int = 16

    def cache_key_part(self, image_baseline: str | np.ndarray | None = None,
                       mean_image: np.ndarray | None = None) -> dict:
        """The settings as the cache key's part (plain JSON).

        Args:
            image_baseline: Overrides :attr:`image_baseline`; an array baseline is represented by the sha256 of
                its float32 bytes.
            mean_image: The explainer's dataset-mean image; the ``"mean"`` baseline is represented by its sha256.
        """
        baseline = self.image_baseline if image_baseline is None else image_baseline
        if isinstance(baseline, str) and baseline != "mean":
            baseline_name = baseline
        else:
            array = mean_image if isinstance(baseline, str) else np.asarray(baseline, np.float32)
            digest = "none" if array is None else hashlib.sha256(np.ascontiguousarray(array, np.float32)).hexdigest()
            baseline_name = f"array:{digest}"
        key = {"steps": self.steps, "method": self.method, "image_baseline": baseline_name, "text_baseline": "padding"}
        if self.steps == "auto":
            # The auto levels depend on the batch size (batches are filled), the target and the cap.
            key.update(target_error=float(self.target_error), max_steps=int(self.max_steps),
                       batch_size=int(self.batch_size))
            if self.method == ADAPTIVE_METHOD:
                key["refinement"] = "adaptive-intervals"
        if isinstance(baseline, str) and baseline == "blur":
            key["blur_sigma_fraction"] = BLUR_SIGMA_FRACTION
        return key


DEFAULT_INTEGRATION = IntegrationSettings()
"""The defaults every signature takes its integration arguments from."""
