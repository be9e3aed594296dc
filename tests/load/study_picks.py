"""Picking a study in the list, as the browser does it, over HTTP (tests.load.dash_client).

A pick in the study list fires the study callback (first output ``xray-graph.figure``: radiograph, circles, sweep,
prediction, report) with every Input and State the page holds at that moment, ``study-picker.value`` changed.
Its response sets ``shown-study.data``; once the browser has painted it, the page copies it into
``shown-study-painted.data`` (assets/study_loading.js), which fires the details callback (first output
``words-graph.figure``: the word heatmap, the strongest words and the sweep chart) in a second request. (The same
change also fires the stability, what-if and review callbacks, which this module does not replay.)

The values of the inputs and states not changed by the pick are the page's own, read from the layout as served
(``/_dash-layout``): a page that has just loaded and opens a study. Used by the cached-open load benchmark and its
correctness test (benchmarks/load_benchmark.py, tests/load/test_cached_opens_gunicorn.py); standard library only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from tests.load.dash_client import DashPage

STUDY_OUTPUT = "xray-graph.figure"
"""The first output of the study callback (components.study_view ``show_study``)."""
DETAILS_OUTPUT = "words-graph.figure"
"""The first output of the details callback on ``shown-study`` (components.study_view ``show_study_details``)."""
PICKED = "study-picker.value"
SHOWN = "shown-study.data"
PAINTED = "shown-study-painted.data"
SHOWN_TAG = "shown-study-tag.children"
DETAILS_TAG = "details-study-tag.children"


def layout_value(page: DashPage, key: str):
    """The value of ``"id.property"`` in the page's layout as served (None when the layout does not set it)."""
    component_id, prop = key.split(".", 1)
    component = page.component(component_id)
    return None if component is None else component.get("props", {}).get(prop)


def callback_values(page: DashPage, first_output: str, changed: dict) -> tuple[dict, dict]:
    """(inputs, state) of the callback whose first output is ``first_output``: the page's layout values, with the
    ``changed`` ones (``"id.property"``: value) put in; every Input and State of the callback's spec is filled.

    Raises:
        KeyError: a key of ``changed`` is neither an Input nor a State of that callback (the spec changed).
    """
    spec = page.callback_spec(first_output)
    keys = {"inputs": [f"{entry['id']}.{entry['property']}" for entry in spec["inputs"]],
            "state": [f"{entry['id']}.{entry['property']}" for entry in spec["state"]]}
    unknown = set(changed) - set(keys["inputs"]) - set(keys["state"])
    if unknown:
        raise KeyError(f"{first_output}: no Input or State {sorted(unknown)} (its spec: {keys})")
    filled = {part: {key: changed[key] if key in changed else layout_value(page, key) for key in listed}
              for part, listed in keys.items()}
    return filled["inputs"], filled["state"]


def value(response: dict, key: str):
    """``"id.property"`` of a callback response (Dash suffixes a duplicate output's property with ``@<hash>``)."""
    component_id, prop = key.split(".", 1)
    for name, found in response.get(component_id, {}).items():
        if name.split("@")[0] == prop:
            return found
    return None


def tag(study_id: str) -> str:
    """A study tag's text (components.study_loading.tag, repeated here: no dashboard import in the client)."""
    return study_id or ""


@dataclass
class Pick:
    """One pick's responses and client-side latencies (milliseconds, request sent to response parsed)."""

    study_id: str
    study: dict
    study_ms: float
    details: dict | None = None
    details_ms: float = 0.0


def open_study(page: DashPage, study_id: str, details: bool = False) -> Pick:
    """Pick ``study_id`` on ``page``: the study callback, then (``details``) the details callback with the
    ``shown-study`` value the first response set (as ``shown-study-painted``), as the browser sends it."""
    inputs, state = callback_values(page, STUDY_OUTPUT, {PICKED: study_id, "session-id.data": page.session_id})
    started = time.perf_counter()
    study = page.call(STUDY_OUTPUT, inputs, state, changed=PICKED)
    pick = Pick(study_id, study, (time.perf_counter() - started) * 1000.0)
    if details:
        shown = value(study, SHOWN)
        inputs, state = callback_values(page, DETAILS_OUTPUT, {PAINTED: shown, PICKED: study_id,
                                                               "session-id.data": page.session_id})
        started = time.perf_counter()
        pick.details = page.call(DETAILS_OUTPUT, inputs, state, changed=PAINTED)
        pick.details_ms = (time.perf_counter() - started) * 1000.0
    return pick


def drawn_problem(pick: Pick) -> str | None:
    """Why ``pick`` is not its study drawn from the cache (None when it is): the circle sweep is there, the
    figure's ``layout.uirevision``, ``shown-study`` and the tags name the study picked, and the details (when
    asked for) are that study's words."""
    sweep = value(pick.study, "circle-sweep.data")
    if not isinstance(sweep, dict) or not sweep.get("thresholds"):
        return "no circle sweep (not drawn from the cache)"
    figure = value(pick.study, STUDY_OUTPUT) or {}
    revision = (figure.get("layout") or {}).get("uirevision")
    if revision != pick.study_id:
        return f"figure of {revision!r}"
    shown = value(pick.study, SHOWN) or {}
    if shown.get("study") != pick.study_id or not shown.get("drawn"):
        return f"shown-study {json.dumps(shown)}"
    if value(pick.study, SHOWN_TAG) != tag(pick.study_id):
        return f"shown-study-tag {value(pick.study, SHOWN_TAG)!r}"
    if pick.details is not None:
        if value(pick.details, DETAILS_TAG) != tag(pick.study_id):
            return f"details tag {value(pick.details, DETAILS_TAG)!r}"
        if not value(pick.details, DETAILS_OUTPUT):
            return "no words figure"
    return None
