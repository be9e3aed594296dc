"""Do the multimodal and its single-modality parents explain the shown study alike? (issue #20, item 3)

Shown when the dashboard is started with comparison bundles (``python app.py --model models/demo --compare
models/demo/text-only models/demo/image-only``): a card under the study with one row per model (P(abnormal), its
verdict, the completeness error) and one row per pair of models with the agreement numbers of
``python -m cxrmodel compare-explanations`` (:mod:`cxrmodel.evaluation.explanation_agreement`): Spearman rho and
top-3 overlap of the word scores where both read the report, overlap of the circles and rank correlation of the
maps where both read the radiograph, and why a number is missing where it is.

When every model's explanation of the study is already in the shared explanation cache the card is filled at once
(a plain callback: the cache read and numpy, no TensorFlow in the web process); otherwise a **Compare models**
button runs the missing explanations as a background job (progress shown, bounded by the same job slots as every
explanation; each result cached for everyone). Every value names its study and is drawn only for the study shown,
never under another study's name. A film that a model reading it cannot judge (its
:class:`cxrmodel.explain.Disclosure` withholds or refuses it) is not compared, and no number of it is stored (the
card says so), unless the reader pressed Show anyway for it: then the table is drawn under "Shown anyway: …".

Owns the ids ``comparison-data`` (dcc.Store: ``{"study", "comparison", "shown_anyway"}``, ``{"study", "gated":
true}``, ``{"study", "comparison": None}`` or None), ``comparison-table``, ``compare-models`` (button),
``comparison-progress``, ``comparison-card`` and ``comparison-study-tag`` (the card's study tag, written with the
table: components.study_loading shows the card only while that study is picked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from components import model_card, study_loading
from components.study_checks import register_study_check
from cxrmodel.evaluation.explanation_agreement import model_explanation, pair_plan, study_record
from cxrmodel.explain import REFUSE, SHOW, WITHHOLD, Disclosure, ExplanationSettings, explanation_document
from cxrmodel.explain.disclosure import SHOWN_ANYWAY_TEXT

logger = logging.getLogger(__name__)

COMPARISON_DATA_ID = "comparison-data"
COMPARISON_TABLE_ID = "comparison-table"
COMPARE_MODELS_ID = "compare-models"
COMPARISON_PROGRESS_ID = "comparison-progress"
COMPARISON_CARD_ID = "comparison-card"
COMPARISON_STUDY_TAG_ID = "comparison-study-tag"
HIDDEN = {"display": "none"}
SHOWN = {"display": "inline-block"}
GATED_TEXT = "Not compared: the model cannot judge this image (see the prediction card)."
NOT_COMPARED_TEXT = "Not every model has explained this study yet."
FAILED_TEXT = "The comparison could not be computed for this study."


def layout(model_names: Sequence[str]) -> dbc.Card:
    """The card: which models are compared, the table, the button that computes what is missing, the store.

    Args:
        model_names: The bundles' names with their modality, the dashboard's own first.
    """
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6("Do the models explain this study alike?", className="mb-1"),
                html.P("Compared: " + "; ".join(model_names) + ".", className="small text-muted mb-2"),
                html.Div(id=COMPARISON_TABLE_ID),
                dbc.Button("Compare models", id=COMPARE_MODELS_ID, size="sm", color="secondary", outline=True,
                           style=HIDDEN, title="Explain this study with every model (each explanation is cached)."),
                html.Span(id=COMPARISON_PROGRESS_ID, className="small text-muted ms-2"),
                dcc.Store(id=COMPARISON_DATA_ID),
                study_loading.tag_element(COMPARISON_STUDY_TAG_ID),
            ],
            className="py-2",
        ),
        id=COMPARISON_CARD_ID,
        className="mt-2 mb-3 model-comparison",
    )


def model_labels(bundles: Sequence) -> list[str]:
    """Short names of the compared bundles: their modality ("Multimodal", "Report only", "Image only"), with the
    folder name added where two bundles share a modality (pure)."""
    names = [model_card.MODALITY_NAMES[bundle.modality] for bundle in bundles]
    return [f"{name} ({bundle.path.name})" if names.count(name) > 1 else name
            for name, bundle in zip(names, bundles, strict=True)]


def comparison_document(bundles: Sequence, explanations: Sequence) -> dict:
    """What the card shows for one study: ``{"models": [{"label", "name", "modality"}], "plan", "record"}``.

    Args:
        bundles: The compared bundles, the dashboard's own first.
        explanations: Each bundle's :class:`cxrmodel.explain.Explanation` of the study, in the same order.
    """
    models = [model_explanation(bundle, explanation) for bundle, explanation in zip(bundles, explanations,
                                                                                      strict=True)]
    plan = pair_plan([bundle.modality for bundle in bundles])
    record = study_record("", None, models, plan)
    return {"models": [{"label": label, "name": bundle.name, "modality": bundle.modality}
                       for label, bundle in zip(model_labels(bundles), bundles, strict=True)],
            "plan": plan, "record": record}


def _number(value: float | None, reason: str | None, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if value is not None else f"n/a ({reason})" if reason else "n/a"


def _pair_cells(pair: dict) -> tuple[str, str]:
    """(words, regions) of one pair record in words (pure)."""
    words = pair.get("words")
    regions = pair.get("regions")
    word_text = "not compared: an image-only model reads no report"
    if words is not None:
        overlap = words["top3_overlap"]
        word_text = (f"ρ {_number(words['rank_correlation'], words['reason'])}, top 3 shared "
                     + ("n/a" if overlap is None else f"{round(overlap * 3)} of 3"))
    region_text = "not compared: a text-only model reads no radiograph"
    if regions is not None:
        region_text = (f"circle overlap {_number(regions['overlap'], regions['overlap_reason'])}, map ρ "
                       f"{_number(regions['map_rank_correlation'], regions['map_reason'])}")
    return word_text, region_text


def comparison_table(data: dict | None, shown: dict | None) -> tuple[list | None, dict, str]:
    """``(table children, button style, caption)`` for the shown study (pure).

    Nothing is drawn for data of another study than the one shown; a gated study gets the gated caption and no
    button; an uncompared one the button.
    """
    study = shown.get("study") if isinstance(shown, dict) else None
    if not study or not isinstance(data, dict) or data.get("study") != study:
        return None, HIDDEN, ""
    if data.get("gated"):
        return None, HIDDEN, GATED_TEXT
    comparison = data.get("comparison")
    if not comparison:
        return None, SHOWN, FAILED_TEXT if data.get("failed") else NOT_COMPARED_TEXT
    stamp = f"{SHOWN_ANYWAY_TEXT} " if data.get("shown_anyway") else ""
    models = comparison["models"]
    record = comparison["record"]
    model_rows = [
        html.Tr([html.Td(model["label"]), html.Td(f"{entry['probability']:.3f}"), html.Td(entry["label"]),
                 html.Td(f"{100 * entry['completeness_error']:.1f} %")])
        for model, entry in zip(models, record["models"], strict=True)
    ]
    pair_rows = []
    for plan, pair in zip(comparison["plan"], record["pairs"], strict=True):
        word_text, region_text = _pair_cells(pair)
        agree = "same verdict" if pair["labels_agree"] else "different verdicts"
        pair_rows.append(html.Tr([html.Td(f"{models[plan['a']]['label']} vs {models[plan['b']]['label']}"),
                                  html.Td(agree), html.Td(word_text), html.Td(region_text)]))
    table = [
        dbc.Table([html.Thead(html.Tr([html.Th("Model"), html.Th("P(abnormal)"), html.Th("Verdict"),
                                       html.Th("Completeness error")])),
                   html.Tbody(model_rows)], size="sm", className="mb-2 comparison-models"),
        dbc.Table([html.Thead(html.Tr([html.Th("Pair"), html.Th("Verdicts"), html.Th("Words"),
                                       html.Th("Regions")])),
                   html.Tbody(pair_rows)], size="sm", className="mb-1 comparison-pairs"),
        html.P("Words: Spearman ρ of the signed word scores over the words both models saw, and how many of the "
               "top 3 words they share. Regions: overlap (Jaccard) of the circles at each model's sight "
               "sensitivity, and Spearman ρ of the two attribution maps. 1 = the same, 0 = nothing in common.",
               className="small text-muted mb-1"),
    ]
    return table, HIDDEN, f"{stamp}Study {study} (model outputs, not calibrated)."


def comparison_decision(disclosures: Sequence[Disclosure]) -> Disclosure:
    """The disclosure of a comparison: the strictest of the compared models' (refused over withheld over shown),
    for the models that read the film."""
    order = (REFUSE, WITHHOLD, SHOW)
    return min(disclosures, key=lambda decided: order.index(decided.decision), default=Disclosure())


def disclosed_comparison(bundles: Sequence, explanations: Sequence) -> dict:
    """The :func:`comparison_document` with its ``"decision"``: the strictest disclosure of the models that read
    the film (:func:`comparison_decision`), so that :func:`named` can keep a film nobody may judge out of the store.

    Args:
        bundles: The compared bundles, the dashboard's own first.
        explanations: Each bundle's explanation of the study, in the same order.
    """
    settings = ExplanationSettings()
    decided = comparison_decision([
        Disclosure.of(explanation_document(bundle, explanation, settings))
        for bundle, explanation in zip(bundles, explanations, strict=True) if bundle.reads_image])
    return {**comparison_document(bundles, explanations), "decision": decided.decision}


def named(study_id: str, comparison: dict | None, shown_anyway: bool = False) -> dict:
    """The store's value: the comparison under the name of the study it is of, or only ``"gated"`` when its
    ``"decision"`` (:func:`comparison_decision`) is not shown: no number of a study the model cannot judge is
    stored unless the reader pressed Show anyway for it (never for a refused one)."""
    if comparison is None:
        return {"study": study_id, "comparison": None}
    decided = Disclosure(comparison.get("decision", SHOW)).with_shown_anyway(shown_anyway)
    if not decided.shows("model_comparison"):
        return {"study": study_id, "gated": True}
    return {"study": study_id, "comparison": comparison, "shown_anyway": decided.shown_anyway}


def register_callbacks(app, resolve: Callable, cached_comparison: Callable, compute_comparison: Callable) -> None:
    """The plain callback (from the cache), the background comparison and the table.

    Args:
        app: The Dash app (with a background callback manager).
        resolve: ``resolve(study_id, session_id) -> (image bytes, report text) | None``.
        cached_comparison: ``(image bytes, report) -> dict | None`` from the cache only (no TensorFlow): the
            :func:`comparison_document` with the ``"decision"`` of :func:`comparison_decision`, or None when a
            model has not explained the study yet.
        compute_comparison: ``(image bytes, report, progress) -> dict`` (the same, never None); runs in the job's
            process.
    """

    register_study_check(
        app, data_id=COMPARISON_DATA_ID, button_id=COMPARE_MODELS_ID, progress_id=COMPARISON_PROGRESS_ID,
        resolve=resolve,
        read_cached=lambda study_id, source, shown_anyway: named(study_id, cached_comparison(*source), shown_anyway),
        compute=lambda study_id, source, say, shown_anyway: named(
            study_id, compute_comparison(*source, lambda message: say(f"Comparing: {message}")), shown_anyway),
        failed=lambda study_id: {"study": study_id, "comparison": None, "failed": True},
        starting="Comparing: explaining the study with every model…", name="model comparison",
    )

    @app.callback(
        Output(COMPARISON_TABLE_ID, "children"),
        Output(COMPARE_MODELS_ID, "style"),
        Output(COMPARISON_PROGRESS_ID, "children", allow_duplicate=True),
        # The card's study tag, with its table: the page shows the card only while that study is picked.
        Output(COMPARISON_STUDY_TAG_ID, "children"),
        Input(COMPARISON_DATA_ID, "data"),
        Input(study_loading.SHOWN_STUDY_PAINTED_ID, "data"),
        prevent_initial_call=True,
    )
    def draw(data, shown):
        return (*comparison_table(data, shown), study_loading.tag(shown.get("study") if isinstance(shown, dict)
                                                                  else None))
