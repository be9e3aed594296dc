"""The explanation job's progress words: readable by a clinician, never an internal address."""

from __future__ import annotations

from components.explanation_progress import (
    COMPUTING_WORDS,
    INTEGRATING_WORDS,
    SHOWN,
    readable_progress,
    run_explanation,
)
from components.server.model_worker import FALLBACK_WORDS, LOADING_MODEL_WORDS


def _shows_an_address(words: str) -> bool:
    return "http://" in words or "127.0.0.1" in words


def test_integration_levels_become_plain_words_and_addresses_never_show():
    assert readable_progress("32 steps: completeness error 0.7%") == INTEGRATING_WORDS
    old_worker_sentence = ("the model worker at http://127.0.0.1:47971 is not answering (it is starting or being "
                           "restarted); try again in a few seconds")
    assert readable_progress(old_worker_sentence) == COMPUTING_WORDS
    for words in (LOADING_MODEL_WORDS, FALLBACK_WORDS, "Checking the evidence (removing the circles and words)"):
        assert readable_progress(words) == words


def test_the_job_shows_only_readable_words_whatever_the_computation_reports():
    shown = []

    def compute(image_bytes, report_text, progress, _phase_done, _sight_sensitivity):
        progress(0.0, LOADING_MODEL_WORDS)
        progress(0.4, "16 steps: completeness error 3.4%")
        progress(0.9, "the model worker at http://127.0.0.1:47971 cannot be reached")
        progress(1.0, "Checking the evidence (removing the circles and words)")

    ready, alert = run_explanation(shown.append, "CXR90001", None, lambda study, session: (b"film", "report"),
                                   lambda image, report: False, compute, request_at=1.0)
    assert ready["study"] == "CXR90001" and alert is None
    labels = [label for _percent, label, style, _phase in shown if style == SHOWN]
    assert labels[1:] == [LOADING_MODEL_WORDS, INTEGRATING_WORDS, COMPUTING_WORDS,
                          "Checking the evidence (removing the circles and words)"]
    assert not any(_shows_an_address(label) or "completeness" in label for label in labels)
