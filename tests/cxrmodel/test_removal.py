"""Region removals of the deletion evidence (cxrmodel.explain.removal): what fills a removed region.

The imputation must depend on the pixels around the region only, reproduce a smooth film exactly (so the fill
reads as more of the same film, not as a patch), be seeded by the mask alone and leave every other pixel as it was.
"""

from __future__ import annotations

import numpy as np
import pytest

from cxrmodel.explain.removal import (
    DEFAULT_REMOVAL,
    REMOVALS,
    blurred_surroundings,
    linear_imputation,
    remove_region,
)


def _disk(size: int = 40, row: int = 20, column: int = 18, radius: float = 6.0) -> np.ndarray:
    rows, columns = np.mgrid[0:size, 0:size]
    return (rows - row) ** 2 + (columns - column) ** 2 <= radius**2


def _ramp(size: int = 40) -> np.ndarray:
    rows, columns = np.mgrid[0:size, 0:size]
    grey = 0.2 + 0.5 * columns / (size - 1) + 0.1 * rows / (size - 1)
    return np.repeat(grey[:, :, None], 3, axis=-1).astype(np.float32)


def test_imputation_fills_a_region_from_its_surroundings_and_reproduces_a_smooth_film():
    film, mask = _ramp(), _disk()
    exact = linear_imputation(film, mask, noise=0.0)
    np.testing.assert_allclose(exact, film, atol=1e-5)  # a plane is its neighbours' weighted mean everywhere
    # A bright spot inside the region is gone: the fill does not depend on the removed pixels.
    spotted = film.copy()
    spotted[mask] = 1.0
    np.testing.assert_allclose(linear_imputation(spotted, mask, noise=0.0), film, atol=1e-5)
    noisy = linear_imputation(film, mask)
    assert (noisy[~mask] == film[~mask]).all()
    assert 0.002 < float(np.std(noisy[mask] - film[mask])) < 0.02  # ROAD's small noise, 0.01
    assert (noisy[..., 0] == noisy[..., 1]).all()  # a grey film stays grey


def test_imputation_noise_is_seeded_by_the_mask_alone():
    film = _ramp()
    assert (linear_imputation(film, _disk()) == linear_imputation(film.copy(), _disk())).all()
    other = linear_imputation(film, _disk(column=19))
    assert not (linear_imputation(film, _disk())[_disk() & _disk(column=19)]
                == other[_disk() & _disk(column=19)]).all()


def test_blurred_surroundings_fill_deep_regions_too_and_keep_the_rest():
    film, mask = _ramp(), _disk(radius=15.0)
    filled = blurred_surroundings(film, mask)
    assert np.isfinite(filled).all() and (filled[~mask] == film[~mask]).all()
    assert float(np.abs(filled[mask] - film[mask]).max()) < 0.15


def test_the_reference_removal_pastes_the_reference_and_a_whole_film_mask_falls_back_to_it():
    film, reference = _ramp(), np.full((40, 40, 3), 0.3, np.float32)
    pasted = remove_region(film, _disk(), "reference", reference)
    assert (pasted[_disk()] == 0.3).all() and (pasted[~_disk()] == film[~_disk()]).all()
    everything = np.ones((40, 40), bool)
    for removal in REMOVALS:  # nothing around the region to fill it from: the whole film becomes the reference
        assert (remove_region(film, everything, removal, reference) == reference).all()
    with pytest.raises(ValueError, match="imputation, surroundings, reference"):
        remove_region(film, _disk(), "inpainting", reference)
    assert DEFAULT_REMOVAL == "imputation"
