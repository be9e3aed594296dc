"""The report words heatmap: one labelled cell per word, reading order, wrapping, neutral unseen words."""

from __future__ import annotations

import json
import random

import pytest

from components import report_view


def word(text: str, score: float, share: float = 0.01, seen: bool = True) -> dict:
    return {"text": text, "start": 0, "end": len(text), "score": score, "share": share, "seen": seen}


WORDS = [word("the", 0.5, seen=False), word("heart", 0.002), word("is", -0.3, seen=False),
         word("enlarged", 0.012345, 0.042),
         word("no", -0.004), word("effusion", -0.006)]


def random_report(count: int, seed: int = 0) -> list[dict]:
    generator = random.Random(seed)
    vocabulary = ("the heart size is normal no focal consolidation pleural effusion or pneumothorax mild "
                  "cardiomegaly lungs are clear degenerative changes thoracic spine").split()
    return [word(generator.choice(vocabulary), generator.uniform(-0.02, 0.03), generator.random() / 10,
                 generator.random() > 0.3) for _ in range(count)]


def cells(figure_json: dict) -> list[tuple[float, float, str, dict, int]]:
    """(line, x centre, label, trace, column) of every labelled cell."""
    found = []
    for trace in figure_json["data"]:
        line = (trace["y"][0] + trace["y"][1]) / 2
        for column, label in enumerate(trace["text"][0]):
            if label:
                found.append((line, (trace["x"][column] + trace["x"][column + 1]) / 2, label, trace, column))
    return found


def as_json(figure) -> dict:
    return json.loads(figure.to_json())


def test_one_labelled_cell_per_word_in_reading_order():
    figure = as_json(report_view.words_figure(WORDS, characters_per_line=12))
    found = sorted(cells(figure), key=lambda cell: (cell[0], cell[1]))
    assert [cell[2] for cell in found] == [w["text"] for w in WORDS]
    assert all(trace["type"] == "heatmap" and trace["texttemplate"] == "%{text}" for trace in figure["data"])
    assert not figure["layout"].get("annotations")


def test_wrapping_respects_characters_per_line_and_words_never_overlap():
    words = random_report(60, seed=1)
    positions = report_view.word_positions(words, characters_per_line=30)
    for previous, current in zip(positions, positions[1:], strict=False):
        if current["line"] == previous["line"]:
            assert current["start"] == previous["end"]  # side by side, no overlap
        else:
            assert current["line"] == previous["line"] + 1 and current["start"] == 0
            width = current["end"] - current["start"]
            assert previous["end"] + width > 30  # wrapped only because the word did not fit
    assert all(position["end"] <= 30 for position in positions)
    long_word = report_view.word_positions([word("x" * 40, 0.1)], characters_per_line=30)
    assert long_word == [{"line": 0, "start": 0, "end": 40 + report_view.CELL_PADDING_CHARACTERS}]


def test_unseen_words_are_neutral_and_say_not_seen():
    figure = as_json(report_view.words_figure(WORDS))
    by_label = {cell[2]: cell for cell in cells(figure)}
    for text in ("the", "is"):
        _, _, _, trace, column = by_label[text]
        assert "coloraxis" not in trace and trace["colorscale"][0][1] == report_view.UNSEEN_COLOUR
        assert report_view.NOT_SEEN_TEXT in trace["hovertext"][0][column]
    seen_trace = by_label["heart"][3]
    assert seen_trace["coloraxis"] == "coloraxis"
    assert seen_trace["z"][0][0] is None  # "the" has no colour in the seen-word trace


def test_colour_range_is_symmetric_from_the_largest_seen_score():
    layout = as_json(report_view.words_figure(WORDS))["layout"]
    coloraxis = layout["coloraxis"]
    assert coloraxis["cmax"] == pytest.approx(0.012345)  # the unseen word's 0.5 is ignored
    assert coloraxis["cmin"] == -coloraxis["cmax"]
    assert coloraxis["colorbar"]["title"]["text"] == report_view.COLOUR_BAR_TITLE
    scale = coloraxis["colorscale"]
    assert scale[0][1] == "#2166ac" and scale[-1][1] == "#b2182b"  # negative blue, positive red


def test_hover_shows_signed_score_with_three_significant_digits_and_share():
    text = report_view.word_hover_text(word("enlarged", 0.012345, 0.042))
    assert "enlarged" in text and "+0.0123" in text and "toward abnormal" in text and "4.2%" in text
    negative = report_view.word_hover_text(word("no", -0.004))
    assert "-0.004" in negative and "toward normal" in negative


def test_axes_reversed_without_ticks_and_zoom_survives_updates():
    layout = as_json(report_view.words_figure(WORDS, characters_per_line=12))["layout"]
    assert layout["yaxis"]["range"][0] > layout["yaxis"]["range"][1]
    assert layout["xaxis"]["showticklabels"] is False and layout["yaxis"]["showticklabels"] is False
    assert layout["uirevision"] == report_view.words_figure(WORDS, 12).layout.uirevision


def test_a_140_word_report_stays_readable():
    words = random_report(140, seed=2)
    figure = as_json(report_view.words_figure(words))
    found = sorted(cells(figure), key=lambda cell: (cell[0], cell[1]))
    assert [cell[2] for cell in found] == [w["text"] for w in words]
    lines = {cell[0] for cell in found}
    assert 10 <= len(lines) <= 40
    assert figure["layout"]["height"] >= report_view.LINE_HEIGHT_PX * len(lines)
    assert all(trace["textfont"]["size"] >= 12 for trace in figure["data"])  # fixed, legible size


def test_strongest_words_by_absolute_score_among_seen_words_ties_by_position():
    words = [word("a", 0.1), word("b", -0.3), word("c", 0.9, seen=False), word("d", 0.3), word("e", 0.05)]
    strongest = report_view.strongest_words(words, count=3)
    assert [w["text"] for w in strongest] == ["b", "d", "a"]
    assert [w["index"] for w in strongest] == [1, 3, 0]
    assert report_view.strongest_words(words, count=0) == []
    rendered = json.dumps(report_view.strongest_words_list(words).to_plotly_json(), default=str)
    assert "toward normal" in rendered and "toward abnormal" in rendered


def test_empty_report_and_layout_ids():
    assert report_view.words_figure([]).data == ()
    ids = {item.id for item in report_view.layout()._traverse() if getattr(item, "id", None)}
    assert ids == {"words-graph", "strongest-words"}
    figure, children = report_view.report_outputs(WORDS)
    assert len(cells(as_json(figure))) == len(WORDS) and children is not None
