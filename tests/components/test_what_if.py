"""The what-if card (components.what_if): edits, clicks, the words it cuts, the film it masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components import what_if
from cxrmodel.imaging import decode_image, to_model_grid
from cxrmodel.imaging.masking import circles_image_mask, encode_png16, mask_regions
from cxrmodel.text import tokenize_report

ROOT = Path(__file__).resolve().parents[2]
REPORT = "FINDINGS: Nodule in the right lower lobe. IMPRESSION: Right lower lobe nodule."


def test_struck_words_are_cut_from_the_report_and_restored_when_struck_again():
    words = [token.text for token in tokenize_report(REPORT)]
    right = words.index("right")
    assert what_if.report_without(REPORT, [right]) == (
        "FINDINGS: Nodule in the lower lobe. IMPRESSION: Right lower lobe nodule.")
    assert what_if.toggled(what_if.toggled([], right), right) == []
    assert what_if.report_without(REPORT, []) == REPORT
    assert what_if.report_without(REPORT, [999]) == REPORT  # an index from another report is ignored
    every = what_if.report_without(REPORT, list(range(len(words))))
    assert tokenize_report(every) == [] or all(not token.text.isalpha() for token in tokenize_report(every))


def test_a_click_names_a_word_or_a_circle_and_nothing_else():
    assert what_if.clicked_word({"points": [{"customdata": 4}]}) == 4
    assert what_if.clicked_word({"points": [{}]}) is None and what_if.clicked_word(None) is None
    sweep = {"thresholds": [0.5, 0.7], "circles": [[], [{"x": 10.0, "y": 20.0, "r": 3.0, "points": 4, "mass": 0.2}]]}
    assert what_if.clicked_circle({"points": [{"pointIndex": 0, "x": 10.0, "y": 20.0}]}, sweep, 0.7) == {
        "x": 10.0, "y": 20.0, "r": 3.0}
    assert what_if.clicked_circle({"points": [{"pointIndex": 0, "x": 11.0, "y": 20.0}]}, sweep, 0.7) is None
    assert what_if.clicked_circle({"points": [{"pointIndex": 0, "x": 10.0, "y": 20.0}]}, sweep, 0.5) is None


def test_the_answer_says_where_the_change_came_from():
    def text(*args):
        return json.dumps([child.to_plotly_json() for child in what_if.probability_children(*args)], default=str)

    report = text("CXR90015", 0.987, 0.245, True, 0)
    assert report.index("0.245") < report.index("0.987") and "all from the report" in report and "-0.742" in report
    assert "report is unchanged" in text("CXR90015", 0.987, 0.5, False, 2)


def test_a_removed_region_takes_the_reference_and_every_other_pixel_keeps_its_value():
    film = decode_image((ROOT / "studies" / "demo" / "NLMCXR_png" / "CXR90015_IM-90015-1001.png").read_bytes())
    _grid, mapping = to_model_grid(film.pixels, 160)
    reference = np.full((160, 160), 0.3)
    circles = [{"x": 159.0, "y": 257.0, "r": 8.0}]
    masked = mask_regions(film.pixels, circles, reference, mapping)
    inside = circles_image_mask(circles, *film.pixels.shape)
    assert inside.sum() == 197 and np.allclose(masked[inside], 0.3)
    back = decode_image(encode_png16(masked)).pixels
    assert np.array_equal(back[~inside], film.pixels[~inside])  # 8-bit levels survive the 16-bit PNG exactly
    assert np.abs(back[inside] - 0.3).max() < 1e-4
