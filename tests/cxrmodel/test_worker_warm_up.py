"""The model worker's warm-up: the studies explained in the list's order into the shared cache, cached ones skipped,
and a reader's request always served before the next warm-up study (cxrmodel.worker.warm_up)."""

from __future__ import annotations

import threading

import pytest

from cxrmodel.worker.warm_up import (
    ALREADY_CACHED,
    WARMED,
    YIELDED,
    ExplainTurns,
    WarmUp,
    studies_in_list_order,
)

WAIT_SECONDS = 120.0
"""Bound on one wait for another thread (2 shared cores); the tests never sleep to decide an outcome."""


def _wait_for(condition, what: str) -> None:
    """Wait until ``condition()`` is true (re-checked every 10 ms); fail after WAIT_SECONDS."""
    never = threading.Event()
    for _ in range(int(WAIT_SECONDS / 0.01)):
        if condition():
            return
        never.wait(0.01)
    pytest.fail(f"{what} did not happen within {WAIT_SECONDS:.0f} s")


def test_a_waiting_reader_takes_the_turn_before_the_next_warm_up_explanation():
    turns = ExplainTurns(concurrency=1)
    order: list[str] = []
    first_granted, release_first = threading.Event(), threading.Event()

    def warm_up(name: str, hold: threading.Event | None = None) -> None:
        with turns.background() as granted:
            assert granted
            order.append(name)
            if hold is not None:
                first_granted.set()
                hold.wait(WAIT_SECONDS)

    def reader() -> None:
        with turns.reader("reader's study"):
            order.append("reader")

    first = threading.Thread(target=warm_up, args=("warm-up 1", release_first))
    first.start()
    assert first_granted.wait(WAIT_SECONDS)
    reading = threading.Thread(target=reader)
    reading.start()
    _wait_for(turns.reader_waiting, "the reader's request waiting")
    assert not turns.reader_waiting(except_key="reader's study")  # waiting for the study being computed
    second = threading.Thread(target=warm_up, args=("warm-up 2",))
    second.start()  # asks for a turn while the reader waits
    release_first.set()
    for thread in (first, reading, second):
        thread.join(WAIT_SECONDS)
    assert order == ["warm-up 1", "reader", "warm-up 2"]


def test_closing_the_turns_ends_a_waiting_warm_up():
    turns = ExplainTurns()
    outcome = []
    with turns.reader("study"):
        waiting = threading.Thread(target=lambda: outcome.append(turns.background().__enter__()))
        waiting.start()
        turns.close()
        waiting.join(WAIT_SECONDS)
    assert outcome == [False]


def test_after_a_reader_the_warm_up_leaves_the_cores_to_the_page_for_its_grace_time():
    turns = ExplainTurns(reader_grace_seconds=3600.0)
    with turns.background() as granted:  # nothing read yet: no grace
        assert granted
    with turns.reader("study"):
        pass
    outcome = []
    waiting = threading.Thread(target=lambda: outcome.append(turns.background().__enter__()))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and outcome == []  # still in its grace time
    turns.close()
    waiting.join(WAIT_SECONDS)
    assert outcome == [False]


@pytest.fixture()
def service(tiny_bundle_directory, tiny_studies_directory, tmp_path):
    from cxrmodel.worker.service import ModelService

    model_service = ModelService(tiny_bundle_directory, tmp_path / "cache", warm_up_studies=tiny_studies_directory)
    yield model_service
    model_service.close()


def _explained_studies(service, studies) -> list[str]:
    """Wrap the service's explainer so that every computation (not a cache read) records its study, in order."""
    by_report = {study.report_text: study.study_id for study in studies}
    computed: list[str] = []
    attribute = service.explainer.attribute

    def recording(image_bytes, report_text, settings, **options):
        computed.append(by_report[report_text])
        return attribute(image_bytes, report_text, settings, **options)

    service.explainer.attribute = recording
    return computed


