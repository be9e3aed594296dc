"""A process killed with SIGKILL in the middle of saving reviews leaves a SQLite database that opens, passes
``PRAGMA integrity_check`` and holds every review it had committed (at most the one in flight is lost)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from sqlalchemy import text

from cxrmodel.reviews import ReviewStore
from tests.serving import ROOT

WRITER = textwrap.dedent("""
    import sys
    from cxrmodel.reviews import FindingMark, ReviewDraft, ReviewStore
    from tests.cxrmodel.reviews.conftest import study_record

    store = ReviewStore(sys.argv[1])
    number = 0
    while True:
        number += 1
        study = study_record(f"study-{number}")
        comment = "x" * 3000  # a larger transaction: more to tear if the file could be torn
        store.save(f"reviewer{number % 7}", study, ReviewDraft(
            verdict="helpful", comment=comment, points=tuple(FindingMark(i, i) for i in range(40))))
        print(f"committed {number}", flush=True)
""")


def test_a_writer_killed_mid_save_leaves_an_intact_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'reviews.sqlite3'}"
    ReviewStore(url).close()  # migrated before the writer starts, so the kill falls among the saves
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    committed = 0
    deadline = time.monotonic() + 60
    try:
        while committed < 60 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            committed = int(line.split()[1])
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    for line in writer.stdout.read().splitlines():  # what it committed between our last read and the kill
        committed = int(line.split()[1])
    assert committed >= 60, "the writer did not get going"

    store = ReviewStore(url)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    stored = store.all_reviews()
    assert committed <= len(stored) <= committed + 1  # the kill loses at most the save in flight
    assert all(len(review.draft.points) == 40 for review in stored)  # no half-written review
    store.close()
