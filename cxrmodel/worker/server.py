"""The model worker's HTTP face: a small Werkzeug WSGI app on 127.0.0.1 with a bounded queue.

Routes (bodies in :mod:`cxrmodel.worker.protocol`): ``GET /health``, ``POST /predict``, ``POST /explain``,
``GET /progress/<request_id>``. At most ``max_pending`` predictions and explanations are admitted at once (a
non-blocking semaphore); one more is answered ``503 {"error": "... busy ..."}`` at once, so a queue never grows
without bound and a caller learns it should retry. Health and progress are never queued. Errors never carry a
traceback: bad input is a 400 with a sentence, a failure a 500 with one (the traceback goes to the log).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cxrmodel.worker.protocol import (
    DEFAULT_MAX_PENDING,
    EXPLAIN_PATH,
    HEALTH_PATH,
    MAX_REQUEST_BYTES,
    PREDICT_PATH,
    PROGRESS_PATH,
    WorkerInputError,
    decode_request,
    valid_request_id,
)
from cxrmodel.worker.service import ModelService

logger = logging.getLogger(__name__)


def _json(document: dict, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


class WorkerApplication:
    """The WSGI app over a :class:`~cxrmodel.worker.service.ModelService`."""

    def __init__(self, service: ModelService, max_pending: int = DEFAULT_MAX_PENDING,
                 max_request_bytes: int = MAX_REQUEST_BYTES) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.service = service
        self.max_pending = int(max_pending)
        self.max_request_bytes = int(max_request_bytes)
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Predictions and explanations admitted right now."""
        return self._pending

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_request_bytes
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        """The answer to one request (never raises)."""
        path = request.path
        try:
            if path == HEALTH_PATH and request.method == "GET":
                return _json({**self.service.health(), "pending": self._pending, "max_pending": self.max_pending})
            if path.startswith(PROGRESS_PATH) and request.method == "GET":
                request_id = path[len(PROGRESS_PATH):]
                record = self.service.progress(request_id) if valid_request_id(request_id) else None
                return _json(record) if record is not None else _json({"error": "no such request"}, 404)
            if path in (PREDICT_PATH, EXPLAIN_PATH):
                if request.method != "POST":
                    return _json({"error": f"{path} takes POST"}, 405)
                return self._admitted(request, path)
            return _json({"error": f"no route {path}"}, 404)
        except Exception as error:  # noqa: BLE001 - the caller gets a sentence; the traceback stays in the log
            logger.exception("model worker: %s failed", path)
            return _json({"error": f"the model worker failed ({type(error).__name__}: {error})"}, 500)

    def _admitted(self, request: Request, path: str) -> Response:
        if not self._slots.acquire(blocking=False):
            return _json({"error": f"the model worker is busy ({self.max_pending} requests at once); "
                                   "try again in a moment", "pending": self._pending}, 503)
        with self._lock:
            self._pending += 1
        try:
            try:
                body = request.get_data(cache=False)
            except RequestEntityTooLarge:
                return _json({"error": f"the request is larger than {self.max_request_bytes / 2**20:.0f} MiB"}, 413)
            try:
                asked = decode_request(body)
                if path == PREDICT_PATH:
                    return _json(self.service.predict(asked.image_bytes, asked.report,
                                                      shown_anyway=asked.shown_anyway))
                return _json(self.service.explain(asked.image_bytes, asked.report, asked.request_id,
                                                  shown_anyway=asked.shown_anyway, evidence=asked.evidence,
                                                  sight_sensitivity=asked.sight_sensitivity))
            except WorkerInputError as error:
                return _json({"error": str(error)}, 400)
        finally:
            with self._lock:
                self._pending -= 1
            self._slots.release()


def serve(service: ModelService, host: str, port: int, *, max_pending: int = DEFAULT_MAX_PENDING,
          parent_pid: int | None = None) -> None:
    """Serve ``service`` on ``host:port`` (threaded) until SIGTERM/SIGINT, or until ``parent_pid`` is gone."""
    server = make_server(host, port, WorkerApplication(service, max_pending), threaded=True)
    stopping = threading.Event()

    def stop(*_signal) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if parent_pid is not None:
        def watch_parent() -> None:
            # An orphan would hold the port and the model forever: leave when the supervising process is gone.
            while not stopping.wait(1.0):
                if os.getppid() != parent_pid:
                    logger.warning("model worker: the supervising process %d is gone; stopping", parent_pid)
                    stop()

        threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    logger.info("model worker: serving on http://%s:%d (pid %d, at most %d requests at once)", host,
                server.server_port, os.getpid(), max_pending)
    started = time.time()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        service.close()
        logger.info("model worker: stopped after %.0f s", time.time() - started)
