"""compare-explanations (issue #20 item 3): the pure agreement numbers on hand-made inputs, and one run of the
command with the tiny multimodal, text-only and image-only bundles on the tiny studies."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from cxrmodel.evaluation.explanation_agreement import (
    CONSTANT_MAP,
    CONSTANT_WORDS,
    FEW_WORDS,
    NO_CIRCLES,
    ModelExplanation,
    ScoredWord,
    aggregate,
    circles_overlap,
    compare_pair,
    grid_image_area,
    map_rank_correlation,
    pair_plan,
    summarise,
    word_agreement,
)
from cxrmodel.imaging import GridMapping


def _words(scores, starts=None, seen=None):
    starts = starts if starts is not None else [10 * index for index in range(len(scores))]
    seen = seen if seen is not None else [True] * len(scores)
    return [ScoredWord(start=start, score=score, seen=flag) for start, score, flag in zip(starts, scores, seen,
                                                                                         strict=True)]


# --- words -------------------------------------------------------------------------------------------------------

def test_word_rank_correlation_has_the_sign_of_the_agreement():
    scores = [0.5, -0.2, 0.1, 0.9, 0.0]
    same = word_agreement(_words(scores), _words([2 * score + 1 for score in scores]))  # monotone: same ranks
    assert same["rank_correlation"] == pytest.approx(1.0)
    assert same["top3_overlap"] == pytest.approx(1.0)
    assert (same["shared_words"], same["reason"]) == (5, None)
    opposite = word_agreement(_words(scores), _words([-score for score in scores]))
    assert opposite["rank_correlation"] == pytest.approx(-1.0)
    # top 3 of A: 0.9, 0.5, 0.1 (starts 30, 0, 20); top 3 of -A: 0.2, 0.0, -0.1 (starts 10, 40, 20): one shared
    assert opposite["top3_overlap"] == pytest.approx(1 / 3)


def test_words_are_aligned_by_character_offset_not_by_position():
    first = _words([0.1, 0.2, 0.3, 0.4], starts=[0, 5, 12, 20])
    # The same words in another order, plus a word the first model did not see and one only it lists.
    second = list(reversed(_words([1.0, 2.0, 3.0, 4.0], starts=[0, 5, 12, 20]))) + _words([-9.0], starts=[30])
    agreement = word_agreement(first, second)
    assert agreement["shared_words"] == 4
    assert agreement["rank_correlation"] == pytest.approx(1.0)  # paired by position it would be -1
    # A word one model did not see is left out, even where the other scored it.
    unseen = word_agreement(_words([0.1, 0.2, 0.3, 0.4], seen=[True, True, True, False]),
                            _words([0.4, 0.3, 0.2, 0.1]))
    assert unseen["shared_words"] == 3
    assert unseen["rank_correlation"] == pytest.approx(-1.0)


def test_word_numbers_are_none_with_a_reason_for_few_words_or_equal_scores():
    few = word_agreement(_words([0.1, 0.2, 0.3]), _words([0.1, 0.2, 0.3], seen=[True, True, False]))
    assert (few["rank_correlation"], few["top3_overlap"], few["shared_words"], few["reason"]) == (None, None, 2,
                                                                                                  FEW_WORDS)
    flat = word_agreement(_words([0.1, 0.2, 0.3, 0.4]), _words([0.0, 0.0, 0.0, 0.0]))
    assert (flat["rank_correlation"], flat["top3_overlap"], flat["reason"]) == (None, None, CONSTANT_WORDS)
    assert word_agreement([], [])["reason"] == FEW_WORDS


def test_top3_ties_go_to_the_earlier_word():
    first = _words([1.0, 1.0, 1.0, 1.0, 0.5])  # top 3 by the tie rule: starts 0, 10, 20
    second = _words([0.1, 0.3, 0.2, 0.4, 0.0])  # top 3: starts 30, 10, 20
    assert word_agreement(first, second)["top3_overlap"] == pytest.approx(2 / 3)


# --- regions -----------------------------------------------------------------------------------------------------

def test_circle_overlap_is_the_jaccard_index_of_the_pixels_within_r_of_a_centre():
    plus = [{"x": 5.0, "y": 5.0, "r": 1.0}]  # the centre pixel and its 4 neighbours: 5 pixels
    dot = [{"x": 5.0, "y": 5.0, "r": 0.0}]  # the centre pixel alone
    assert circles_overlap(plus, dot, 12, 12) == pytest.approx(1 / 5)
    assert circles_overlap(plus, plus, 12, 12) == pytest.approx(1.0)
    assert circles_overlap(plus, [{"x": 9.0, "y": 9.0, "r": 1.0}], 12, 12) == 0.0
    # Two circles of one model count as one region; the other's single circle covers one of them.
    two = [{"x": 2.0, "y": 2.0, "r": 1.0}, {"x": 8.0, "y": 8.0, "r": 1.0}]
    assert circles_overlap(two, [{"x": 8.0, "y": 8.0, "r": 1.0}], 12, 12) == pytest.approx(5 / 10)


def test_no_circles_in_either_is_undefined_not_perfect_agreement():
    assert circles_overlap([], [], 12, 12) is None
    assert circles_overlap([{"x": 5.0, "y": 5.0, "r": 2.0}], [], 12, 12) == 0.0
    first = ModelExplanation(0.9, 0.0, circles=(), image_size=(12, 12), attribution_map=np.arange(16.0).reshape(4, 4))
    second = ModelExplanation(0.2, 0.0, circles=(), image_size=(12, 12),
                              attribution_map=np.arange(16.0).reshape(4, 4) ** 2)
    regions = compare_pair(first, second)["regions"]
    assert (regions["overlap"], regions["overlap_reason"], regions["circles"]) == (None, NO_CIRCLES, [0, 0])
    assert regions["map_rank_correlation"] == pytest.approx(1.0)  # a monotone transform: same ranks


def test_map_rank_correlation_needs_one_grid_and_varying_maps():
    ramp = np.arange(16.0).reshape(4, 4)
    assert map_rank_correlation(ramp, -ramp)["map_rank_correlation"] == pytest.approx(-1.0)
    different = map_rank_correlation(ramp, np.zeros((8, 8)))
    assert different["map_rank_correlation"] is None and "different model grids (4 vs 8 px)" in different["map_reason"]
    assert map_rank_correlation(ramp, np.ones((4, 4))) == {"map_rank_correlation": None, "map_reason": CONSTANT_MAP}
    # Only the pixels of the area count: outside it the second map disagrees completely.
    area = np.zeros((4, 4), bool)
    area[1:3] = True
    second = -ramp.copy()
    second[1:3] = ramp[1:3]
    assert map_rank_correlation(ramp, second)["map_rank_correlation"] < 0.5
    assert map_rank_correlation(ramp, second, area)["map_rank_correlation"] == pytest.approx(1.0)


def test_the_grid_image_area_leaves_out_the_padding():
    mapping = GridMapping.for_image(200, 100, 8)  # wide film: scale 0.04, 2 grid pixels of padding top and bottom
    area = grid_image_area(mapping)
    assert area.shape == (8, 8)
    assert area[2:6].all() and not area[:2].any() and not area[6:].any()


# --- pairs and the folder ---------------------------------------------------------------------------------------

def _model(modality: str, probability: float) -> ModelExplanation:
    words = tuple(_words([0.1, 0.3, 0.2, 0.4])) if modality in ("multimodal", "text") else None
    image = modality in ("multimodal", "image")
    return ModelExplanation(
        probability, 0.001, words=words,
        circles=({"x": 5.0, "y": 5.0, "r": 1.0},) if image else None,
        image_size=(12, 12) if image else None,
        attribution_map=np.arange(16.0).reshape(4, 4) if image else None,
    )


def test_a_pair_compares_only_what_both_models_read():
    multimodal, text, image = _model("multimodal", 0.9), _model("text", 0.4), _model("image", 0.7)
    with_text = compare_pair(multimodal, text)
    assert with_text["words"]["rank_correlation"] == pytest.approx(1.0) and with_text["regions"] is None
    assert with_text["labels_agree"] is False and with_text["probability_difference"] == pytest.approx(0.5)
    with_image = compare_pair(multimodal, image)
    assert with_image["words"] is None and with_image["regions"]["overlap"] == pytest.approx(1.0)
    neither = compare_pair(image, text)
    assert neither["words"] is None and neither["regions"] is None
    plan = pair_plan(["multimodal", "text", "image"])
    assert [(pair["a"], pair["b"], pair["words"], pair["regions"]) for pair in plan] == [
        (0, 1, True, False), (0, 2, False, True), (1, 2, False, False)]
    assert plan[2]["words_reason"] and plan[2]["regions_reason"]


def test_summarise_counts_mean_median_sd_and_why_values_are_missing():
    block = summarise([1.0, None, 2.0, 6.0, None], [None, FEW_WORDS, None, None, FEW_WORDS])
    assert (block["count"], block["mean"], block["median"]) == (3, pytest.approx(3.0), 2.0)
    assert block["sd"] == pytest.approx(math.sqrt(7.0))  # sample sd of 1, 2, 6
    assert (block["missing"], block["missing_reasons"]) == (2, {FEW_WORDS: 2})
    one = summarise([0.5])
    assert (one["count"], one["sd"]) == (1, None)
    empty = summarise([None], ["x"])
    assert (empty["mean"], empty["median"], empty["missing_reasons"]) == (None, None, {"x": 1})


def test_aggregate_over_a_folder():
    plan = pair_plan(["multimodal", "text"])
    studies = []
    for probabilities in ((0.9, 0.8), (0.9, 0.2), (0.1, 0.3)):
        models = [_model("multimodal", probabilities[0]), _model("text", probabilities[1])]
        studies.append({"models": [{"probability": m.probability, "label": m.label, "completeness_error": 0.001}
                                   for m in models],
                        "pairs": [compare_pair(models[0], models[1])]})
    summary = aggregate(studies, plan, 2, skipped=[{"study": "X", "reason": "the image could not be read"}])
    assert summary["studies"] == 3
    assert summary["skipped"] == {"count": 1, "reasons": {"the image could not be read": 1}}
    assert summary["labels_all_agree"] == pytest.approx(2 / 3)
    pair = summary["pairs"][0]
    assert pair["labels_agree"] == pytest.approx(2 / 3)
    assert pair["word_rank_correlation"]["count"] == 3 and pair["word_rank_correlation"]["mean"] == pytest.approx(1)
    assert "region_overlap" not in pair and "map_rank_correlation" not in pair
    assert pair["probability_difference"]["median"] == pytest.approx(0.2)
    assert summary["models"][0]["called_abnormal"] == pytest.approx(2 / 3)


# --- the command -------------------------------------------------------------------------------------------------

def test_compare_explanations_on_the_tiny_bundles(tiny_bundle_directory, tiny_text_bundle_directory,
                                                  tiny_image_bundle_directory, tiny_studies_directory, tmp_path,
                                                  capsys):
    pytest.importorskip("keras")
    from cxrmodel.cli.main import main  # noqa: PLC0415

    output = tmp_path / "compare.json"
    bundles = [str(tiny_bundle_directory), str(tiny_text_bundle_directory), str(tiny_image_bundle_directory)]
    status = main(["compare-explanations", "--bundles", *bundles, "--studies", str(tiny_studies_directory),
                   "--limit", "3", "--json", "--output", str(output)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    document = json.loads(captured.out)
    assert json.loads(output.read_text()) == document
    assert [model["modality"] for model in document["models"]] == ["multimodal", "text", "image"]
    assert document["models"][1]["sight_sensitivity"] is None  # a text-only model draws no circles
    assert len(document["studies"]) == 3 and document["skipped"] == []
    pairs = {(pair["a"], pair["b"]): index for index, pair in enumerate(document["pairs"])}
    multimodal_text, multimodal_image, text_image = pairs[(0, 1)], pairs[(0, 2)], pairs[(1, 2)]
    for study in document["studies"]:
        assert [model["label"] for model in study["models"]] == [
            "abnormal" if model["probability"] >= 0.5 else "normal" for model in study["models"]]
        assert all(model["completeness_error"] < 0.05 for model in study["models"])
        assert study["models"][1]["circles"] is None and study["models"][2]["seen_words"] is None
        words = study["pairs"][multimodal_text]["words"]
        assert study["pairs"][multimodal_text]["regions"] is None
        assert words["shared_words"] >= 3
        assert words["rank_correlation"] is None or -1.0 <= words["rank_correlation"] <= 1.0
        regions = study["pairs"][multimodal_image]["regions"]
        assert study["pairs"][multimodal_image]["words"] is None
        assert regions["overlap"] is None or 0.0 <= regions["overlap"] <= 1.0
        assert regions["overlap_reason"] == (NO_CIRCLES if regions["overlap"] is None else None)
        assert study["pairs"][text_image]["words"] is None and study["pairs"][text_image]["regions"] is None
    summary = document["summary"]
    assert summary["studies"] == 3 and summary["skipped"]["count"] == 0
    assert {"word_rank_correlation", "top3_overlap"} <= summary["pairs"][multimodal_text].keys()
    assert "region_overlap" not in summary["pairs"][multimodal_text]
    assert {"region_overlap", "map_rank_correlation"} <= summary["pairs"][multimodal_image].keys()
    assert "word_rank_correlation" not in summary["pairs"][multimodal_image]
    neither = summary["pairs"][text_image]
    assert not {"word_rank_correlation", "region_overlap"} & neither.keys() and "labels_agree" in neither
    block = summary["pairs"][multimodal_text]["word_rank_correlation"]
    assert block["count"] + block["missing"] == 3

    # The readable lines: one per study, and what a pair does not compare, said.
    assert main(["compare-explanations", "--bundles", *bundles, "--studies", str(tiny_studies_directory),
                 "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "1 studies of" in text and "3 models" in text
    assert "regions: not compared (a text-only model reads no radiograph)" in text
    assert "words: not compared (an image-only model reads no report)" in text


def test_compare_explanations_refuses_bad_input_in_one_line(tiny_bundle_directory, tiny_text_bundle_directory,
                                                            tiny_studies_directory, tmp_path, capsys):
    from cxrmodel.cli.main import main  # noqa: PLC0415

    studies = ["--studies", str(tiny_studies_directory)]
    assert main(["compare-explanations", "--bundles", str(tiny_bundle_directory), *studies]) == 2
    assert capsys.readouterr().err.strip() == "error: --bundles: compare at least 2 bundles, got 1"
    broken = tmp_path / "broken"
    shutil.copytree(tiny_text_bundle_directory, broken)
    (broken / "card.json").write_text("{not json")
    assert main(["compare-explanations", "--bundles", str(tiny_bundle_directory), str(broken), *studies]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: --bundles:") and "card.json" in error and len(error.strip().splitlines()) == 1
    assert main(["compare-explanations", "--bundles", str(tiny_bundle_directory), str(tiny_bundle_directory),
                 *studies]) == 2
    assert "given more than once" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare-explanations", "--bundles", str(tiny_bundle_directory), str(tiny_text_bundle_directory),
                 "--studies", str(empty)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and str(empty) in error and len(error.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:  # argparse: a folder that does not exist
        main(["compare-explanations", "--bundles", str(tiny_bundle_directory), str(tiny_text_bundle_directory),
              "--studies", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
