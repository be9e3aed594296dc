"""Cached opens under gunicorn (2 sync workers, 127.0.0.1): 20 sessions at once each pick every cached study, as
the browser does (the study callback, then the details callback on ``shown-study``: tests.load.study_picks), and
every response is that study, drawn: the same circles at every slider threshold and the same words as a direct
computation in this process, and no other study's id in it. Both paths: stored study views (the default; the first
opens of a study race to draw and store its view) and ``CXR_STORED_VIEWS=0`` (every open drawn from the cached
explanation). (The timing targets are benchmarks/load_benchmark.py's; nothing here is timed.)
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.load import study_picks
from tests.load.dash_client import DashPage
from tests.serving import free_port, gunicorn_command, serving

SESSIONS = 20
STUDIES = 8  # at most: the tiny collection has six


def _plain(value):
    """A callback value as the page receives it: serialized as Dash does (plotly's JSON encoder), parsed back."""
    from dash._utils import to_json

    return json.loads(to_json(value))


@pytest.fixture(scope="module", params=["1", "0"], ids=["stored-views", "stored-views-off"])
def served(request, tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    """The studies explained first, in this process, into the cache the server reads; then gunicorn on it."""
    from cxrmodel.data import StudyCollection
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    cache = tmp_path_factory.mktemp("cache")
    collection = StudyCollection.from_folder(tiny_studies_directory)
    study_ids = [summary.study_id for summary in collection.summaries()][:STUDIES]
    explainer = StudyExplainer(load_bundle(tiny_bundle_directory), ExplanationCache(cache / "explanations"))
    for study_id in study_ids:
        explainer.explain(collection.image_path(study_id).read_bytes(), collection.get(study_id).report_text,
                          ExplanationSettings())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "gunicorn.log"
    environment = {"CXR_MODEL": str(tiny_bundle_directory), "CXR_STUDIES": str(tiny_studies_directory),
                   "CXR_CACHE_DIR": str(cache), "CXR_STORED_VIEWS": request.param}
    with serving(gunicorn_command(2, port, timeout_seconds=120), url, environment=environment, log_path=log_path,
                 startup_seconds=180):
        yield {"url": url, "explainer": explainer, "collection": collection, "study_ids": study_ids}
    assert "Traceback" not in log_path.read_text()


def _expected(served: dict, page: DashPage) -> dict:
    """Per study, what a pick on a freshly loaded ``page`` must show, computed here from the explanation itself
    (``StudyExplainer.explain``, then the presenter's and the detection's own functions)."""
    from components import presenter
    from cxrmodel.detection import circle_sweep

    explainer, collection = served["explainer"], served["collection"]
    settings = presenter.explanation_settings(
        *(study_picks.layout_value(page, key) for key in
          ("link-distance.value", "min-points.value", "sight-sensitivity.value", "attribution-smoothing.value")))
    resolver = presenter.StudyResolver(collection)
    expected = {}
    for study_id in served["study_ids"]:
        source = resolver.source(study_id, page.session_id)
        explanation = explainer.explain(source.image_bytes, source.report_text, settings)
        panel, _ = presenter.render_explanation(source, explanation, explainer, settings, collection, details=True)
        sweep = circle_sweep(explanation.attribution.image_attribution, explanation.prepared.mapping,
                             explanation.link_distance, settings.min_points)
        expected[study_id] = {
            "sweep": _plain(panel.circle_sweep),
            "circles": _plain({"thresholds": sweep["thresholds"], "circles": sweep["circles"]}),
            "shapes": _plain(panel.xray_figure)["layout"].get("shapes"),
            "words": _plain(panel.words_figure),
            "strongest": _plain(panel.strongest_words),
        }
    return expected


def _session(url: str, study_ids: list[str], index: int) -> tuple[DashPage, list[study_picks.Pick]]:
    page = DashPage(url, timeout=120)
    turn = index % len(study_ids)  # sessions start at different studies, so every study is opened at once
    return page, [study_picks.open_study(page, study_id, details=True)
                  for study_id in study_ids[turn:] + study_ids[:turn]]


def test_twenty_sessions_open_cached_studies_each_drawn_as_computed_directly(served):
    study_ids = served["study_ids"]
    assert len(study_ids) >= 2
    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        sessions = list(pool.map(lambda index: _session(served["url"], study_ids, index), range(SESSIONS)))

    assert len({page.session_id for page, _ in sessions}) == SESSIONS
    expected = _expected(served, sessions[0][0])
    assert any(circles for item in expected.values() for circles in item["circles"]["circles"]), \
        "no study has a circle at any threshold: the comparison would be empty"
    for page, picks in sessions:
        assert sorted(pick.study_id for pick in picks) == sorted(study_ids)
        for pick in picks:
            where = f"session {page.session_id}, {pick.study_id}"
            assert study_picks.drawn_problem(pick) is None, (where, study_picks.drawn_problem(pick))
            want = expected[pick.study_id]
            sweep = study_picks.value(pick.study, "circle-sweep.data")
            assert sweep == want["sweep"], where
            assert {"thresholds": sweep["thresholds"], "circles": sweep["circles"]} == want["circles"], where
            figure = study_picks.value(pick.study, "xray-graph.figure")
            assert figure["layout"].get("shapes") == want["shapes"], where
            assert study_picks.value(pick.details, "words-graph.figure") == want["words"], where
            assert study_picks.value(pick.details, "strongest-words.children") == want["strongest"], where
            # No other study's id anywhere in either response (the study list, which names them all, aside).
            others = [other for other in study_ids if other != pick.study_id]
            text = json.dumps({key: item for key, item in pick.study.items() if key != "study-picker"})
            text += json.dumps(pick.details)
            found = [other for other in others if re.search(rf"(?<![\w]){re.escape(other)}(?![\w])", text)]
            assert not found, (where, found)
