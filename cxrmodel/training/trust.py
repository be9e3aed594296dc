"""Write a bundle's trust profile (:mod:`cxrmodel.imaging.trust_profile`) from the films it was trained on.

``train`` calls :func:`write_bundle_trust_profile` on its training and validation split; ``python -m cxrmodel
trust-profile`` on a studies folder. The profile is judged against the reference film the bundle actually stores
(``image_baseline.png`` as :func:`cxrmodel.modeling.load_bundle` reads it), so fit and use see the same reference.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cxrmodel.imaging.trust_fit import fit_trust_profile
from cxrmodel.imaging.trust_profile import PROFILE_ARRAYS_FILE, PROFILE_FILE, TrustProfileError

__all__ = ["CARD_KEY", "write_bundle_trust_profile"]

logger = logging.getLogger(__name__)

CARD_KEY = "trust_profile"
"""The card's record of the profile: ``{"fitted": true, "counts", "thresholds"}`` or ``{"fitted": false,
"reason"}``."""


def write_bundle_trust_profile(directory: str | os.PathLike, training: np.ndarray, validation: np.ndarray,
                               fitted_on: str, *, target: str | os.PathLike | None = None,
                               also_into: Sequence[str | os.PathLike] = ()) -> dict:
    """Fit the profile of the bundle in ``directory`` and write it (into the bundle, or into ``target``).

    Args:
        directory: The bundle (its reference film is read from it).
        training: ``(n, S, S)`` uint8 model-grid films the model was trained on (or that define its films).
        validation: ``(m, S, S)`` films held apart from the fit, to check it.
        fitted_on: What the films are, in words.
        target: Where to write the profile; None = into the bundle, which also records it in its card.
        also_into: Further bundles trained on the same films with the same reference film (``train``'s image-only
            bundle): the one fit is written into each of them and recorded in its card too.

    Returns:
        The card record: ``{"fitted": True, "counts", "thresholds", "warnings"}`` or ``{"fitted": False,
        "reason"}`` (too few films, or no reference film). A bundle without a profile is judged as unprofiled.
    """
    from cxrmodel.modeling.bundle import load_bundle  # noqa: PLC0415 - keeps this module import-light

    bundle_directory = Path(directory)
    bundle = load_bundle(bundle_directory, load_model=False)
    profile = None
    if bundle.image_baseline is None:
        record = {"fitted": False, "reason": "the bundle has no reference film (image_baseline.png)"}
    else:
        try:
            profile = fit_trust_profile(training, validation, bundle.image_baseline, fitted_on)
        except TrustProfileError as error:
            record = {"fitted": False, "reason": str(error)}
        else:
            document = profile.to_dict()
            record = {"fitted": True, "counts": document["counts"], "thresholds": document["thresholds"],
                      "warnings": document["warnings"]}
    if target is not None:
        if profile is not None:
            profile.save(target)
    else:
        for bundle_path in (bundle_directory, *map(Path, also_into)):
            _record_in_bundle(bundle_path, profile, record)
    if not record["fitted"]:
        logger.warning("no trust profile for %s: %s", bundle_directory, record["reason"])
    return record


def _record_in_bundle(bundle_directory: Path, profile, record: dict) -> None:
    """Write ``profile`` into the bundle (or remove a stale one when none was fitted) and ``record`` into its card."""
    from cxrmodel.modeling.bundle import CARD_FILE  # noqa: PLC0415 - keeps this module import-light

    if profile is not None:
        profile.save(bundle_directory)
    else:
        # A stale profile from an earlier fit must not judge films for a model it was not fitted for.
        for name in (PROFILE_FILE, PROFILE_ARRAYS_FILE):
            (bundle_directory / name).unlink(missing_ok=True)
    card_path = bundle_directory / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card[CARD_KEY] = record
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
