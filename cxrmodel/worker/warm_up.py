"""Explaining a studies folder in the background, so that a reader's pick of any of its studies is a cache hit.

``python app.py`` on the demo starts its model worker with ``--warm-up-studies``: once the model is loaded, a
daemon thread of the worker (:class:`WarmUp`) walks the studies in the study list's order and explains each one
the cache does not hold yet, into the same cache the page reads.

A reader never waits for it. Explanations take turns (:class:`ExplainTurns`): a reader's request takes a turn as
soon as one is free, a warm-up explanation only when no reader's request waits and nothing else computes, one
study at a time. A warm-up explanation computing when a reader's request arrives gives way at its next integration
level or evidence batch (:class:`WarmUpYielded`, raised in the warm-up's thread; what it computed is dropped) and
is computed again later, so a reader waits behind at most one such step.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

WARMED = "explained"
"""Outcome of one warm-up study: it was explained now."""
ALREADY_CACHED = "cached"
"""Outcome of one warm-up study: the cache already held it (skipped)."""
YIELDED = "yielded"
"""Outcome of one warm-up try: it gave way to a reader's request (tried again)."""
STOPPED = "stopped"
"""Outcome of one warm-up try: the worker is stopping."""


class WarmUpYielded(Exception):
    """A warm-up explanation gave way to a reader's request; it is computed again later."""


class ExplainTurns:
    """Who may compute an explanation now: a reader's request before any warm-up one.

    A reader's request takes a turn when fewer than ``concurrency`` explanations compute. A warm-up explanation
    takes one only when no explanation computes and no reader's request waits, so a reader's request never waits
    behind more than the one warm-up explanation already computing.
    """

    def __init__(self, concurrency: int = 1, reader_grace_seconds: float = 0.0) -> None:
        """Args:
            concurrency: Explanations computed at once (readers' requests; the warm-up computes alone).
            reader_grace_seconds: After a reader's explanation, the warm-up waits this long before its next turn:
                the page is then drawing that study (on the same cores), and the reader may open another.
        """
        self.concurrency = max(1, int(concurrency))
        self.reader_grace_seconds = max(0.0, float(reader_grace_seconds))
        self._last_reader_done = float("-inf")
        self._condition = threading.Condition()
        self._computing = 0
        self._readers_waiting: Counter[str] = Counter()
        self._closed = False

    @contextlib.contextmanager
    def reader(self, key: str) -> Iterator[None]:
        """Hold a turn for a reader's request of the explanation ``key`` (waits for a free one)."""
        with self._condition:
            self._readers_waiting[key] += 1
            try:
                self._condition.wait_for(lambda: self._computing < self.concurrency)
            finally:
                self._readers_waiting[key] -= 1
                if self._readers_waiting[key] <= 0:
                    del self._readers_waiting[key]
            self._computing += 1
        try:
            yield
        finally:
            with self._condition:
                self._last_reader_done = time.monotonic()
            self._release()

    @contextlib.contextmanager
    def background(self) -> Iterator[bool]:
        """Hold a turn for a warm-up explanation: yields True once granted, False when :meth:`close` ends the wait."""
        with self._condition:
            while True:
                if self._closed:
                    granted = False
                    break
                if self._computing == 0 and not self._readers_waiting:
                    grace_left = self._last_reader_done + self.reader_grace_seconds - time.monotonic()
                    if grace_left <= 0:
                        self._computing += 1
                        granted = True
                        break
                    self._condition.wait(grace_left)
                else:
                    self._condition.wait()
        try:
            yield granted
        finally:
            if granted:
                self._release()

    def reader_waiting(self, except_key: str | None = None) -> bool:
        """True when a reader's request waits for a turn (one for ``except_key`` does not count: the explanation
        being computed is the one it wants)."""
        with self._condition:
            return any(key != except_key for key in self._readers_waiting)

    def close(self) -> None:
        """Refuse further warm-up turns and wake the warm-up if it waits for one."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def _release(self) -> None:
        with self._condition:
            self._computing -= 1
            self._condition.notify_all()


@dataclass(frozen=True)
class WarmUpStudy:
    """One study to explain ahead of the reader: its id, film file and report, as the page sends them."""

    study_id: str
    image_path: Path
    report_text: str


def studies_in_list_order(folder: str | Path) -> list[WarmUpStudy]:
    """The studies of a folder in the order of the dashboard's study list (the folder's order).

    Raises:
        FileNotFoundError / ValueError: the folder is missing or holds no study with an image.
    """
    from cxrmodel.data import StudyCollection  # noqa: PLC0415 - only the worker started with a folder needs it

    collection = StudyCollection.from_folder(folder)
    return [WarmUpStudy(summary.study_id, collection.image_path(summary.study_id),
                        collection.get(summary.study_id).report_text) for summary in collection.summaries()]


WarmOne = Callable[[bytes, str, threading.Event], str]
"""``warm(image_bytes, report_text, stopping) -> outcome`` (:data:`WARMED`, :data:`ALREADY_CACHED`,
:data:`YIELDED` or :data:`STOPPED`): :meth:`cxrmodel.worker.service.ModelService.warm`."""


class WarmUp:
    """Explains a list of studies one after the other in a daemon thread, trying a study again when it gave way."""

    def __init__(self, studies: Sequence[WarmUpStudy], warm: WarmOne,
                 on_study: Callable[[int, WarmUpStudy, str], None] | None = None) -> None:
        """Args:
            studies: In the order to explain them.
            warm: Explains one study unless it is cached (see :data:`WarmOne`).
            on_study: ``on_study(position, study, outcome)`` after each study (position from 1), besides the log.
        """
        self.studies = tuple(studies)
        self.warm = warm
        self.on_study = on_study
        self.stopping = threading.Event()
        self.outcomes: dict[str, str] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> WarmUp:
        """Run :meth:`run` in a daemon thread (returns at once)."""
        self._thread = threading.Thread(target=self.run, daemon=True, name="explanation-warm-up")
        self._thread.start()
        return self

    def run(self) -> None:
        """Explain every study the cache does not hold, in order; logs "warmed N of M" as it goes."""
        total = len(self.studies)
        logger.info("warm-up: explaining the %d studies of the list in the background", total)
        explained = 0
        for position, study in enumerate(self.studies, 1):
            outcome, gave_way = YIELDED, -1
            try:
                image_bytes = study.image_path.read_bytes()
                while outcome == YIELDED and not self.stopping.is_set():
                    gave_way += 1
                    outcome = self.warm(image_bytes, study.report_text, self.stopping)
            except Exception:  # noqa: BLE001 - one broken study must not end the warm-up of the others
                logger.exception("warm-up: explaining %s failed; going on with the next study", study.study_id)
                outcome = "failed"
            if self.stopping.is_set() and outcome in (YIELDED, STOPPED):
                logger.info("warm-up: stopped after %d of %d studies", position - 1, total)
                return
            self.outcomes[study.study_id] = outcome
            explained += outcome == WARMED
            logger.info("warm-up: warmed %d of %d (%s %s)%s", position, total, study.study_id,
                        "was already cached" if outcome == ALREADY_CACHED else outcome,
                        f"; it gave way to a reader {gave_way} times" if gave_way > 0 else "")
            if self.on_study is not None:
                self.on_study(position, study, outcome)
        logger.info("warm-up: done, %d of %d studies explained now, the others were cached", explained, total)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop (the study computing now gives way at its next integration level) and wait."""
        self.stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
