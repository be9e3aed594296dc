"""Reviews through a real dashboard on 127.0.0.1 (HTTP basic auth on), with SQLite and with a private PostgreSQL:
20 reviewers save at once and each verdict is stored exactly once under its own reviewer; bad input gets a clear
"not saved" message, stores nothing and the server keeps serving; a server killed with SIGKILL during saves leaves
an intact database that kept every save it had answered."""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from cxrmodel.reviews import ReviewStore
from tests.load.dash_client import DashPage
from tests.postgres import SKIP_REASON, postgres_binaries, private_postgres
from tests.serving import free_port, serving

REVIEWERS = 20
STUDY = "CXR2"  # a tiny study with a finding (tests/conftest.py)
PASSWORD = "reading room"


class ReviewerPage(DashPage):
    """One page load of one signed-in reviewer."""

    def __init__(self, base_url: str, user: str, timeout: float = 120.0) -> None:
        self.authorization = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        super().__init__(base_url, timeout)

    def _request(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Authorization": self.authorization, **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return response.read()

    def open_review(self, study_id: str) -> dict:
        """The review panel's load callback for ``study_id``: ``{output id: {property: value}}``."""
        return self.call("review-draft.data", {"study-picker.value": study_id, "session-id.data": self.session_id})

    def save(self, draft: dict, verdict=None, reading=None, comment="", clicked=None, sight_sensitivity=0.5) -> str:
        """The review panel's save callback, as the page sends it; returns what ``review-status`` says."""
        spec = next(s for s in self.dependencies if s["output"].startswith("..review-draft.data@"))
        values = {"review-verdict.value": verdict, "review-label.value": reading, "review-comment.value": comment,
                  "review-relevant-words.value": [], "review-irrelevant-words.value": [],
                  "review-clicked-point.data": clicked, "review-finding-name.value": "effusion",
                  "review-draft.data": draft, "session-id.data": self.session_id,
                  "sight-sensitivity.value": sight_sensitivity, "circle-sweep.data": None,
                  "link-distance.value": None, "min-points.value": None, "attribution-smoothing.value": None}

        def entries(listed):
            out = []
            for entry in listed:
                if isinstance(entry["id"], str) and entry["id"].startswith("{"):
                    out.append([])  # a pattern-matching input (circles, remove buttons): none on this page
                else:
                    out.append({"id": entry["id"], "property": entry["property"],
                                "value": values.get(f"{entry['id']}.{entry['property']}")})
            return out

        outputs = [{"id": part.split(".", 1)[0], "property": part.split(".", 1)[1]}
                   for part in spec["output"].strip(".").split("...")]
        body = {"output": spec["output"], "outputs": outputs, "inputs": entries(spec["inputs"]),
                "state": entries(spec["state"]),
                "changedPropIds": ["review-clicked-point.data" if clicked else "review-verdict.value"]}
        raw = self._request("POST", "/_dash-update-component?endId=" + str(self.end_id), body)
        if not raw:
            return ""
        response = json.loads(raw)["response"]
        return next(value for key, value in response.get("review-status", {}).items()
                    if key.split("@")[0] == "children")


@pytest.fixture(scope="module")
def postgres_server():
    """A private PostgreSQL server for this module (tests.postgres); skipped where it is not installed."""
    if postgres_binaries() is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(SKIP_REASON)
        pytest.skip(SKIP_REASON)
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def reviewing_server(request, tiny_bundle_directory, tiny_studies_directory, tmp_path_factory):
    """The dashboard (auth on, no model worker) on a cache where the tiny studies are already explained, storing
    reviews in SQLite or in a private PostgreSQL server."""
    from cxrmodel.data import StudyCollection
    from cxrmodel.explain import ExplanationCache, ExplanationSettings, StudyExplainer
    from cxrmodel.modeling import load_bundle

    root = tmp_path_factory.mktemp("reviewing")
    cache = root / "cache"
    collection = StudyCollection.from_folder(tiny_studies_directory)
    with ExplanationCache(cache / "explanations") as explanations:
        explainer = StudyExplainer(load_bundle(tiny_bundle_directory), explanations)
        for study_id in (STUDY, "CXR1"):
            study = collection.get(study_id)
            explainer.explain(collection.image_path(study_id).read_bytes(), study.report_text, ExplanationSettings())
    users = [f"reader{number:02d}" for number in range(REVIEWERS)] + ["alice", "mallory"]
    auth_file = root / "users.txt"
    auth_file.write_text("".join(f"{user}:{generate_password_hash(PASSWORD, 'pbkdf2:sha256:1000')}\n"
                                 for user in users))
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        new_database = server.new_database
    else:
        def new_database() -> str:
            return f"sqlite:///{tmp_path_factory.mktemp('database') / 'reviews.sqlite3'}"
    database = new_database()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    command = [sys.executable, "app.py", "--no-warm-up", "--no-model-worker", "--port", str(port), "--model",
               str(tiny_bundle_directory), "--studies", str(tiny_studies_directory), "--cache-dir", str(cache),
               "--auth-file", str(auth_file), "--database-url", database]
    with serving(command, url, log_path=log_path, startup_seconds=180, behind_auth=True) as process:
        yield {"url": url, "database": database, "process": process, "command": command, "log": log_path,
               "new_database": new_database, "backend": request.param}
    assert "Traceback" not in log_path.read_text()


def _stored(database_url: str):
    store = ReviewStore(database_url)
    try:
        return store.all_reviews()
    finally:
        store.close()


def test_twenty_reviewers_saving_at_once_each_get_their_own_verdict_stored_once(reviewing_server):
    url = reviewing_server["url"]
    verdicts = ("helpful", "partly", "misleading")
    start = threading.Barrier(REVIEWERS)

    def reviewer(number: int) -> str:
        page = ReviewerPage(url, f"reader{number:02d}")
        loaded = page.open_review(STUDY)
        draft = loaded["review-draft"]["data"]
        assert loaded["review-reviewer"]["children"] == f"as reader{number:02d}"
        start.wait(timeout=120)
        return page.save(draft, verdict=verdicts[number % 3], reading="abnormal", comment=f"by reader{number:02d}")

    with ThreadPoolExecutor(max_workers=REVIEWERS) as pool:
        statuses = list(pool.map(reviewer, range(REVIEWERS)))
    assert all(status.startswith("saved ") for status in statuses), statuses

    reviews = [review for review in _stored(reviewing_server["database"]) if review.reviewer.startswith("reader")]
    assert sorted(review.reviewer for review in reviews) == [f"reader{n:02d}" for n in range(REVIEWERS)]
    for review in reviews:
        number = int(review.reviewer.removeprefix("reader"))
        assert (review.draft.verdict, review.draft.comment) == (verdicts[number % 3], f"by {review.reviewer}")
        assert review.study.study_name == STUDY

    # Each reviewer sees only their own review on reopening, and everyone sees the aggregate of all 20.
    again = ReviewerPage(url, "reader07").open_review(STUDY)
    assert again["review-verdict"]["value"] == verdicts[7 % 3] and again["review-comment"]["value"] == "by reader07"
    fresh = ReviewerPage(url, "alice").open_review(STUDY)
    assert fresh["review-verdict"]["value"] is None and fresh["review-comment"]["value"] == ""
    assert fresh["review-aggregate"]["children"].startswith(f"All reviewers ({REVIEWERS}):")


def test_bad_input_is_refused_clearly_stores_nothing_and_the_server_keeps_serving(reviewing_server):
    url, database = reviewing_server["url"], reviewing_server["database"]
    alice = ReviewerPage(url, "alice")
    draft = alice.open_review("CXR1")["review-draft"]["data"]
    before = {(r.reviewer, r.study.content_hash): r.draft for r in _stored(database)}

    refusals = {
        "a 1 MB comment": (alice.save(draft, verdict="helpful", comment="x" * 2**20), "the comment has 1,048,576"),
        "an out-of-image point": (alice.save(draft, clicked={"x": 5000, "y": 10, "study": "CXR1", "nonce": 1}),
                                  "lies outside the 160x176 pixel image"),
        "an unknown study": (alice.save({**draft, "study": "CXR9999"}, verdict="helpful"),
                             "'CXR9999' is not one this page can open"),
        "a bad verdict": (alice.save(draft, verdict="brilliant"), "the verdict must be one of"),
    }
    for what, (status, message) in refusals.items():
        assert status.startswith("not saved: ") and message in status, (what, status)

    # Another session's upload, even with its id: refused.
    uploader = ReviewerPage(url, "mallory")
    from tests.load.test_concurrent_sessions import _study

    image, report = _study(3)
    uploaded = uploader.call("study-picker.options", {"analyze.n_clicks": 1}, {
        "upload-image.contents": "data:image/png;base64," + base64.b64encode(image).decode(),
        "upload-image.filename": "mallory.png", "report-text.value": report,
        "session-id.data": uploader.session_id, "study-picker.options": []})
    upload_id = uploaded["study-picker"][next(key for key in uploaded["study-picker"] if key.startswith("value"))]
    assert upload_id.startswith("upload-")
    status = alice.save({**draft, "study": upload_id}, verdict="helpful")
    assert status.startswith("not saved: ") and "is not one this page can open" in status

    assert {(r.reviewer, r.study.content_hash): r.draft for r in _stored(database)} == before  # nothing stored

    # A reviewer name forged into the request body is ignored: the review is alice's (the signed-in user).
    forged = {**draft, "reviewer": "mallory"}
    assert alice.save(forged, verdict="partly", reading="normal").startswith("saved ")
    mine = [r for r in _stored(database) if r.study.study_name == "CXR1"]
    assert [(r.reviewer, r.draft.verdict) for r in mine] == [("alice", "partly")]
    assert urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": alice.authorization}),
                                  timeout=10).status == 200


