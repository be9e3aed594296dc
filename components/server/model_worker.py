"""The web side of the model worker (issue #19): a client, a supervisor, and the explanation job's entry point.

The model worker (``python -m cxrmodel.worker``, :mod:`cxrmodel.worker`) is one process per machine that keeps
the bundle loaded and answers predictions and explanations over HTTP on 127.0.0.1. This module never imports
TensorFlow (nor the worker's server): the web process only talks to it.

* :class:`ModelWorkerClient` — ``predict``, ``explain``, ``progress``, ``health``, each with a timeout. Every
  failure is a :class:`ModelWorkerError` with a sentence for the page: :class:`ModelWorkerUnavailable` (down,
  restarting, timed out, busy) or :class:`ModelWorkerRejected` (the input cannot be used). Never a traceback.
* :class:`ModelWorkerSupervisor` — what ``python app.py`` runs: starts the worker as a subprocess, watches it
  from a daemon thread, restarts it within seconds when it dies (``restarts``, ``last_restart_reason``) and
  stops it at exit. Under gunicorn start ``python -m cxrmodel.worker`` yourself and set
  ``CXR_MODEL_WORKER_URL`` (docs/deployment.md).
* :func:`explain_via_worker` — what an explanation job calls instead of ``explainer.attribute``: the worker
  computes into the shared cache, progress is relayed, and a worker that is unavailable falls back (with a
  message) to computing in the job.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from cxrmodel.worker.protocol import (
    ABANDONED_MESSAGE,
    DEFAULT_HOST,
    DEFAULT_MAX_PENDING,
    EXPLAIN_PATH,
    GAVE_WAY_MESSAGE,
    HEALTH_PATH,
    PREDICT_PATH,
    PROGRESS_PATH,
    encode_request,
)

logger = logging.getLogger(__name__)

WORKER_URL_VARIABLE = "CXR_MODEL_WORKER_URL"
"""Environment variable naming an already running model worker (``http://127.0.0.1:PORT``)."""
DEFAULT_PREDICT_TIMEOUT = 30.0
DEFAULT_EXPLAIN_TIMEOUT = 900.0
DEFAULT_HEALTH_TIMEOUT = 2.0
DEFAULT_START_WAIT = 90.0
"""Seconds an explanation job waits for a worker that is still loading the model before computing by itself."""
START_POLL_SECONDS = 0.25
"""How often a job asks again whether a worker that is loading the model answers yet."""
LOADING_MODEL_WORDS = "Loading the model (first start takes about 30 s)…"
SENDING_WORDS = "Starting the explanation…"
EXPLAINED_WORDS = "Explained"
FALLBACK_WORDS = "Computing the explanation here instead (loading the model, about 30 s)…"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

Progress = Callable[[float, str], None]


MAX_GIVE_WAY = 1000
"""How often a job asks again for the evidence at every threshold after it gave way to another study (a bound
that a reader on one study never reaches: each time is a wait for a free turn)."""

class ModelWorkerError(Exception):
    """The model worker could not answer; ``str(error)`` is a sentence to show on the page."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ModelWorkerUnavailable(ModelWorkerError):
    """The worker is down, starting, restarting, too slow or busy: trying again later may succeed."""


class ModelWorkerStarting(ModelWorkerUnavailable):
    """Nothing listens on the worker's port yet: it is loading the model, or being restarted."""


class ModelWorkerRejected(ModelWorkerError):
    """The worker refused the input (not an image, an empty report, ...): the message says what to fix."""


class ModelWorkerClient:
    """Talks to one model worker over HTTP (standard library :mod:`http.client`, no proxy, 127.0.0.1)."""

    def __init__(self, url: str, timeout: float = DEFAULT_PREDICT_TIMEOUT,
                 explain_timeout: float = DEFAULT_EXPLAIN_TIMEOUT,
                 health_timeout: float = DEFAULT_HEALTH_TIMEOUT) -> None:
        """Args:
            url: ``http://HOST:PORT`` of the worker.
            timeout: Seconds a prediction may take (connecting included).
            explain_timeout: Seconds an explanation may take.
            health_timeout: Seconds a health or progress check may take.
        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"the model worker URL must look like http://127.0.0.1:8061, got {url!r}")
        self.url = f"http://{parts.hostname}:{parts.port}"
        self.host, self.port = parts.hostname, parts.port
        self.timeout = float(timeout)
        self.explain_timeout = float(explain_timeout)
        self.health_timeout = float(health_timeout)

    def health(self) -> dict:
        """The worker's state (model, fingerprint, pid, uptime, pending requests).

        Raises:
            ModelWorkerUnavailable: it does not answer.
        """
        return self._request("GET", HEALTH_PATH, None, self.health_timeout)

    def available(self) -> bool:
        """True when the worker answers its health check now."""
        try:
            self.health()
        except ModelWorkerError:
            return False
        return True

    def predict(self, image_bytes: bytes, report: str | bytes, *, shown_anyway: bool = False) -> dict:
        """``{"label", "probability", "calibrated_probability", "judged", "not_judged_reason", "shown_anyway"}`` of
        one study (as ``cxrmodel predict --json``): the probabilities are null for a film the model cannot judge
        unless ``shown_anyway``.

        Args:
            report: The report text, or a report file's bytes (decoded as an upload is).
            shown_anyway: The reader pressed Show anyway for this study.

        Raises:
            ModelWorkerUnavailable / ModelWorkerRejected / ModelWorkerError: with a sentence for the page.
        """
        return self._request("POST", PREDICT_PATH, encode_request(image_bytes, report, shown_anyway=shown_anyway),
                             self.timeout)

    def explain(self, image_bytes: bytes, report: str | bytes, request_id: str | None = None, *,
                evidence: str | None = None, sight_sensitivity: float | None = None) -> dict:
        """Have the worker compute a study's attribution into the shared cache; returns when it is cached.

        Args:
            image_bytes, report: The study.
            request_id: Name of the progress record.
            evidence: Which deletion evidence to compute with it (``"none"``, ``"current"``, ``"all"``); None =
                the worker's default (all).
            sight_sensitivity: The tau of ``"current"``; None = the bundle's.

        Returns:
            ``{"cached", "key", "probability", "calibrated_probability", "timing_ms", "judged",
            "not_judged_reason", "shown_anyway"}`` (the probabilities null for a film the model cannot judge).
        """
        return self._request("POST", EXPLAIN_PATH,
                             encode_request(image_bytes, report, request_id, evidence=evidence,
                                            sight_sensitivity=sight_sensitivity),
                             self.explain_timeout)

    def progress(self, request_id: str) -> dict | None:
        """``{"fraction", "message", "updated"}`` of an explanation in progress, None when the worker has none."""
        try:
            return self._request("GET", PROGRESS_PATH + request_id, None, self.health_timeout)
        except ModelWorkerError as error:
            if error.status == 404:
                return None
            raise

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> dict:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        started = time.monotonic()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            status = response.status
        # The page shows these sentences: the worker's address and the socket's error go to the server log only.
        except ConnectionRefusedError:
            logger.debug("model worker %s%s: connection refused", self.url, path)
            raise ModelWorkerStarting(
                "the model is not answering yet (it is starting or being restarted)") from None
        except TimeoutError:
            raise ModelWorkerUnavailable(
                f"the model did not answer within {timeout:.0f} s "
                f"(after {time.monotonic() - started:.0f} s); try again later") from None
        except (http.client.RemoteDisconnected, http.client.IncompleteRead, ConnectionResetError,
                BrokenPipeError, ConnectionAbortedError):
            raise ModelWorkerUnavailable(
                "the model stopped while answering (it is being restarted); try again in a few seconds"
            ) from None
        except (OSError, http.client.HTTPException) as error:
            logger.warning("model worker %s%s cannot be reached: %s", self.url, path, error)
            raise ModelWorkerUnavailable("the model cannot be reached (see the server log)") from None
        finally:
            connection.close()
        try:
            document = json.loads(payload)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ModelWorkerError(f"the model worker answered something unreadable (status {status})", status)
        if status == 200:
            return document
        message = str(document.get("error") or f"the model worker answered status {status}")
        if status == 503:
            raise ModelWorkerUnavailable(message, status)
        if status in (400, 413):
            raise ModelWorkerRejected(message, status)
        raise ModelWorkerError(message, status)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class ModelWorkerSupervisor:
    """Starts the model worker as a subprocess, restarts it when it dies, stops it at exit.

    The worker keeps one port for its whole life (restarts included), so :attr:`url` never changes. The
    watching thread polls the process (every ``poll_seconds``) rather than blocking in ``wait``, so it holds no
    lock for long: ``python app.py`` forks a process per explanation job, and a fork taken while a thread
    holds a lock would leave that lock held in the child.
    """

    def __init__(self, model_directory: str | os.PathLike, cache_directory: str | os.PathLike, *,
                 host: str = DEFAULT_HOST, port: int | None = None, max_pending: int = DEFAULT_MAX_PENDING,
                 log_path: str | os.PathLike | None = None, poll_seconds: float = 0.2,
                 extra_arguments: tuple[str, ...] = ()) -> None:
        """Args:
            model_directory: The model bundle.
            cache_directory: The dashboard's cache root (the worker writes its ``explanations/``).
            host: Interface of the worker (127.0.0.1).
            port: Its port; None = a free one, chosen once.
            max_pending: Requests the worker admits at once.
            log_path: Where the worker's output goes (appended); None = this process's stderr.
            poll_seconds: How often the watcher looks at the process.
            extra_arguments: More ``python -m cxrmodel.worker`` arguments.
        """
        self.model_directory = Path(model_directory)
        self.cache_directory = Path(cache_directory)
        self.host = host
        self.port = int(port) if port else _free_port(host)
        self.max_pending = int(max_pending)
        self.log_path = Path(log_path) if log_path is not None else None
        self.poll_seconds = float(poll_seconds)
        self.extra_arguments = tuple(extra_arguments)
        self.restarts = 0
        self.last_restart_reason: str | None = None
        self.last_restart_time: float | None = None
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_at = time.monotonic()
        self._owner_pid = os.getpid()

    @property
    def url(self) -> str:
        """``http://host:port`` of the worker (the same across restarts)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The current worker process's id (None before start)."""
        process = self._process
        return None if process is None else process.pid

    def client(self, **timeouts: float) -> ModelWorkerClient:
        """A client of this worker."""
        return ModelWorkerClient(self.url, **timeouts)

    def command(self) -> list[str]:
        """The worker's command line."""
        return [sys.executable, "-m", "cxrmodel.worker", "--model", str(self.model_directory),
                "--cache-dir", str(self.cache_directory), "--host", self.host, "--port", str(self.port),
                "--max-pending", str(self.max_pending), "--parent-pid", str(os.getpid()),
                "--restarts", str(self.restarts), "--last-restart-reason", self.last_restart_reason or "",
                *self.extra_arguments]

    def start(self) -> ModelWorkerSupervisor:
        """Start the worker and its watcher (returns at once; see :meth:`wait_ready`); stopped at exit."""
        with self._lock:
            if self._thread is not None:
                return self
            self._spawn()
            self._thread = threading.Thread(target=self._watch, daemon=True, name="model-worker-supervisor")
            self._thread.start()
        atexit.register(self.stop)
        return self

    def _spawn(self) -> None:
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if part)
        output = self.log_path.open("ab") if self.log_path is not None else None
        try:
            self._process = subprocess.Popen(self.command(), cwd=PROJECT_ROOT, env=environment,
                                             stdin=subprocess.DEVNULL, stdout=output,
                                             stderr=subprocess.STDOUT if output is not None else None)
        finally:
            if output is not None:
                output.close()
        self._started_at = time.monotonic()
        logger.info("model worker started (pid %d) on %s", self._process.pid, self.url)

    def _watch(self) -> None:
        quick_failures = 0
        while not self._stopping.wait(self.poll_seconds):
            process = self._process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():
                return
            lived = time.monotonic() - self._started_at
            reason = _exit_reason(process.returncode)
            # Killed (a signal: kill -9, the OOM killer) = restarted at once. A worker that keeps exiting by itself
            # soon after its start (a broken bundle, a taken port) is retried ever more slowly, up to every 30 s.
            quick_failures = quick_failures + 1 if process.returncode > 0 and lived < 30 else 0
            delay = min(30.0, 0.0 if quick_failures <= 1 else 2.0 ** (quick_failures - 2))
            logger.warning("model worker (pid %d) %s; restarting it%s", process.pid, reason,
                           f" in {delay:.0f} s" if delay else "")
            if delay and self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.restarts += 1
                self.last_restart_reason = reason
                self.last_restart_time = time.time()
                try:
                    self._spawn()
                except OSError as error:  # cannot even start it (a full process table): try again next round
                    logger.error("cannot restart the model worker: %s", error)

    def wait_ready(self, timeout: float = 120.0) -> dict:
        """Block until the worker answers its health check; returns the health document.

        Raises:
            ModelWorkerUnavailable: not ready within ``timeout`` seconds.
        """
        client = self.client(health_timeout=1.0)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return client.health()
            except ModelWorkerError as error:
                if time.monotonic() > deadline:
                    raise ModelWorkerUnavailable(f"the model worker did not start within {timeout:.0f} s "
                                                 f"({error})") from None
            time.sleep(0.2)

    def status(self) -> dict:
        """``{"url", "pid", "running", "restarts", "last_restart_reason", "last_restart_time"}`` for the page."""
        process = self._process
        return {"url": self.url, "pid": None if process is None else process.pid,
                "running": process is not None and process.poll() is None, "restarts": self.restarts,
                "last_restart_reason": self.last_restart_reason, "last_restart_time": self.last_restart_time}

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and stop the worker (SIGTERM, then SIGKILL after ``timeout`` seconds).

        Does nothing in a forked child (an explanation job of ``python app.py``): only the process that started
        the worker stops it.
        """
        if os.getpid() != self._owner_pid:
            return
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)


def progress_words(error: ModelWorkerUnavailable, falling_back: bool) -> str:
    """What the progress bar says while the worker is unavailable: words a clinician can read, never an address.

    Args:
        error: Why the worker did not answer.
        falling_back: The job now computes the explanation by itself (True) or still waits for the worker (False).
    """
    if falling_back:
        return FALLBACK_WORDS
    if isinstance(error, ModelWorkerStarting):
        return LOADING_MODEL_WORDS
    return "Waiting for the model…"


def explain_via_worker(client: ModelWorkerClient, image_bytes: bytes, report_text: str, progress: Progress | None,
                       fallback: Callable[[bytes, str, Progress | None], object] | None = None, *,
                       poll_seconds: float = 0.5, start_wait_seconds: float = DEFAULT_START_WAIT,
                       evidence: str | None = None, sight_sensitivity: float | None = None) -> dict | None:
    """What an explanation job calls instead of ``explainer.attribute``: the worker computes into the shared cache.

    The request runs in a helper thread; this thread relays the worker's progress (``GET /progress/<id>``) to
    ``progress(fraction, message)``, so ``progress`` is only ever called from the caller's thread. A worker that
    does not answer yet (it is loading the model: ``python app.py`` has just started it) is waited for, up to
    ``start_wait_seconds``, with "Loading the model…" on the bar: loading a second copy of the model in the job
    would only slow both down.

    Args:
        client: The worker's client.
        image_bytes, report_text: The study, exactly as the cache key wants them.
        progress: ``progress(fraction, message)`` (the job's progress bar), or None.
        fallback: ``fallback(image_bytes, report_text, progress)`` — typically ``explainer.attribute`` in the
            job — run when the worker is unavailable, after telling ``progress`` so; None = re-raise.
        poll_seconds: How often the progress is relayed.
        start_wait_seconds: How long a worker that is not answering yet is waited for.
        evidence, sight_sensitivity: Which deletion evidence the worker computes with the attribution
            (:meth:`ModelWorkerClient.explain`).

    Returns:
        The worker's answer (``{"cached", "key", "probability", ...}``), or None when the fallback computed it.

    Raises:
        ModelWorkerRejected: the input cannot be used (the fallback would fail as well).
        ModelWorkerUnavailable: the worker is unavailable and there is no fallback.
        ModelWorkerError: the worker failed.
    """
    if progress is not None:
        progress(0.0, SENDING_WORDS)
    deadline = time.monotonic() + start_wait_seconds
    abandoned_once, gave_way = False, 0
    while True:
        outcome = _explain_once(client, image_bytes, report_text, progress, poll_seconds, evidence, sight_sensitivity)
        error = outcome.get("error")
        if (isinstance(error, ModelWorkerRejected) and str(error) == ABANDONED_MESSAGE and not abandoned_once):
            # This job stalled long enough for the worker to think it was cancelled: ask once more.
            abandoned_once = True
            continue
        if isinstance(error, ModelWorkerRejected) and str(error) == GAVE_WAY_MESSAGE and gave_way < MAX_GIVE_WAY:
            # The last phase gave way to another study's request: ask again (it waits for the next free turn; what
            # is cached is kept). The job is cancelled when its reader leaves, so this ends with the reader.
            gave_way += 1
            continue
        if not isinstance(error, ModelWorkerStarting) or time.monotonic() >= deadline:
            break
        if progress is not None:
            progress(0.0, progress_words(error, falling_back=False))
        time.sleep(min(START_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
    if error is None:
        if progress is not None:
            progress(1.0, EXPLAINED_WORDS)
        return outcome["result"]  # type: ignore[return-value]
    if isinstance(error, ModelWorkerUnavailable) and fallback is not None:
        logger.warning("explaining in the job instead: the model worker at %s: %s", client.url, error)
        if progress is not None:
            progress(0.0, progress_words(error, falling_back=True))
        fallback(image_bytes, report_text, progress)
        return None
    raise error  # type: ignore[misc]


def _explain_once(client: ModelWorkerClient, image_bytes: bytes, report_text: str, progress: Progress | None,
                  poll_seconds: float, evidence: str | None = None,
                  sight_sensitivity: float | None = None) -> dict[str, object]:
    """One explanation request, its progress relayed: ``{"result": answer}`` or ``{"error": ModelWorkerError}``."""
    request_id = uuid.uuid4().hex
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["result"] = client.explain(image_bytes, report_text, request_id, evidence=evidence,
                                               sight_sensitivity=sight_sensitivity)
        except ModelWorkerError as error:
            outcome["error"] = error
        except Exception as error:  # noqa: BLE001 - carried to the caller's thread, which raises it
            outcome["error"] = ModelWorkerError(f"asking the model worker failed ({type(error).__name__}: {error})")

    worker = threading.Thread(target=call, daemon=True, name="model-worker-explain")
    worker.start()
    last: tuple[float, str] | None = None
    while worker.is_alive():
        worker.join(poll_seconds)
        if progress is None or not worker.is_alive():
            continue
        try:
            record = client.progress(request_id)
        except ModelWorkerError:
            continue  # the request's own outcome says what happened
        if record is not None and (record["fraction"], record["message"]) != last:
            last = (record["fraction"], record["message"])
            progress(float(record["fraction"]), str(record["message"]))
    return outcome