def test_the_warm_up_explains_uncached_studies_in_list_order_and_skips_cached_ones(service,
                                                                                   tiny_studies_directory):
    studies = studies_in_list_order(tiny_studies_directory)
    assert [study.study_id for study in studies] == [s.study_id for s in service.warm_up.studies]
    service.explain(studies[2].image_path.read_bytes(), studies[2].report_text)  # a reader opened the third
    computed = _explained_studies(service, studies)
    warm_up = WarmUp(studies, service.warm)
    warm_up.run()
    expected = [study.study_id for index, study in enumerate(studies) if index != 2]
    assert computed == expected
    assert warm_up.outcomes == {study.study_id: ALREADY_CACHED if index == 2 else WARMED
                                for index, study in enumerate(studies)}
    assert all(service.explainer.is_cached(study.image_path.read_bytes(), study.report_text, service_settings())
               for study in studies)
    WarmUp(studies, service.warm).run()  # a second pass computes nothing
    assert computed == expected


def service_settings():
    from cxrmodel.explain import ExplanationSettings

    return ExplanationSettings()


@pytest.mark.parametrize("arrives_while", ["integrating", "checking the evidence"])
def test_a_reader_request_during_the_warm_up_is_served_before_the_next_warm_up_study(service, tiny_studies_directory,
                                                                                       arrives_while):
    studies = studies_in_list_order(tiny_studies_directory)
    computed = _explained_studies(service, studies)
    readers_study = studies[-1]
    answers: list[dict] = []
    reader = threading.Thread(target=lambda: answers.append(service.explain(
        readers_study.image_path.read_bytes(), readers_study.report_text, "reader")))
    reader_started = threading.Event()

    def reader_arrives() -> None:
        if not reader_started.is_set():
            reader_started.set()
            reader.start()
            _wait_for(service._explain_turns.reader_waiting, "the reader's request waiting")

    # The reader's request arrives while the first warm-up study computes (at an integration level, or before an
    # input of the evidence is built): it waits for the turn, the warm-up study gives way, the reader is served,
    # then the warm-up goes on with that study again.
    attribute = service.explainer.attribute
    evidence_checkpoint = service.explainer.evidence_checkpoint

    def first_study_computing(image, report, settings, progress=None, **options):
        service.explainer.attribute = attribute
        if arrives_while == "integrating":
            def progress_after_the_reader_waits(fraction, message):
                reader_arrives()
                progress(min(fraction, 0.5), message)  # a level before the last (the tiny model may converge at once)
            return attribute(image, report, settings, progress=progress_after_the_reader_waits, **options)

        def checkpoint_after_the_reader_waits():
            service.explainer.evidence_checkpoint = evidence_checkpoint
            reader_arrives()
            evidence_checkpoint()

        service.explainer.evidence_checkpoint = checkpoint_after_the_reader_waits
        return attribute(image, report, settings, progress=None, **options)

    def warm_first_with_a_reader_arriving(image_bytes, report_text, stopping):
        if not reader_started.is_set():
            service.explainer.attribute = first_study_computing
        return service.warm(image_bytes, report_text, stopping)

    warm_up = WarmUp(studies, warm_first_with_a_reader_arriving)
    warm_up.run()
    reader.join(WAIT_SECONDS)
    first = studies[0].study_id
    assert computed[:3] == [first, readers_study.study_id, first]  # gave way, the reader, then tried again
    assert computed[3:] == [study.study_id for study in studies[1:-1]]  # the reader's study is not computed twice
    assert answers and answers[0]["cached"] is False
    assert warm_up.outcomes[readers_study.study_id] == ALREADY_CACHED
    assert warm_up.outcomes[first] == WARMED
    assert YIELDED not in warm_up.outcomes.values()
    assert service.health()["requests"]["warm_up"] == len(studies) - 1


def test_stopping_the_service_stops_the_warm_up_thread(tiny_bundle_directory, tiny_studies_directory, tmp_path):
    from cxrmodel.worker.service import ModelService

    model_service = ModelService(tiny_bundle_directory, tmp_path / "cache", warm_up_studies=tiny_studies_directory)
    model_service.start_warm_up()
    model_service.close()
    assert not model_service.warm_up._thread.is_alive()
