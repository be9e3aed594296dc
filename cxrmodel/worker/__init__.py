"""The long-lived model worker: one process per machine keeps the bundle loaded and answers predictions and
explanation jobs for every web process (issue #19).

``python -m cxrmodel.worker --model DIR --cache-dir DIR --port P`` loads the bundle once (the only process of
a plain deployment that imports TensorFlow), writes explanations into the dashboard's cache
(``<cache-dir>/explanations``) and answers JSON over HTTP on 127.0.0.1 (:mod:`~cxrmodel.worker.protocol`).
``python app.py`` starts and supervises it (``components.server.model_worker``). Importing this package loads
neither TensorFlow nor the server: :mod:`~cxrmodel.worker.service` and :mod:`~cxrmodel.worker.server` do, in
the worker process.
"""

from cxrmodel.worker.protocol import (
    DEFAULT_EXPLAIN_CONCURRENCY,
    DEFAULT_HOST,
    DEFAULT_MAX_PENDING,
    DEFAULT_PORT,
    EXPLAIN_PATH,
    HEALTH_PATH,
    MAX_EXPLAIN_REPORT_CHARACTERS,
    MAX_REQUEST_BYTES,
    PREDICT_PATH,
    PROGRESS_PATH,
    WorkerInputError,
    WorkerRequest,
    decode_request,
    encode_request,
)

__all__ = [
    "DEFAULT_EXPLAIN_CONCURRENCY",
    "DEFAULT_HOST",
    "DEFAULT_MAX_PENDING",
    "DEFAULT_PORT",
    "EXPLAIN_PATH",
    "HEALTH_PATH",
    "MAX_EXPLAIN_REPORT_CHARACTERS",
    "MAX_REQUEST_BYTES",
    "PREDICT_PATH",
    "PROGRESS_PATH",
    "WorkerInputError",
    "WorkerRequest",
    "decode_request",
    "encode_request",
]
