"""The model worker's work: one bundle loaded once, answering predictions and explanations.

:class:`ModelService` loads the Keras model when it is built (this is the process that imports TensorFlow) and
keeps a :class:`~cxrmodel.explain.StudyExplainer` over the dashboard's explanation cache
(``<cache-dir>/explanations``, the directory ``app.create_app`` uses), so an explanation computed here is the
one every web process then reads with ``StudyExplainer.cached`` — and one it already holds is not recomputed.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from cxrmodel.explain import Disclosure, ExplanationCache, ExplanationSettings, StudyExplainer, study_distribution
from cxrmodel.imaging import ImageDecodeError, decode_image
from cxrmodel.inputs import UploadError, clean_report_text, decode_text_bytes
from cxrmodel.modeling import load_bundle
from cxrmodel.worker.protocol import (
    ABANDONED_MESSAGE,
    DEFAULT_EXPLAIN_CONCURRENCY,
    EVIDENCE_SCOPES,
    GAVE_WAY_MESSAGE,
    MAX_EXPLAIN_REPORT_CHARACTERS,
    WorkerInputError,
)
from cxrmodel.worker.warm_up import (
    ALREADY_CACHED,
    STOPPED,
    WARMED,
    YIELDED,
    ExplainTurns,
    WarmUp,
    WarmUpYielded,
    studies_in_list_order,
)

logger = logging.getLogger(__name__)

EXPLANATIONS_FOLDER = "explanations"
"""The explanation cache under the dashboard's cache directory (as ``app.create_app`` opens it)."""
READER_GRACE_SECONDS = 2.0
"""After a reader's explanation, the warm-up waits this long: the page is drawing that study on the same cores."""
PROGRESS_RECORDS = 256
CLIENT_GONE_SECONDS = 5.0
"""An explanation whose client polled its progress and then stopped polling for this long is abandoned at its
next integration level or evidence batch: the dashboard's job was cancelled (the reader picked another study, or
pressed Cancel), and computing on would only hold back the next reader. The dashboard's job polls every 0.5 s; a
client that never polls is never abandoned."""


class RequestAbandoned(RuntimeError):
    """The client of an explanation stopped asking for its progress: the rest is not computed."""
"""Progress records kept (the oldest are forgotten first)."""


