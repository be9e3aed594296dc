"""Do the circles survive a second reference image? The stability badge beside the prediction (issue #18).

A study's explanation uses one reference image (the IG image baseline: the mean normal training image for the
demo). The check explains the study again with a second one (:func:`cxrmodel.explain.evidence.second_reference`:
the blurred study for a "mean" explanation) and compares the two maps
(:meth:`cxrmodel.explain.StudyExplainer.stability`): the overlap (Jaccard) of their signal pixels at the current
tau and the rank correlation of the two maps, as a badge — **stable** (both ≥ 0.5), **unstable** (either < 0.2)
or **partly** — with the numbers on hover. When either explanation missed its completeness target the maps are
not a story to compare, and the badge says the check **did not converge** and gives no verdict. The badge follows
the slider in the browser (``cxr.stabilityBadge`` in assets/stability.js; :func:`badge_parts` is its Python
mirror) with no request.

It doubles the gradient work, so it is not computed with every explanation: when the second attribution is
already in the cache the badge is shown as soon as the study is (a plain callback, numpy only); otherwise a
**Check stability** button runs it as a background job (progress shown; bounded by the same job slots as the
explanations) and the result is cached for everyone. Every value names its study, and the badge is drawn only
for the study shown (never another study's under this one's name). A study the model cannot judge
(:class:`cxrmodel.explain.Disclosure`) gets no badge and no button, and its store holds no numbers, unless the
reader pressed Show anyway for it: then the badge is stamped "Shown anyway".

Owns the ids ``stability-data`` (dcc.Store: ``{"study", "stability", "shown_anyway"}``, ``{"study", "gated":
true}`` or None),
``stability-badge``, ``check-stability`` (button) and ``stability-progress``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, dcc, html

from components import study_loading
from components.study_checks import register_study_check
from components.threshold_control import SIGHT_SENSITIVITY_ID, nearest_threshold_index, snap_sight_sensitivity
from cxrmodel.explain import Disclosure
from cxrmodel.explain.evidence import (
    NOT_CONVERGED_TEXT,
    STABLE_OVERLAP,
    UNSTABLE_OVERLAP,
    stability_converged,
    stability_verdict,
)

logger = logging.getLogger(__name__)

STABILITY_DATA_ID = "stability-data"
STABILITY_BADGE_ID = "stability-badge"
CHECK_STABILITY_ID = "check-stability"
STABILITY_PROGRESS_ID = "stability-progress"
CLIENTSIDE_NAMESPACE = "cxr"

VERDICT_COLOURS = {"stable": "success", "partly": "warning", "unstable": "danger"}
SHOWN_ANYWAY_PREFIX = "Shown anyway: "
"""The badge's stamp for a study the model cannot judge, shown anyway (the same words in assets/stability.js)."""
HIDDEN = {"display": "none"}
SHOWN = {"display": "inline-block"}


def layout() -> html.Div:
    """The badge, the button that runs the check, its progress line and the store."""
    return html.Div(
        [
            html.Span(id=STABILITY_BADGE_ID, className="me-2"),
            dbc.Button("Check stability", id=CHECK_STABILITY_ID, size="sm", color="secondary", outline=True,
                       style=HIDDEN, title="Explain this study again with a second reference image and compare the "
                       "two maps (doubles the gradient work; cached)."),
            html.Span(id=STABILITY_PROGRESS_ID, className="small text-muted ms-2"),
            dcc.Store(id=STABILITY_DATA_ID),
        ],
        className="stability-check small mb-3",
    )