def test_a_server_killed_during_saves_loses_at_most_the_request_in_flight(reviewing_server, tmp_path):
    # A second server on its own database, killed with SIGKILL while 5 reviewers save one review after another.
    database = reviewing_server["new_database"]()
    command = list(reviewing_server["command"])
    command[command.index("--database-url") + 1] = database
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    url = f"http://127.0.0.1:{port}"
    answered: dict[str, int] = {}
    stop = threading.Event()

    def keep_saving(user: str) -> None:
        page = ReviewerPage(url, user, timeout=20)
        draft = page.open_review(STUDY)["review-draft"]["data"]
        count = 0
        while not stop.is_set():
            count += 1
            try:
                status = page.save(draft, verdict="helpful", comment=f"save {count}")
            except OSError:
                return  # the server is gone
            if status.startswith("saved "):
                answered[user] = count
                draft = {**draft, "comment": f"save {count}", "verdict": "helpful"}

    with serving(command, url, log_path=tmp_path / "server.log", startup_seconds=180, behind_auth=True) as process:
        users = [f"reader{number:02d}" for number in range(5)]
        threads = [threading.Thread(target=keep_saving, args=(user,)) for user in users]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(answered.values()) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert sum(answered.values()) >= 25, "the saves did not get going"

    store = ReviewStore(database)
    if reviewing_server["backend"] == "sqlite":
        with store.engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    stored = {review.reviewer: review for review in store.all_reviews()}
    store.close()
    for user, count in answered.items():
        kept = int(stored[user].draft.comment.removeprefix("save "))
        assert count <= kept <= count + 1, (user, count, kept)  # at most the request in flight is lost