class ModelService:
    """One loaded bundle and its explainer; thread-safe (the HTTP server calls it from several threads)."""

    def __init__(self, model_directory: str | os.PathLike, cache_directory: str | os.PathLike, *,
                 trust_profile: str | os.PathLike | None = None,
                 explain_concurrency: int = DEFAULT_EXPLAIN_CONCURRENCY, delay_seconds: float = 0.0,
                 supervision: dict | None = None, warm_up_studies: str | os.PathLike | None = None) -> None:
        """Load the bundle (and its Keras model) and compile the forward and gradient functions.

        Args:
            model_directory: The model bundle.
            cache_directory: The dashboard's cache root (``--cache-dir`` / ``CXR_CACHE_DIR``); explanations are
                kept in its ``explanations/`` folder.
            trust_profile: A trust profile folder that judges films instead of the bundle's own (the dashboard's
                ``--trust-profile``); None = the bundle's.
            explain_concurrency: Explanations computed at once; the others wait for a turn.
            delay_seconds: A pause before every computation (for testing timeouts and restarts only).
            supervision: ``{"restarts", "last_restart_reason"}`` from the supervisor, reported by :meth:`health`.
            warm_up_studies: A studies folder whose studies are explained in the background, in the study list's
                order, whenever no reader's request waits (:mod:`cxrmodel.worker.warm_up`); None = none.

        Raises:
            BundleError: the bundle is missing or broken.
            FileNotFoundError / ValueError: ``warm_up_studies`` is missing or holds no study.
        """
        started = time.perf_counter()
        # Loads the Keras model now: this process keeps it.
        self.bundle = load_bundle(model_directory, trust_profile=trust_profile)
        self.cache = ExplanationCache(Path(cache_directory) / EXPLANATIONS_FOLDER)
        self.explainer = StudyExplainer(self.bundle, self.cache)
        self._give_way_here = threading.local()
        self._let_the_evidence_give_way()
        self._warm_up()
        self.load_seconds = time.perf_counter() - started
        self.started = time.time()
        self.delay_seconds = float(delay_seconds)
        self._explain_turns = ExplainTurns(explain_concurrency, reader_grace_seconds=READER_GRACE_SECONDS)
        self._warming_key: str | None = None
        self._progress: OrderedDict[str, dict] = OrderedDict()
        self._polled: OrderedDict[str, float] = OrderedDict()
        self._progress_lock = threading.Lock()
        self._counts = {"predict": 0, "explain": 0, "warm_up": 0}
        self.supervision = {"restarts": 0, "last_restart_reason": None, **(supervision or {})}
        logger.info("model worker: %s (%s) loaded in %.1f s", self.bundle.name, self.bundle.fingerprint,
                    self.load_seconds)
        self.warm_up = None if warm_up_studies is None else WarmUp(studies_in_list_order(warm_up_studies), self.warm)

    def start_warm_up(self) -> None:
        """Start explaining the warm-up studies in the background (nothing without ``warm_up_studies``)."""
        if self.warm_up is not None:
            self.warm_up.start()

    def _let_the_evidence_give_way(self) -> None:
        """Make the deletion evidence's inputs points where an explanation can give way or be abandoned.

        Before each input of the evidence is built (:func:`cxrmodel.explain.evidence.compute_evidence`'s
        ``checkpoint``), the thread computing it asks its own check (``self._give_way_here.check``: the warm-up's
        "does a reader wait?", a reader request's "is its client still there?"); a thread without one goes on.
        """
        def checkpoint() -> None:
            check = getattr(self._give_way_here, "check", None)
            if check is not None:
                check()

        self.explainer.evidence_checkpoint = checkpoint

    def _warm_up(self) -> None:
        """Trace the compiled forward function once, so the first request does not pay for it."""
        size, tokens = self.bundle.config.image_size, self.bundle.config.max_tokens
        self.explainer.integrated_gradients.predict(np.zeros((1, size, size, 3), np.float32),
                                                    np.zeros((1, tokens), np.int32))

    def close(self) -> None:
        """Stop the warm-up (the study it computes gives way) and close the explanation cache (its entries stay)."""
        if self.warm_up is not None:
            self.warm_up.stopping.set()
            self._explain_turns.close()
            self.warm_up.stop()
        self.cache.close()

    def health(self) -> dict:
        """What the worker holds and has done: model, fingerprint, pid, uptime, load time, request counts, and
        how often it was restarted (``restarts``, ``last_restart_reason``: from the supervisor)."""
        return {"status": "ok", "model": self.bundle.name, "fingerprint": self.bundle.fingerprint,
                "pid": os.getpid(), "uptime_seconds": round(time.time() - self.started, 3),
                "load_seconds": round(self.load_seconds, 3), "requests": dict(self._counts),
                "cache_directory": str(self.cache.directory), **self.supervision}

    def predict(self, image_bytes: bytes, report: str | bytes, *, shown_anyway: bool = False) -> dict:
        """P(abnormal) of one study, its inputs checked as ``python -m cxrmodel predict --image`` checks them.

        Args:
            image_bytes: The film (for a what-if: the film with regions removed).
            report: The report text or a report file's bytes.
            shown_anyway: The reader pressed Show anyway for this study: a withheld film's numbers are answered.

        Returns:
            ``{"label", "probability", "calibrated_probability", "judged", "not_judged_reason", "shown_anyway"}``
            (6 decimals; calibrated None when the bundle is not calibrated) — the document of
            ``predict --image ... --json``. The film is judged as the explanation document judges it
            (:class:`~cxrmodel.explain.Disclosure`): for one the model cannot judge, the first three are null
            unless ``shown_anyway``.

        Raises:
            WorkerInputError: the image does not decode, the report is empty or too long.
        """
        decoded = _decode(image_bytes)
        try:
            text = clean_report_text(_report_text(report))
        except UploadError as error:
            raise WorkerInputError(str(error)) from None
        self._pause()
        prepared = self.bundle.prepare(decoded.pixels, text)
        probability = float(self.explainer.integrated_gradients.predict(
            prepared.model_image[np.newaxis], prepared.report.token_ids[np.newaxis])[0])
        if not math.isfinite(probability):
            raise RuntimeError(f"the model gave a non-finite probability ({probability}) for this study")
        self._count("predict")
        calibrated = self.bundle.calibrated_probability(probability)
        answer = {"label": "abnormal" if probability >= 0.5 else "normal", "probability": round(probability, 6),
                  "calibrated_probability": None if calibrated is None else round(calibrated, 6)}
        return self._disclosed(prepared, answer, shown_anyway)

    def explain(self, image_bytes: bytes, report: str | bytes, request_id: str | None = None, *,
                shown_anyway: bool = False, evidence: str = "all", sight_sensitivity: float | None = None) -> dict:
        """Compute a study's attribution (with the deletion evidence asked for) into the shared cache, as the
        dashboard's background job does (``explainer.attribute(..., ExplanationSettings(), evidence_scope=...)``);
        returns once it is cached.

        The report is used exactly as given (the cache key is over the text as written), checked only for
        emptiness and length. The dashboard asks in phases: ``evidence="none"`` (the circles can be drawn), then
        ``"current"`` at the reader's ``sight_sensitivity``, then ``"all"``; a phase finds the attribution (and the
        evidence) of the one before in the cache and computes only what is missing.

        Returns:
            ``{"cached": True when it was already there, "key", "probability", "calibrated_probability",
            "timing_ms", "judged", "not_judged_reason", "shown_anyway"}``: the probabilities null for a film the
            model cannot judge unless ``shown_anyway`` (as :meth:`predict`).

        Raises:
            WorkerInputError: the image does not decode, the report is empty or too long.
        """
        _decode(image_bytes)
        text = _report_text(report)
        if not text.strip():
            raise WorkerInputError("the report is empty: the study needs its report text")
        if len(text) > MAX_EXPLAIN_REPORT_CHARACTERS:
            raise WorkerInputError(f"the report has {len(text):,} characters, more than the "
                                   f"{MAX_EXPLAIN_REPORT_CHARACTERS:,} accepted")

        if evidence not in EVIDENCE_SCOPES:
            raise WorkerInputError(f"evidence must be one of {', '.join(EVIDENCE_SCOPES)}")
        settings = ExplanationSettings(sight_sensitivity=sight_sensitivity)
        key = self.explainer.cache_key(image_bytes, text, settings)
        # The evidence at every slider threshold of an attribution already cached is the dashboard's last phase,
        # which nobody waits for with nothing on screen: it takes a turn as the warm-up does (when no other request
        # computes or waits) and gives way to any other study's request at its next batch; its client asks again
        # (GAVE_WAY_MESSAGE). A request for everything at once on a study not explained yet is a reader's.
        in_background = evidence == "all" and key in self.cache

        def record(fraction: float, message: str) -> None:
            if request_id is not None:
                self._record(request_id, fraction, message)

        def give_way_if_asked() -> None:
            if self._client_gone(request_id):
                raise RequestAbandoned(request_id)
            if in_background and self._explain_turns.reader_waiting(except_key=key):
                raise WarmUpYielded

        def report_progress(fraction: float, message: str) -> None:
            record(fraction, message)
            give_way_if_asked()

        try:
            # The warm-up may be computing this very study: then the reader waits for exactly the work it asked for.
            report_progress(0.0, "Computing the explanation" if key == self._warming_key
                            else "Waiting for the model (another study is being explained)")
            turn = self._explain_turns.background() if in_background else self._explain_turns.reader(key)
            with turn as granted:
                if in_background and not granted:
                    raise WarmUpYielded
                self._pause()
                # Every input of the evidence asks too (the checkpoint the warm-up gives way at).
                self._give_way_here.check = give_way_if_asked
                try:
                    report_progress(0.0, "Computing the explanation")
                    prepared, attribution, cached, timing = self.explainer.attribute(
                        image_bytes, text, settings, progress=report_progress, evidence_scope=evidence)
                finally:
                    self._give_way_here.check = None
        except RequestAbandoned:
            logger.info("model worker: explanation %s abandoned: its client stopped asking (%s evidence)",
                        request_id, evidence)
            raise WorkerInputError(ABANDONED_MESSAGE) from None
        except WarmUpYielded:
            logger.info("model worker: the evidence at every threshold gave way to another study's request")
            raise WorkerInputError(GAVE_WAY_MESSAGE) from None
        record(1.0, "explained")
        self._count("explain")
        probability = float(attribution.probability)
        calibrated = self.bundle.calibrated_probability(probability)
        answer = {"cached": bool(cached), "key": key,
                  "probability": round(probability, 6),
                  "calibrated_probability": None if calibrated is None else round(calibrated, 6),
                  "timing_ms": {name: round(value, 2) for name, value in timing.items()}}
        return self._disclosed(prepared, answer, shown_anyway)

    def warm(self, image_bytes: bytes, report_text: str, stopping: threading.Event) -> str:
        """Explain one warm-up study into the cache, unless it is there, giving way to every reader's request.

        Takes a warm-up turn (only when no reader's request waits and nothing computes). A reader's request for
        another study makes it give way at the next integration level or evidence batch (what it computed is
        dropped); the caller then tries it again.

        Returns:
            :data:`~cxrmodel.worker.warm_up.WARMED`, ``ALREADY_CACHED``, ``YIELDED`` or ``STOPPED``.
        """
        settings = ExplanationSettings()
        key = self.explainer.cache_key(image_bytes, report_text, settings)
        if key in self.cache:
            return ALREADY_CACHED
        with self._explain_turns.background() as granted:
            if not granted or stopping.is_set():
                return STOPPED
            if key in self.cache:  # a reader's request explained it meanwhile
                return ALREADY_CACHED

            def give_way() -> None:
                if stopping.is_set() or self._explain_turns.reader_waiting(except_key=key):
                    raise WarmUpYielded

            self._pause()
            self._give_way_here.check = give_way
            self._warming_key = key
            try:
                self.explainer.attribute(image_bytes, report_text, settings,
                                         progress=lambda _fraction, _message: give_way())
            except WarmUpYielded:
                return STOPPED if stopping.is_set() else YIELDED
            finally:
                self._give_way_here.check = None
                self._warming_key = None
        self._count("warm_up")
        return WARMED

    def _disclosed(self, prepared, answer: dict, shown_anyway: bool) -> dict:
        """``answer`` with the study's disclosure applied: the film judged as its explanation document judges it."""
        disclosure = Disclosure.from_distribution(study_distribution(self.bundle, prepared), shown_anyway=shown_anyway)
        if not disclosure.judged:
            logger.info("model worker: answer for a film the model cannot judge (%s%s)", disclosure.decision,
                        ", shown anyway" if disclosure.shown_anyway else "")
        return disclosure.redact(answer)

    def progress(self, request_id: str) -> dict | None:
        """``{"fraction", "message", "updated"}`` of an explanation request, or None when there is none. Asking
        keeps the request alive (:data:`CLIENT_GONE_SECONDS`)."""
        with self._progress_lock:
            self._polled[request_id] = time.monotonic()
            self._polled.move_to_end(request_id)
            while len(self._polled) > PROGRESS_RECORDS:
                self._polled.popitem(last=False)
            record = self._progress.get(request_id)
            return None if record is None else dict(record)

    def _client_gone(self, request_id: str | None) -> bool:
        """True when ``request_id``'s client asked for its progress, then stopped for :data:`CLIENT_GONE_SECONDS`."""
        if request_id is None:
            return False
        with self._progress_lock:
            polled = self._polled.get(request_id)
        return polled is not None and time.monotonic() - polled > CLIENT_GONE_SECONDS

    def _record(self, request_id: str, fraction: float, message: str) -> None:
        with self._progress_lock:
            self._progress[request_id] = {"fraction": float(fraction), "message": str(message), "updated": time.time()}
            self._progress.move_to_end(request_id)
            while len(self._progress) > PROGRESS_RECORDS:
                self._progress.popitem(last=False)

    def _count(self, kind: str) -> None:
        with self._progress_lock:
            self._counts[kind] += 1

    def _pause(self) -> None:
        if self.delay_seconds > 0:
            time.sleep(self.delay_seconds)


def _decode(image_bytes: bytes):
    if not image_bytes:
        raise WorkerInputError("no X-ray image was sent (it is empty): send a PNG, JPEG or DICOM file")
    try:
        return decode_image(image_bytes)
    except ImageDecodeError as error:
        raise WorkerInputError(f"the X-ray file cannot be used: {error}") from None


def _report_text(report: str | bytes) -> str:
    """A report as text: bytes are read as an uploaded report file's are (UTF-8/16, Windows-1252, Latin-1)."""
    return decode_text_bytes(report) if isinstance(report, bytes) else report
