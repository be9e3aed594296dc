"""Scale-out: with CXR_REDIS_URL set, explanations run on a Celery worker through Redis, not in the web process.

Starts a private redis-server (Debian's, installed by .ci/run) on a free 127.0.0.1 port, one real Celery worker
(`celery -A app:celery_app worker`) and the dashboard, all with the tiny test bundle and a shared cache
directory; a session uploads a study and has it explained end to end. The worker's log must show the job, the
web process's log must not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.load.test_concurrent_sessions import _session
from tests.serving import ROOT, answers, free_port

REDIS_SERVER = shutil.which("redis-server")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")

pytestmark = pytest.mark.skipif(not REDIS_SERVER and not IN_CI,
                                reason="Debian redis-server is not installed (.ci/run installs it)")


def _wait_for(check, seconds: float, what: str, processes=(), logs=()) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        for process, log in zip(processes, logs, strict=False):
            if process.poll() is not None:
                pytest.fail(f"{what}: a process exited:\n" + Path(log).read_text()[-3000:])
        time.sleep(0.5)
    pytest.fail(f"{what} did not happen within {seconds} s")


def test_background_jobs_run_on_a_celery_worker(tiny_bundle_directory, tiny_studies_directory, tmp_path):
    assert REDIS_SERVER, "redis-server is required in CI"
    celery = Path(sys.executable).with_name("celery")
    redis_port, web_port = free_port(), free_port()
    environment = {**os.environ, "CXR_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                   "CXR_MODEL": str(tiny_bundle_directory), "CXR_STUDIES": str(tiny_studies_directory),
                   "CXR_CACHE_DIR": str(tmp_path / "state")}
    logs = {name: tmp_path / f"{name}.log" for name in ("redis", "worker", "web")}
    processes = []
    try:
        processes.append(subprocess.Popen(
            [REDIS_SERVER, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=logs["redis"].open("w"), stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen(
            [str(celery), "-A", "app:celery_app", "worker", "--concurrency", "1", "--loglevel", "INFO"],
            cwd=ROOT, env=environment, stdout=logs["worker"].open("w"), stderr=subprocess.STDOUT))
        processes.append(subprocess.Popen(
            [sys.executable, "app.py", "--no-warm-up", "--port", str(web_port), "--model", str(tiny_bundle_directory),
             "--studies", str(tiny_studies_directory), "--cache-dir", environment["CXR_CACHE_DIR"]],
            cwd=ROOT, env=environment, stdout=logs["web"].open("w"), stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{web_port}"

        _wait_for(lambda: "ready" in logs["worker"].read_text(), 180, "the Celery worker starting",
                  processes, logs.values())
        _wait_for(lambda: answers(url), 180, "the dashboard starting", processes, logs.values())

        result = _session(url, 7)

        from cxrmodel.explain import ExplanationSettings, StudyExplainer
        from cxrmodel.modeling import load_bundle

        expected = StudyExplainer(load_bundle(tiny_bundle_directory)).explain(
            result["image"], result["report"], ExplanationSettings()).attribution.probability
        assert result["probability"] == pytest.approx(expected, abs=6e-4)
        assert result["report_shown"] == result["report"]
        worker_log, web_log = logs["worker"].read_text(), logs["web"].read_text()
        assert "explained a study in a background job" in worker_log
        assert "succeeded" in worker_log
        assert "explained a study in a background job" not in web_log
        assert "Traceback" not in worker_log + web_log
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