def badge_parts(data: dict | None, shown: dict | None, sight_sensitivity: float | None) -> list:
    """``[badge text, badge class, badge title, button style]`` for the study shown (pure; mirrors the JS).

    Nothing (and no button) when the data is for another study than the one shown, or the study is gated.
    """
    study = shown.get("study") if isinstance(shown, dict) else None
    if not study or not isinstance(data, dict) or data.get("study") != study or data.get("gated"):
        return ["", "", "", HIDDEN]
    checked = data.get("stability")
    if not checked:
        return ["", "", "", SHOWN]
    tau = snap_sight_sensitivity(sight_sensitivity)
    index = nearest_threshold_index(checked["thresholds"], tau if tau is not None else 0.0)
    overlap = checked["overlaps"][index] if index >= 0 else None
    rho = checked["rank_correlation"]
    verdict = stability_verdict(overlap, rho)
    overlap_text = "n/a" if overlap is None else f"{overlap:.2f}"
    rho_text = "n/a" if rho is None else f"{rho:.2f}"
    title = (f"Against the {checked['reference']} reference image: signal-pixel overlap {overlap_text} at τ = "
             f"{checked['thresholds'][index]:.2f}, rank correlation of the two maps {rho_text} (stable: both ≥ "
             f"{STABLE_OVERLAP}; unstable: either < {UNSTABLE_OVERLAP}).")
    stamp = SHOWN_ANYWAY_PREFIX if data.get("shown_anyway") else ""
    if not stability_converged(checked):
        return [f"{stamp}Stability check {NOT_CONVERGED_TEXT}",
                "badge bg-secondary stability-not-converged",
                f"Explained again with the {checked['reference']} reference image, the attributions did not add up "
                f"to the change in P: completeness error {checked['completeness_error']:.0%} after "
                f"{checked['steps']} steps, against a target of {checked['target_error']:.0%}. Maps that do not add "
                "up are not a second story to compare the circles with, so the check gives no verdict.", HIDDEN]
    return [f"{stamp}Circles {verdict} under a second reference (overlap {overlap_text}, ρ {rho_text})",
            f"badge bg-{VERDICT_COLOURS[verdict]} stability-{verdict}", title, HIDDEN]


def stability_data(study_id: str | None, source: tuple[bytes, str] | None, stability: Callable,
                   decided: Disclosure | None) -> dict | None:
    """The store's value for a shown study (pure apart from ``stability``, which reads the cache).

    Args:
        decided: The study's disclosure; None = no check for it (not explained, or a model that reads no film).
    """
    if not study_id or source is None:
        return None
    if decided is None or not decided.shows("stability"):
        return {"study": study_id, "gated": True}
    return {"study": study_id, "stability": stability(*source), "shown_anyway": decided.shown_anyway}


def register_callbacks(app, resolve: Callable, cached_stability: Callable, compute_stability: Callable,
                       disclosed: Callable) -> None:
    """The plain callback (from the cache), the background check and the browser-side badge.

    Args:
        app: The Dash app (with a background callback manager).
        resolve: ``resolve(study_id, session_id) -> (image bytes, report text) | None``.
        cached_stability: ``(image bytes, report) -> dict | None`` from the cache only (no TensorFlow).
        compute_stability: ``(image bytes, report, progress) -> dict``; runs in the job's process.
        disclosed: ``(image bytes, report, shown_anyway) -> Disclosure | None``: the study's disclosure (None:
            no check for it).
    """

    def compute(study_id: str, source: tuple[bytes, str], say: Callable[[str], None], shown_anyway: bool) -> dict:
        def progress(fraction: float, message: str) -> None:
            say(f"Checking stability: {message} ({100 * fraction:.0f} %)")

        return stability_data(study_id, source, lambda *study: compute_stability(*study, progress),
                              disclosed(*source, shown_anyway))

    register_study_check(
        app, data_id=STABILITY_DATA_ID, button_id=CHECK_STABILITY_ID, progress_id=STABILITY_PROGRESS_ID,
        resolve=resolve,
        read_cached=lambda study_id, source, shown_anyway: stability_data(
            study_id, source, cached_stability, disclosed(*source, shown_anyway)),
        compute=compute, failed=lambda study_id: {"study": study_id, "stability": None},
        starting="Checking stability: explaining again with a second reference image…", name="stability check",
    )

    app.clientside_callback(
        ClientsideFunction(namespace=CLIENTSIDE_NAMESPACE, function_name="stabilityBadge"),
        Output(STABILITY_BADGE_ID, "children"),
        Output(STABILITY_BADGE_ID, "className"),
        Output(STABILITY_BADGE_ID, "title"),
        Output(CHECK_STABILITY_ID, "style"),
        Input(STABILITY_DATA_ID, "data"),
        Input(study_loading.SHOWN_STUDY_ID, "data"),
        Input(SIGHT_SENSITIVITY_ID, "value"),
    )
