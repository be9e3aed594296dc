"""A machine-wide bound on how many explanations compute at once, shared by every process (web, jobs, workers).

Each background job holds one of ``count`` slot files under an exclusive ``fcntl`` lock while it computes.
A job that finds no free slot waits (its progress bar says so) instead of competing for the CPU: with 20
sessions opening new studies at once on 2 cores, 20 jobs loading TensorFlow together starved each other so
badly that the background-callback store (SQLite) timed out and results were lost. The kernel drops a lock
when its process ends, so a cancelled or crashed job can never keep a slot. POSIX only (fcntl).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_SLOTS = max(1, os.cpu_count() or 1)
"""Explanations computed at once by default: one per CPU core (each uses all cores it can get anyway)."""


class JobSlots:
    """``count`` slots as lock files in ``directory``."""

    def __init__(self, directory: str | os.PathLike, count: int = DEFAULT_SLOTS, poll_seconds: float = 0.5) -> None:
        if count < 1:
            raise ValueError(f"at least one job slot is needed, got {count}")
        self.directory = Path(directory)
        self.count = int(count)
        self.poll_seconds = float(poll_seconds)

    def _try_acquire(self) -> int | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            descriptor = os.open(self.directory / f"slot-{index}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            return descriptor
        return None

    @contextlib.contextmanager
    def slot(self, waiting: Callable[[float], None] | None = None) -> Iterator[None]:
        """Hold a slot for the duration of the ``with`` block; ``waiting(seconds waited)`` is called while queued."""
        started = time.monotonic()
        descriptor = self._try_acquire()
        while descriptor is None:
            if waiting is not None:
                waiting(time.monotonic() - started)
            time.sleep(self.poll_seconds)
            descriptor = self._try_acquire()
        waited = time.monotonic() - started
        if waited > 1:
            logger.info("an explanation waited %.1f s for a free job slot", waited)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)
