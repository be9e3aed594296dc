"""The web side of the model worker (issue #19): the supervisor restarts a killed worker, the client says what
happened in a sentence, nothing cached is lost, and importing it loads no TensorFlow.

The supervised worker runs on the tiny bundle with a pause of ``DELAY`` seconds before each computation, so a
request can be caught in flight (``kill -9``, a full queue, a client timeout).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from components.server.model_worker import (
    EXPLAINED_WORDS,
    FALLBACK_WORDS,
    LOADING_MODEL_WORDS,
    SENDING_WORDS,
    ModelWorkerClient,
    ModelWorkerError,
    ModelWorkerRejected,
    ModelWorkerStarting,
    ModelWorkerSupervisor,
    ModelWorkerUnavailable,
    explain_via_worker,
    progress_words,
)
from cxrmodel.data.openi import load_openi
from cxrmodel.data.synthetic import IMAGES_FOLDER
from tests.serving import free_port

DELAY = 1.5
RESTART_SECONDS = 60.0
"""Bound on a restart in the test (TensorFlow's import on 2 shared cores); measured: a few seconds."""


@pytest.fixture(scope="module")
def studies(tiny_studies_directory):
    return [(study.image_paths[0].read_bytes(), study.report_text)
            for study in load_openi(tiny_studies_directory, tiny_studies_directory / IMAGES_FOLDER)]


@pytest.fixture(scope="module")
def supervisor(tiny_bundle_directory, tmp_path_factory):
    root = tmp_path_factory.mktemp("supervised")
    supervisor = ModelWorkerSupervisor(tiny_bundle_directory, root / "cache", max_pending=1,
                                       log_path=root / "worker.log", extra_arguments=("--debug-delay", str(DELAY)))
    supervisor.start()
    try:
        supervisor.wait_ready(180)
        yield supervisor
    finally:
        supervisor.stop()
        assert supervisor.status()["running"] is False


def _idle(client: ModelWorkerClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.health()["pending"] == 0:
                return
        except ModelWorkerError:
            pass
        time.sleep(0.1)
    raise AssertionError("the worker stayed busy")


def _inside_a_request(client: ModelWorkerClient, timeout: float = 30.0) -> None:
    """Wait until the worker has admitted a request (it then pauses DELAY seconds before computing)."""
    deadline = time.monotonic() + timeout
    while client.health()["pending"] < 1:
        assert time.monotonic() < deadline, "the request never reached the worker"
        time.sleep(0.02)


def _in_thread(function, *arguments):
    outcome = {}

    def run():
        try:
            outcome["result"] = function(*arguments)
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_full_queue_is_a_clear_busy_message(supervisor, studies):
    client = supervisor.client(timeout=30)
    _idle(client)
    thread, outcome = _in_thread(client.predict, *studies[0])
    _inside_a_request(client)
    with pytest.raises(ModelWorkerUnavailable, match="busy") as raised:
        client.predict(*studies[1])
    assert raised.value.status == 503
    thread.join(30)
    assert 0.0 <= outcome["result"]["probability"] <= 1.0


def test_a_slow_answer_is_a_timeout_message(supervisor, studies):
    client = supervisor.client(timeout=DELAY / 3)
    _idle(client)
    with pytest.raises(ModelWorkerUnavailable, match=r"did not answer within"):
        client.predict(*studies[0])


def test_kill_9_during_a_request_restarts_the_worker_and_loses_nothing_cached(supervisor, studies,
                                                                             tiny_bundle_directory):
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    client = supervisor.client(timeout=30)
    _idle(client)
    image_bytes, report = studies[2]
    before = client.explain(image_bytes, report)
    assert before["cached"] is False
    restarts, old_pid = supervisor.restarts, supervisor.pid

    thread, outcome = _in_thread(client.predict, *studies[3])
    _inside_a_request(client)
    os.kill(old_pid, signal.SIGKILL)
    killed = time.monotonic()
    thread.join(30)
    error = outcome.get("error")
    assert isinstance(error, ModelWorkerUnavailable), outcome
    assert "stopped while answering" in str(error) and "restarted" in str(error)
    # While it restarts, a request is refused with a sentence, not a traceback.
    with pytest.raises(ModelWorkerUnavailable, match="starting or being restarted|stopped while answering"):
        client.predict(*studies[3])

    health = supervisor.wait_ready(RESTART_SECONDS)
    back_after = time.monotonic() - killed
    print(f"worker back {back_after:.1f} s after kill -9")
    assert back_after < RESTART_SECONDS
    assert health["pid"] != old_pid and supervisor.pid == health["pid"]
    assert supervisor.restarts == restarts + 1
    assert supervisor.last_restart_reason == "killed by SIGKILL"
    assert health["restarts"] == supervisor.restarts and health["last_restart_reason"] == "killed by SIGKILL"
    assert 0.0 <= client.predict(*studies[3])["probability"] <= 1.0  # the next request succeeds
    assert client.explain(image_bytes, report)["cached"] is True  # nothing cached is lost
    with ExplanationCache(supervisor.cache_directory / "explanations") as cache:
        explainer = StudyExplainer(load_bundle(tiny_bundle_directory, load_model=False), cache)
        assert explainer.cached(image_bytes, report, ExplanationSettings()) is not None


def test_explain_via_worker_relays_progress_into_the_shared_cache(supervisor, studies):
    client = supervisor.client(timeout=30)
    _idle(client)
    messages = []
    answer = explain_via_worker(client, *studies[4], lambda fraction, message: messages.append((fraction, message)),
                                poll_seconds=0.1)
    assert answer is not None and answer["cached"] is False
    assert messages[0] == (0.0, SENDING_WORDS)
    assert messages[-1] == (1.0, EXPLAINED_WORDS)
    assert any("Computing the explanation" in message for _fraction, message in messages[1:-1])
    assert not any(_internal(message) for _fraction, message in messages)
    assert all(0.0 <= fraction <= 1.0 for fraction, _message in messages)


def _internal(words: str) -> bool:
    """True when progress words show an internal address."""
    return "http://" in words or "127.0.0.1" in words


def test_explain_via_worker_waits_for_a_worker_that_is_loading_then_falls_back_in_plain_words():
    client = ModelWorkerClient(f"http://127.0.0.1:{free_port()}", explain_timeout=5)
    messages, computed = [], []
    answer = explain_via_worker(client, b"image", "report", lambda fraction, message: messages.append(message),
                                lambda image, report, progress: computed.append((image, report)),
                                start_wait_seconds=1.0)
    assert answer is None and computed == [(b"image", "report")]
    assert messages[0] == SENDING_WORDS and messages[-1] == FALLBACK_WORDS
    assert LOADING_MODEL_WORDS in messages  # while nothing listens yet: the model is loading
    assert not any(_internal(message) or "try again" in message for message in messages)
    with pytest.raises(ModelWorkerUnavailable, match="not answering"):
        explain_via_worker(client, b"image", "report", None, start_wait_seconds=0.0)


def test_progress_words_never_show_an_address_or_tell_the_reader_to_retry():
    client = ModelWorkerClient(f"http://127.0.0.1:{free_port()}", health_timeout=1)
    with pytest.raises(ModelWorkerStarting) as refused:
        client.health()
    assert not _internal(str(refused.value))
    errors = [refused.value, ModelWorkerUnavailable("the model did not answer within 30 s"),
              ModelWorkerUnavailable("the model cannot be reached (see the server log)")]
    for error in errors:
        for falling_back in (False, True):
            words = progress_words(error, falling_back)
            assert words and not _internal(words) and "try again" not in words
    assert progress_words(refused.value, falling_back=False) == LOADING_MODEL_WORDS


def test_explain_via_worker_does_not_fall_back_on_bad_input(supervisor):
    client = supervisor.client(timeout=30)
    _idle(client)
    computed = []
    with pytest.raises(ModelWorkerRejected, match="cannot be used"):
        explain_via_worker(client, b"not an image", "report", None, lambda *arguments: computed.append(1))
    assert computed == []


def test_a_worker_url_must_be_http_host_and_port():
    for url in ("127.0.0.1:8061", "https://127.0.0.1:8061", "http://127.0.0.1"):
        with pytest.raises(ValueError, match="http://127.0.0.1:8061"):
            ModelWorkerClient(url)


def test_the_web_side_of_the_worker_loads_no_tensorflow():
    from tests.test_import_boundaries import _heavy, _loaded_modules

    modules, _ = _loaded_modules("import components.server.model_worker\nimport cxrmodel.worker")
    assert _heavy(modules) == []
    assert "cxrmodel.worker.service" not in modules and "cxrmodel.worker.server" not in modules


def _worker_children(process_id: int) -> list:
    import psutil

    try:
        children = psutil.Process(process_id).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "cxrmodel.worker" in child.cmdline():
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_python_app_py_supervises_a_worker_that_leaves_with_it(tiny_bundle_directory, tiny_studies_directory,
                                                                tmp_path):
    import sys

    from tests.serving import serving

    port = free_port()
    command = [sys.executable, "app.py", "--no-warm-up", "--port", str(port), "--model", str(tiny_bundle_directory),
               "--studies", str(tiny_studies_directory), "--cache-dir", str(tmp_path / "cache")]
    environment = {"CXR_MODEL_WORKER_URL": "", "CXR_REDIS_URL": ""}
    with serving(command, f"http://127.0.0.1:{port}/", environment=environment,
                 log_path=tmp_path / "app.log") as process:
        workers = _worker_children(process.pid)
        assert len(workers) == 1, (tmp_path / "app.log").read_text()[-2000:]
        arguments = workers[0].cmdline()
        worker_port = int(arguments[arguments.index("--port") + 1])
        assert arguments[arguments.index("--cache-dir") + 1] == str(tmp_path / "cache")
        supervisor_like = ModelWorkerSupervisor(tiny_bundle_directory, tmp_path / "cache", port=worker_port)
        health = supervisor_like.wait_ready(180)
        assert health["pid"] == workers[0].pid and health["cache_directory"] == str(tmp_path / "cache" / "explanations")
    workers[0].wait(30)  # the app is gone (SIGTERM, no atexit): the worker notices its parent left and stops


def test_the_model_worker_switch_and_its_environment_variable(monkeypatch):
    import app as dashboard

    assert dashboard.parse_arguments([]).model_worker is True
    assert dashboard.parse_arguments(["--no-model-worker"]).model_worker is False
    monkeypatch.setenv("CXR_MODEL_WORKER_URL", "http://127.0.0.1:8061")
    assert dashboard.config_from_environment().model_worker_url == "http://127.0.0.1:8061"


def test_a_worker_that_cannot_start_is_retried_ever_more_slowly(tmp_path):
    supervisor = ModelWorkerSupervisor(tmp_path / "no-bundle", tmp_path / "cache", log_path=tmp_path / "worker.log")
    supervisor.start()
    try:
        deadline = time.monotonic() + 60
        while supervisor.restarts < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert supervisor.restarts >= 2
        assert supervisor.last_restart_reason == "exited with status 2"
        assert "error: model bundle" in (tmp_path / "worker.log").read_text()
        with pytest.raises(ModelWorkerUnavailable, match="did not start within 1 s"):
            supervisor.wait_ready(1)
    finally:
        supervisor.stop()
