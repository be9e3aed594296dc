"""20 browser sessions at once against a real server (127.0.0.1): each uploads its own study, has it explained by
a background job and opens it; every result is correct for its own upload, and no session can open another's.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests.load.dash_client import DashPage
from tests.serving import free_port, serving

SESSIONS = 20


@pytest.fixture(scope="module")
def server_url(tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--model", str(tiny_bundle_directory),
               "--studies", str(tiny_studies_directory), "--cache-dir", str(tmp_path_factory.mktemp("cache"))]
    with serving(command, url, log_path=log_path, startup_seconds=180):
        yield url
    text = log_path.read_text()
    assert "Traceback" not in text
    assert "effusion in session" not in text  # reports never reach the log


def _study(index: int) -> tuple[bytes, str]:
    """A distinct radiograph-like PNG and report per session."""
    rng = np.random.default_rng(index)
    rows, columns = np.mgrid[0:120, 0:100]
    pixels = 90 + 60 * np.sin(rows / (6 + index)) + 40 * rng.random((120, 100))
    pixels[40 + index: 60 + index, 30:50] += 80 * (index % 2)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "PNG")
    report = ("Large pleural effusion in session %d. Heart enlarged." if index % 2 else
              "No acute disease in session %d. Lungs are clear.") % index
    return buffer.getvalue(), report


def _value(response: dict, component_id: str, prop: str):
    for key, value in response.get(component_id, {}).items():
        if key.split("@")[0] == prop:
            return value
    return None


def _probability(prediction_children) -> float:
    return float(re.search(r'"children": "([0-9.]+)", "className": "display-6"', json.dumps(prediction_children))
                 .group(1))


def _session(url: str, index: int) -> dict:
    page = DashPage(url, timeout=600)
    image, report = _study(index)
    contents = "data:image/png;base64," + base64.b64encode(image).decode()
    started = time.perf_counter()
    uploaded = page.call("study-picker.options", {"analyze.n_clicks": 1}, {
        "upload-image.contents": contents, "upload-image.filename": f"session-{index}.png",
        "report-text.value": report, "session-id.data": page.session_id, "study-picker.options": []})
    upload_id = _value(uploaded, "study-picker", "value")
    # The page's own flow: the study callback asks for a job (the upload is not cached), the background job answers
    # on explanation-ready, and the browser hands that to the study callback as study-refresh.
    request = {"study": upload_id, "at": time.time()}
    ready = page.call("explanation-ready.data", {"explanation-request.data": request},
                      {"session-id.data": page.session_id})
    shown = page.call("xray-graph.figure", {
        "study-picker.value": upload_id, "study-refresh.data": _value(ready, "explanation-ready", "data"),
        "restart-explanation.n_clicks": None, "link-distance.value": None, "min-points.value": None},
        {"session-id.data": page.session_id, "study-picker.options": [], "sight-sensitivity.value": 0.7,
         "explanation-request.data": request}, changed="study-refresh.data")
    return {"page": page, "upload_id": upload_id, "report": report, "image": image,
            "seconds": time.perf_counter() - started,
            "probability": _probability(_value(shown, "prediction", "children")),
            "report_shown": _value(shown, "study-report", "children"),
            "sweep": _value(shown, "circle-sweep", "data")}


def test_twenty_sessions_at_once_each_see_only_their_own_correct_result(server_url, tiny_bundle_directory):
    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        results = list(pool.map(lambda index: _session(server_url, index), range(SESSIONS)))

    from cxrmodel.explain import ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    explainer = StudyExplainer(load_bundle(tiny_bundle_directory))
    assert len({result["page"].session_id for result in results}) == SESSIONS
    assert len({result["upload_id"] for result in results}) == SESSIONS
    for index, result in enumerate(results):
        assert result["report_shown"] == result["report"]  # its own report, nobody else's
        assert result["sweep"]["image"] == {"width": 100, "height": 120}
        expected = explainer.explain(result["image"], result["report"], ExplanationSettings()).attribution.probability
        assert result["probability"] == pytest.approx(expected, abs=6e-4), index

    # Another session cannot open an upload, even knowing its id.
    thief, victim = results[0]["page"], results[1]
    stolen = thief.call("xray-graph.figure", {
        "study-picker.value": victim["upload_id"], "study-refresh.data": None, "link-distance.value": None,
        "min-points.value": None}, {"session-id.data": thief.session_id, "study-picker.options": [],
                                    "sight-sensitivity.value": 0.7})
    assert _value(stolen, "circle-sweep", "data") is None
    assert "another session" in json.dumps(_value(stolen, "study-error", "children"))
    assert victim["report"] not in json.dumps(stolen)
    # The server still answers.
    assert urllib.request.urlopen(server_url, timeout=10).status == 200
