"""The model worker's explanation in phases: the evidence scope and tau a request asks for, and an explanation
whose client stopped asking for it (a cancelled dashboard job) is abandoned rather than computed to the end."""

from __future__ import annotations

import time

import pytest

from cxrmodel.explain import ExplanationSettings
from cxrmodel.worker.protocol import ABANDONED_MESSAGE, WorkerInputError
from cxrmodel.worker.warm_up import studies_in_list_order


@pytest.fixture(scope="module")
def service(tiny_bundle_directory, tmp_path_factory):
    from cxrmodel.worker.service import ModelService

    model_service = ModelService(tiny_bundle_directory, tmp_path_factory.mktemp("worker-phases") / "cache")
    yield model_service
    model_service.close()


@pytest.fixture(scope="module")
def studies(tiny_studies_directory):
    return [(study.image_path.read_bytes(), study.report_text) for study in studies_in_list_order(
        tiny_studies_directory)]


def _stored(service, study):
    return service.cache.get(service.explainer.cache_key(*study, ExplanationSettings()))


def test_each_phase_computes_what_it_asks_for_and_finds_the_one_before_in_the_cache(service, studies):
    study = studies[0]
    first = service.explain(*study, "phase-1", evidence="none")
    assert first["cached"] is False and _stored(service, study).evidence is None
    second = service.explain(*study, "phase-2", evidence="current", sight_sensitivity=0.4)
    assert second["cached"] is True  # the gradients of the first phase, not computed again
    rows = [region["threshold"] for region in _stored(service, study).evidence["regions"]]
    assert rows == [0.4]
    service.explain(*study, "phase-3", evidence="all")
    assert len(_stored(service, study).evidence["regions"]) > 40
    assert service.explainer.is_complete(*study, ExplanationSettings())


def test_an_explanation_whose_client_stopped_asking_is_abandoned(service, studies):
    from cxrmodel.worker.service import CLIENT_GONE_SECONDS

    study = studies[1]
    # The job asked for the progress once, then was killed (another study picked): nothing more is computed.
    service.progress("gone")
    service._polled["gone"] = time.monotonic() - CLIENT_GONE_SECONDS - 1.0
    with pytest.raises(WorkerInputError, match=ABANDONED_MESSAGE):
        service.explain(*study, "gone", evidence="all")
    assert _stored(service, study) is None
    # A client that keeps asking, or never asks (a script), is served to the end.
    service.progress("alive")
    assert service.explain(*study, "alive", evidence="none")["cached"] is False
    assert service.explain(*study, None, evidence="current")["cached"] is True
    assert service._give_way_here.check is None  # the hook is this request's only


def test_the_last_phase_answers_gave_way_when_a_reader_waits(service, studies, monkeypatch):
    from cxrmodel.worker.protocol import GAVE_WAY_MESSAGE

    study = studies[4]
    service.explain(*study, "circles-4", evidence="none")
    monkeypatch.setattr(service._explain_turns, "reader_waiting", lambda except_key=None: True)
    with pytest.raises(WorkerInputError, match=GAVE_WAY_MESSAGE):
        service.explain(*study, "rest-4", evidence="all")
    assert not service.explainer.is_complete(*study, ExplanationSettings())
    # A request for everything at once on a study not explained yet is a reader's: it does not give way.
    assert service.explain(*studies[5], "one-shot", evidence="all")["cached"] is False
