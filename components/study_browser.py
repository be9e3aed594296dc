"""Study browser: a searchable list of the bundled studies; picking one selects it.

Owns the id ``study-picker`` (a searchable dcc.Dropdown whose value is the selected study id).
"""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from cxrmodel.data import StudySummary

STUDY_PICKER_ID = "study-picker"
STUDY_COUNT_ID = "study-count"


def study_option_label(summary: StudySummary) -> str:
    """One line per study: id, label and the MeSH terms it was labelled from (pure)."""
    terms = "; ".join(summary.mesh_terms) if summary.mesh_terms else "no MeSH terms"
    return f"{summary.study_id} — {summary.label_name} ({terms})"


def picker_options(summaries: Sequence[StudySummary]) -> list[dict]:
    """dcc.Dropdown options for the studies, in folder order (pure)."""
    return [{"label": study_option_label(summary), "value": summary.study_id} for summary in summaries]


PROBABILITY_SEPARATOR = " · P(abnormal) "


def with_probability(options: list[dict] | None, study_id: str, probability: float) -> list[dict] | None:
    """The picker options with the model's probability appended to ``study_id``'s label (pure).

    A label that already carries a probability gets the new one instead of a second one.
    """
    if options is None:
        return None
    updated = []
    for option in options:
        if option.get("value") == study_id:
            base = str(option.get("label", study_id)).split(PROBABILITY_SEPARATOR)[0]
            option = {**option, "label": f"{base}{PROBABILITY_SEPARATOR}{probability:.2f}"}
        updated.append(option)
    return updated


def layout(summaries: Sequence[StudySummary], selected: str | None = None) -> html.Div:
    """The picker with a count of the studies it lists."""
    abnormal = sum(summary.label_name == "abnormal" for summary in summaries)
    return html.Div(
        [
            dbc.Label("Study", html_for=STUDY_PICKER_ID, className="fw-semibold"),
            dcc.Dropdown(
                id=STUDY_PICKER_ID,
                options=picker_options(summaries),
                value=selected,
                searchable=True,
                clearable=False,
                placeholder="Search studies by id or finding…",
            ),
            html.Small(
                f"{len(summaries)} studies: {abnormal} abnormal, {len(summaries) - abnormal} normal",
                id=STUDY_COUNT_ID,
                className="text-muted",
            ),
        ]
    )
