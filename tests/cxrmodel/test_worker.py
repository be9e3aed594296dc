"""The model worker (issue #19): `python -m cxrmodel.worker` keeps the bundle loaded and answers over HTTP.

One real worker process on the tiny bundle answers predictions (the probability `cxrmodel predict --json`
gives), explanations (into the cache a fresh StudyExplainer reads) and bad input (a sentence, never a
traceback, and it keeps serving). The bounded queue and the error handling of the HTTP app are checked
in-process against a stand-in service (no TensorFlow).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading

import pytest

from components.server.model_worker import ModelWorkerClient, ModelWorkerRejected, ModelWorkerUnavailable
from cxrmodel.data.openi import load_openi
from cxrmodel.data.synthetic import IMAGES_FOLDER
from cxrmodel.worker.protocol import WorkerInputError, decode_request, encode_request
from tests.serving import free_port, serving

REPORT = "FINDINGS: Large right pleural effusion. IMPRESSION: Effusion."


@pytest.fixture(scope="module")
def study(tiny_studies_directory):
    first = load_openi(tiny_studies_directory, tiny_studies_directory / IMAGES_FOLDER)[0]
    return first.image_paths[0], first.report_text


@pytest.fixture(scope="module")
def worker(tiny_bundle_directory, tmp_path_factory):
    """A worker on the tiny bundle: (client, cache root)."""
    root = tmp_path_factory.mktemp("worker")
    port = free_port()
    command = [sys.executable, "-m", "cxrmodel.worker", "--model", str(tiny_bundle_directory),
               "--cache-dir", str(root / "cache"), "--port", str(port)]
    with serving(command, f"http://127.0.0.1:{port}/health", log_path=root / "worker.log", startup_seconds=180):
        yield ModelWorkerClient(f"http://127.0.0.1:{port}", timeout=60), root / "cache"


def test_predict_through_the_worker_is_the_cli_probability(worker, study, tiny_bundle_directory, capsys):
    from cxrmodel.cli import main

    client, _cache = worker
    image_path, _report = study
    answer = client.predict(image_path.read_bytes(), REPORT)
    assert main(["predict", "--model", str(tiny_bundle_directory), "--image", str(image_path), "--report-text",
                 REPORT, "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    # The tiny bundle has no reference film: the film cannot be compared, so it is judged and shown.
    assert set(answer) == {"label", "probability", "calibrated_probability", "judged", "not_judged_reason",
                           "shown_anyway"}
    # predict --image --json carries the same disclosure keys, and names the study and its label from the report
    assert set(expected) == set(answer) | {"study", "truth_label"}
    assert answer["judged"] is True and answer["not_judged_reason"] is None and answer["shown_anyway"] is False
    assert answer["label"] == expected["label"]
    assert answer["probability"] == pytest.approx(expected["probability"], abs=2e-6)
    assert answer["calibrated_probability"] is None and expected["calibrated_probability"] is None


def test_explain_through_the_worker_fills_the_cache_a_fresh_explainer_reads(worker, study, tiny_bundle_directory):
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    client, cache_root = worker
    image_path, report = study
    image_bytes = image_path.read_bytes()
    first = client.explain(image_bytes, report, request_id="test-explain")
    assert first["cached"] is False and 0.0 <= first["probability"] <= 1.0
    assert client.progress("test-explain")["fraction"] == 1.0
    with ExplanationCache(cache_root / "explanations") as cache:
        explainer = StudyExplainer(load_bundle(tiny_bundle_directory, load_model=False), cache)
        explanation = explainer.cached(image_bytes, report, ExplanationSettings())
        assert explanation is not None, "the dashboard's explainer must find what the worker computed"
        assert explainer.cache_key(image_bytes, report, ExplanationSettings()) == first["key"]
        assert explanation.attribution.evidence is not None  # computed as the dashboard's job computes it
        assert not explainer.bundle.model_loaded
        assert float(explanation.attribution.probability) == pytest.approx(first["probability"], abs=1e-6)
    again = client.explain(image_bytes, report)
    assert again["cached"] is True and again["key"] == first["key"]


@pytest.mark.parametrize(("image", "report", "expected"), [
    (b"not an image at all", REPORT, "cannot be used"),
    (b"", REPORT, "no X-ray image"),
    (None, "", "report is empty"),
    (None, "effusion" * 25_000, "200,000 characters"),
])
def test_bad_input_is_a_sentence_and_the_worker_keeps_serving(worker, study, image, report, expected):
    client, _cache = worker
    image_bytes = study[0].read_bytes() if image is None else image
    with pytest.raises(ModelWorkerRejected, match=expected) as raised:
        client.predict(image_bytes, report)
    assert raised.value.status == 400 and "Traceback" not in str(raised.value)
    with pytest.raises(ModelWorkerRejected, match=expected):  # an explanation checks its inputs as well
        client.explain(image_bytes, report)
    assert client.health()["status"] == "ok"


def test_non_utf8_report_bytes_give_a_valid_probability(worker, study):
    client, _cache = worker
    answer = client.predict(study[0].read_bytes(), b"FINDINGS: \xff\xfe\x81 effusion \x00\x9d right. IMPRESSION: ok")
    assert 0.0 <= answer["probability"] <= 1.0
    assert client.health()["status"] == "ok"


def test_a_malformed_request_is_a_400_sentence(worker):
    client, _cache = worker
    for body in (b"{not json", b"[1, 2]", json.dumps({"image_base64": "%%%", "report": "x"}).encode(),
                 json.dumps({"image_base64": "aGk="}).encode(), b"\xff\xfe"):
        connection = http.client.HTTPConnection(client.host, client.port, timeout=10)
        connection.request("POST", "/predict", body=body)
        response = connection.getresponse()
        document = json.loads(response.read())
        connection.close()
        assert response.status == 400 and document["error"] and "Traceback" not in document["error"]
    assert client.health()["status"] == "ok"


def test_the_worker_holds_the_model_and_counts_its_answers(worker):
    client, _cache = worker
    health = client.health()
    assert health["model"] == "Tiny test model" and health["fingerprint"]
    assert health["max_pending"] >= 1 and health["pending"] == 0


def test_a_client_of_a_port_nobody_listens_on_says_so():
    client = ModelWorkerClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ModelWorkerUnavailable, match="not answering"):
        client.predict(b"x", "y")
    assert not client.available()


def test_request_bodies_round_trip_and_refuse_bad_fields():
    assert decode_request(encode_request(b"\x89PNG", "report", "id-1")) == (b"\x89PNG", "report", "id-1", False,
                                                                            "all", None)
    assert decode_request(encode_request(b"img", b"\xff bytes")) == (b"img", b"\xff bytes", None, False, "all",
                                                                      None)
    assert decode_request(encode_request(b"img", "r", shown_anyway=True)).shown_anyway is True
    for body in (b"", b"null", json.dumps({"report": "x"}).encode(),
                 json.dumps({"image_base64": "aGk=", "report": 3}).encode(),
                 json.dumps({"image_base64": "aGk=", "report": "x", "request_id": "../etc"}).encode(),
                 json.dumps({"image_base64": "aGk=", "report": "x", "shown_anyway": "yes"}).encode()):
        with pytest.raises(WorkerInputError):
            decode_request(body)


class _BlockingService:
    """Stands in for ModelService: ``predict`` waits until released; ``explain`` fails."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def health(self) -> dict:
        return {"status": "ok"}

    def progress(self, request_id):
        return None

    def predict(self, image_bytes, report, *, shown_anyway=False):
        self.entered.set()
        self.release.wait(10)
        return {"probability": 0.5}

    def explain(self, image_bytes, report, request_id, *, shown_anyway=False, evidence="all", sight_sensitivity=None):
        raise RuntimeError("the disk is full")


def test_a_full_queue_is_answered_503_busy_at_once_and_failures_are_sentences():
    from werkzeug.test import Client

    from cxrmodel.worker.server import WorkerApplication

    service = _BlockingService()
    application = WorkerApplication(service, max_pending=1)
    answers = []
    first = threading.Thread(target=lambda: answers.append(
        Client(application).post("/predict", data=encode_request(b"img", "report"))))
    first.start()
    assert service.entered.wait(10)
    busy = Client(application).post("/predict", data=encode_request(b"img", "report"))
    assert busy.status_code == 503 and "busy" in busy.get_json()["error"]
    assert Client(application).get("/health").status_code == 200  # never queued
    service.release.set()
    first.join(10)
    assert answers[0].status_code == 200 and application.pending == 0
    failed = Client(application).post("/explain", data=encode_request(b"img", "report"))
    assert failed.status_code == 500 and "the disk is full" in failed.get_json()["error"]
    assert Client(application).get("/nowhere").status_code == 404
    assert Client(application).get("/predict").status_code == 405
