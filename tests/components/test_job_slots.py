"""Job slots: at most N explanations at once across processes; the rest wait; a dead process frees its slot."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from components.server.job_slots import JobSlots


def test_a_third_job_waits_until_one_of_two_slots_is_free(tmp_path):
    slots = JobSlots(tmp_path, count=2, poll_seconds=0.02)
    waited = []
    release = threading.Event()

    def hold():
        with slots.slot():
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    time.sleep(0.2)

    entered = threading.Event()

    def third():
        with slots.slot(waited.append):
            entered.set()

    waiter = threading.Thread(target=third)
    waiter.start()
    time.sleep(0.3)
    assert not entered.is_set() and waited  # queued, and told so
    release.set()
    assert entered.wait(5)
    for thread in (*holders, waiter):
        thread.join(5)


def test_a_killed_process_does_not_keep_its_slot(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, '.');"
        "from components.server.job_slots import JobSlots;"
        f"slot = JobSlots({str(tmp_path)!r}, count=1).slot(); slot.__enter__(); print('held', flush=True);"
        "time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    slots = JobSlots(tmp_path, count=1, poll_seconds=0.02)
    assert slots._try_acquire() is None
    holder.kill()
    holder.wait(10)
    started = time.monotonic()
    with slots.slot():
        assert time.monotonic() - started < 5


def test_zero_slots_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        JobSlots(tmp_path, count=0)
