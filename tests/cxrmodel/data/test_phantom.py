"""Behaviour of the synthetic chest radiograph phantom renderer."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from cxrmodel.data.synthetic.findings import (
    CARDIOMEGALY,
    DEGENERATIVE_SPINE,
    EFFUSION,
    FINDING_KINDS,
    LATERALISED_KINDS,
    NODULE,
    PNEUMOTHORAX,
    Finding,
)
from cxrmodel.data.synthetic.phantom.geometry import sample_anatomy
from cxrmodel.data.synthetic.phantom.render import Phantom, render_phantom

SEED = 11
ZONED_KINDS = {"nodule", "mass", "consolidation"}


def _finding(kind: str, severity: float, side: str = "right", zone: str = "middle") -> Finding:
    return Finding(
        kind,
        severity,
        side if kind in LATERALISED_KINDS else None,
        zone if kind in ZONED_KINDS else None,
    )


@functools.cache
def _render(findings: tuple[Finding, ...] = (), markers: tuple[str, ...] = (), seed: int = SEED,
            width: int = 480, height: int = 512) -> Phantom:
    """Cached render (tests only read the result)."""
    return render_phantom(list(findings), list(markers), np.random.default_rng(seed), width=width, height=height)


def _change(kind: str, severity: float) -> tuple[np.ndarray, np.ndarray]:
    """Absolute brightness change caused by one finding, and its mask."""
    with_finding = _render((_finding(kind, severity),))
    normal = _render()
    change = np.abs(with_finding.image.astype(np.float64) - normal.image.astype(np.float64))
    return change, with_finding.masks[kind]


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, columns = np.nonzero(mask)
    return float(rows.mean()), float(columns.mean())


def test_same_seed_gives_byte_identical_phantom():
    findings = [_finding(NODULE, 0.5), _finding(EFFUSION, 0.7, side="left")]
    first = render_phantom(findings, ["R", "PORTABLE"], np.random.default_rng(3))
    second = render_phantom(findings, ["R", "PORTABLE"], np.random.default_rng(3))
    assert first.image.tobytes() == second.image.tobytes()
    assert first.masks.keys() == second.masks.keys()
    for kind in first.masks:
        assert np.array_equal(first.masks[kind], second.masks[kind])
    assert np.array_equal(first.marker_mask, second.marker_mask)
    assert first.cardiothoracic_ratio == second.cardiothoracic_ratio


def test_different_seeds_give_different_patients():
    first, second = _render(seed=1), _render(seed=2)
    assert np.mean(first.image != second.image) > 0.5
    assert first.cardiothoracic_ratio != second.cardiothoracic_ratio


def test_image_has_radiograph_polarity():
    phantom = _render()
    image = phantom.image.astype(np.float64)
    height, width = image.shape
    assert phantom.image.dtype == np.uint8 and image.shape == (512, 480)
    # Air above the shoulders is near black; mediastinum and abdomen bright; aerated lung in between.
    top_corners = np.concatenate([image[: height // 20, : width // 12].ravel(),
                                  image[: height // 20, -width // 12 :].ravel()])
    mediastinum = image[int(0.55 * height) : int(0.65 * height), int(0.47 * width) : int(0.53 * width)]
    abdomen = image[int(0.92 * height) :, int(0.3 * width) : int(0.7 * width)]
    right_lung = image[int(0.35 * height) : int(0.5 * height), int(0.18 * width) : int(0.3 * width)]
    left_lung = image[int(0.35 * height) : int(0.5 * height), int(0.7 * width) : int(0.82 * width)]
    assert top_corners.mean() < 40
    assert mediastinum.mean() > right_lung.mean() + 60
    assert abdomen.mean() > left_lung.mean() + 60
    assert 50 < right_lung.mean() < 160 and 50 < left_lung.mean() < 160


def test_normal_phantom_has_no_masks():
    phantom = _render()
    assert phantom.masks == {}
    assert phantom.markers == []
    assert not phantom.marker_mask.any()


def test_mask_keys_are_exactly_the_finding_kinds():
    findings = (_finding(NODULE, 0.4), _finding(PNEUMOTHORAX, 0.6, side="left"), _finding(CARDIOMEGALY, 0.2))
    phantom = _render(findings)
    assert set(phantom.masks) == {NODULE, PNEUMOTHORAX, CARDIOMEGALY}
    for mask in phantom.masks.values():
        assert mask.shape == phantom.image.shape and mask.dtype == bool


def test_all_kinds_at_once_give_every_mask():
    findings = tuple(_finding(kind, 0.5) for kind in FINDING_KINDS)
    phantom = _render(findings)
    assert set(phantom.masks) == set(FINDING_KINDS)
    assert all(mask.any() for mask in phantom.masks.values())


@pytest.mark.parametrize("severity", [0.0, 1.0])
@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_mask_lies_on_the_drawn_lesion(kind, severity):
    change, mask = _change(kind, severity)
    assert mask.any(), f"{kind} mask is empty at severity {severity}"
    inside, outside = change[mask].mean(), change[~mask].mean()
    assert inside > 5 * outside, f"{kind}: change inside {inside:.2f} vs outside {outside:.2f}"
    assert change[mask].sum() > 0.45 * change.sum(), f"{kind}: most of what the finding changed is outside its mask"
    if kind != DEGENERATIVE_SPINE:  # its mask is the whole degenerate segment: see the test below
        assert inside > 1.5, f"{kind}: the image barely changes inside the mask ({inside:.2f} grey levels)"


@pytest.mark.parametrize("severity", [0.0, 1.0])
def test_degenerative_spine_mask_is_the_affected_segment(severity):
    """The mask outlines the affected levels (bodies, endplates, spurs), so a mark on the segment lands inside it."""
    change, mask = _change(DEGENERATIVE_SPINE, severity)
    changed = change > 1.0  # grey levels; below that only the blurred rims of the spurs
    assert mask[changed].all(), "a spur or sclerotic endplate lies outside the mask"
    rows, columns = np.nonzero(mask)
    changed_rows = np.nonzero(changed)[0]
    assert rows.min() <= changed_rows.min() and changed_rows.max() <= rows.max()
    # One solid band on the midline: the column through the middle of the spine is inside the mask on every row
    # between the affected levels (the spur-only mask left it out; spur tips may reach a little beyond the first
    # and last endplates), and the band is narrow.
    midline = int(round(np.median(columns)))
    top, bottom = changed_rows.min(), changed_rows.max()
    margin = (bottom - top) // 10
    assert mask[top + margin : bottom - margin, midline].all()
    assert abs(midline - mask.shape[1] / 2) < 0.05 * mask.shape[1]
    assert np.ptp(columns) < 0.25 * mask.shape[1]


@pytest.mark.parametrize("kind", FINDING_KINDS)
def test_severity_one_is_more_visible_than_severity_zero(kind):
    subtle_change, subtle_mask = _change(kind, 0.0)
    obvious_change, obvious_mask = _change(kind, 1.0)
    assert obvious_change.sum() > 1.5 * subtle_change.sum()
    assert obvious_mask.sum() >= subtle_mask.sum()


def test_cardiothoracic_ratio_normal_versus_cardiomegaly():
    ratios = [sample_anatomy(np.random.default_rng(seed)).cardiothoracic_ratio for seed in range(300)]
    assert 0.38 <= min(ratios) and max(ratios) <= 0.48
    for seed in (1, 2, SEED):
        assert _render(seed=seed).cardiothoracic_ratio <= 0.5
    subtle = _render((_finding(CARDIOMEGALY, 0.0),)).cardiothoracic_ratio
    obvious = _render((_finding(CARDIOMEGALY, 1.0),)).cardiothoracic_ratio
    assert 0.5 < subtle < obvious <= 0.7


def test_cardiomegaly_widens_the_heart_silhouette():
    subtle = _render((_finding(CARDIOMEGALY, 0.0),)).masks[CARDIOMEGALY]
    obvious = _render((_finding(CARDIOMEGALY, 1.0),)).masks[CARDIOMEGALY]
    width = lambda mask: np.ptp(np.nonzero(mask.any(axis=0))[0])  # noqa: E731
    assert width(obvious) > 1.15 * width(subtle)
    # The heart extends more onto the image's right half (the patient's left).
    columns = np.nonzero(obvious)[1]
    assert np.mean(columns > obvious.shape[1] / 2) > 0.55


@pytest.mark.parametrize("kind", sorted(LATERALISED_KINDS))
def test_right_sided_lesion_is_on_the_image_left(kind):
    _, mask = _change(kind, 1.0)
    assert _centroid(mask)[1] < mask.shape[1] / 2


@pytest.mark.parametrize("kind", [NODULE, EFFUSION])
def test_left_sided_lesion_is_on_the_image_right(kind):
    mask = _render((_finding(kind, 0.5, side="left"),)).masks[kind]
    assert _centroid(mask)[1] > mask.shape[1] / 2


def test_zones_order_from_apex_to_base():
    upper = _render((_finding(NODULE, 0.5, zone="upper"),)).masks[NODULE]
    lower = _render((_finding(NODULE, 0.5, zone="lower"),)).masks[NODULE]
    assert _centroid(upper)[0] + 60 < _centroid(lower)[0]


def test_effusion_fills_the_costophrenic_angle_and_pneumothorax_is_apical():
    effusion = _render((_finding(EFFUSION, 0.0),)).masks[EFFUSION]
    pneumothorax = _render((_finding(PNEUMOTHORAX, 0.0),)).masks[PNEUMOTHORAX]
    height = effusion.shape[0]
    assert _centroid(effusion)[0] > 0.6 * height
    assert np.nonzero(pneumothorax)[0].min() < 0.25 * height


def test_markers_are_bright_and_inside_the_marker_mask():
    marked = _render(markers=("R", "PORTABLE"))
    plain = _render()
    assert marked.markers == ["R", "PORTABLE"]
    mask = marked.marker_mask
    assert mask.any() and mask.mean() < 0.05
    changed = marked.image != plain.image
    assert changed.any() and not (changed & ~mask).any()
    assert marked.image[mask].max() >= 240
    assert np.mean(marked.image[mask] >= 200) > 0.4


def test_marker_positions_follow_film_conventions():
    height, width = 512, 480
    left_marker = _render(markers=("L",)).marker_mask
    right_marker = _render(markers=("R",)).marker_mask
    portable = _render(markers=("AP PORTABLE",)).marker_mask
    assert _centroid(right_marker)[1] < width / 4 and _centroid(left_marker)[1] > 3 * width / 4
    assert _centroid(right_marker)[0] < height / 5
    assert _centroid(portable)[0] < 0.12 * height
    assert np.nonzero(portable)[1].size > np.nonzero(right_marker)[1].size


@pytest.mark.parametrize("width, height", [(300, 420), (1024, 900), (128, 128)])
def test_non_square_sizes(width, height):
    findings = (_finding(NODULE, 1.0), _finding(EFFUSION, 0.5, side="left"), _finding(CARDIOMEGALY, 0.5))
    phantom = _render(findings, ("R", "PORTABLE"), width=width, height=height)
    assert phantom.image.shape == (height, width) and phantom.image.dtype == np.uint8
    assert phantom.marker_mask.shape == (height, width) and phantom.marker_mask.any()
    for mask in phantom.masks.values():
        assert mask.shape == (height, width) and mask.any()
    assert _centroid(phantom.masks[NODULE])[1] < width / 2
    assert _centroid(phantom.masks[EFFUSION])[1] > width / 2


def test_rejects_sizes_outside_the_supported_range():
    with pytest.raises(ValueError):
        render_phantom([], [], np.random.default_rng(0), width=100, height=512)
    with pytest.raises(ValueError):
        render_phantom([], [], np.random.default_rng(0), width=480, height=2048)


@pytest.mark.parametrize("ratio", [0.4, 0.6])
def test_drawn_heart_width_matches_the_cardiothoracic_ratio(ratio):
    from dataclasses import replace

    from cxrmodel.data.synthetic.phantom.anatomy import build_anatomy

    params = replace(sample_anatomy(np.random.default_rng(4)), cardiothoracic_ratio=ratio, rotation_degrees=0.0)
    anatomy = build_anatomy(params, 480, 512, np.random.default_rng(5), np.random.default_rng(6))
    heart_u = anatomy.frame.u[anatomy.heart > 0.5]
    measured = (heart_u.max() - heart_u.min()) / (2 * params.inner_half_width)
    assert measured == pytest.approx(ratio, abs=0.02)
    # Its widest part is visible lung-side, not hidden below the diaphragm.
    widest_row = np.argmax((anatomy.heart > 0.5).sum(axis=1))
    assert anatomy.below_diaphragm[widest_row, 240] > 0
