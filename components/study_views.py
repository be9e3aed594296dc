"""Each cached study's view drawn once: the study callbacks' outputs kept on disk and served as they were drawn.

The view of an explained study depends only on the study, the model, the code that draws it and the reader's
settings (tau, link distance, minimum points, smoothing, Show anyway). Once drawn, its outputs are kept in the
explanation cache's view store (:class:`cxrmodel.explain.views.StudyViewStore`), under a key made of all of those
(:meth:`StudyViews.key`), and the next open of the same study with the same settings reads them back instead of
reading the attribution, sweeping 51 thresholds and building Plotly figures again. Two parts are kept, one per
request of an open: the panel (the radiograph, circles, sweep, prediction card and report: components.presenter
``drawn_study``) and the details (word heatmap, strongest words, sweep chart: ``study_details``).

What a stored view never holds:

* anything of the page's session: the radiograph and the overlays are named by placeholders, turned into this
  session's URLs when the view is read (components.server.study_images); a view whose text still contains the
  session id is not stored;
* an explanation still being completed: a view is stored only when its deletion evidence is complete, and storing
  the attribution again (the evidence landing, a recomputation) drops the views drawn from it;
* the overlays as base64: they are kept as their own PNG records, served by URL with a strong validator, so a
  study the browser has seen sends no image when reopened.

Keys include a fingerprint of the source code of ``components`` and ``cxrmodel`` and the versions of Dash and
Plotly: after an upgrade every view is drawn again. Deleting the store loses nothing but time. ``CXR_STORED_VIEWS=0``
turns the store off (every open draws its view: the baseline of the serving benchmarks).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
import plotly
from dash import no_update
from plotly.io.json import to_json_plotly

from cxrmodel.explain import ExplanationSettings, StudyExplainer
from cxrmodel.explain.evidence import EVIDENCE_VERSION
from cxrmodel.explain.removal import DEFAULT_REMOVAL
from cxrmodel.explain.views import StudyViewStore, view_key

logger = logging.getLogger(__name__)

STORED_VIEWS_ENV = "CXR_STORED_VIEWS"
"""Set to 0 to draw every view on every open (the benchmarks' baseline); anything else, or unset, keeps them."""

PANEL, DETAILS = "panel", "details"
"""The two parts of a view: what the study callback sets, and what the details callback sets."""

RADIOGRAPH_PLACEHOLDER = "cxr-view:radiograph"
VIEW_IMAGE_PLACEHOLDER = "cxr-view:image:"
_PNG_DATA_URI = "data:image/png;base64,"
_SOURCE_ROOTS = ("components", "cxrmodel")


@functools.cache
def code_version() -> str:
    """sha256 of the source that draws a view (every ``.py`` of ``components`` and ``cxrmodel``) and of the Dash
    and Plotly versions that serialize it: part of every view key, so changed code never serves an old view."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"dash {dash.__version__} plotly {plotly.__version__}".encode())
    for package in _SOURCE_ROOTS:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def stored_views_enabled(environment: dict | None = None) -> bool:
    """False when ``CXR_STORED_VIEWS=0`` (or ``false``/``no``/``off``)."""
    value = (os.environ if environment is None else environment).get(STORED_VIEWS_ENV, "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def view_image_key(study_id: str, png: bytes) -> str:
    """The key of one overlay PNG of a study (a PNG is only ever served for the study it was drawn for)."""
    return hashlib.sha256(study_id.encode("utf-8") + b"\x00" + png).hexdigest()


class StudyViews:
    """The view store of one dashboard: keys, and the translation between a drawn panel and its stored form.

    Args:
        explainer: The dashboard's explainer (its cache holds the store; its bundle and defaults are in the key).
        image_url: ``image_url(study_id, session_id, key)`` -> the URL of a stored overlay
            (components.server.study_images.view_image_url).
    """

    def __init__(self, explainer: StudyExplainer, image_url) -> None:
        if explainer.cache is None:
            raise ValueError("stored views need an explanation cache")
        self.explainer = explainer
        self.store: StudyViewStore = explainer.cache.views
        self.image_url = image_url
        bundle = explainer.bundle
        # What of the bundle a view shows but its fingerprint leaves out: card (name, synthetic), calibration,
        # the trust profile judging films (it may be an override), the configured defaults.
        self._model = view_key(bundle.fingerprint, {
            "name": bundle.name, "card": bundle.card, "calibration": bundle.calibration_record,
            "trust_profile": bundle.trust_profile, "config": bundle.config, "with_evidence": explainer.with_evidence,
        })

    def key(self, source, settings: ExplanationSettings, shown_anyway: bool, part: str,
            root: Path | None = None) -> tuple[str, str]:
        """``(view key, attribution key)`` of one part of a study's view.

        Args:
            source: The study (components.presenter.StudySource).
            settings: The reader's settings.
            shown_anyway: The reader pressed Show anyway for this study.
            part: :data:`PANEL` or :data:`DETAILS`.
            root: The studies folder (its lesion masks are drawn on bundled studies).
        """
        explainer = self.explainer
        attribution_key = explainer.cache_key(source.image_bytes, source.report_text, settings)
        parts = {
            "part": part, "study": source.study_id, "title": source.title, "truth": source.truth_label,
            "masks": source.has_masks, "root": str(root) if root is not None else None,
            "image": hashlib.sha256(source.image_bytes).hexdigest(),
            "report": hashlib.sha256(source.report_text.encode("utf-8")).hexdigest(),
            # The settings as drawn (defaults resolved): the page's controls and a job's defaults meet on one key.
            "settings": {"sight_sensitivity": explainer.sight_sensitivity(settings),
                         "link_distance": explainer.link_distance(settings), "min_points": settings.min_points,
                         "smoothing": explainer.attribution_smoothing(settings),
                         "removal": settings.removal or DEFAULT_REMOVAL, "steps": settings.steps,
                         "method": settings.method, "image_baseline": explainer.image_baseline(settings)},
            "shown_anyway": bool(shown_anyway),
            "radiograph_by_url": source.image_url is not None, "model": self._model,
            "evidence_version": EVIDENCE_VERSION, "code": code_version(),
        }
        return view_key(attribution_key, parts), attribution_key

    def load(self, key: str, source, session_id: str | None) -> dict[str, Any] | None:
        """A stored part's outputs by field name (absent fields were ``no_update``), its overlays named by this
        session's URLs; None when there is none, it is corrupt, or an overlay it names is gone."""
        record = self.store.get_json(key)
        if not isinstance(record, dict) or not isinstance(record.get("outputs"), dict):
            return None
        if record.get("study") != source.study_id:
            return None  # never another study's view (a key collision would need a sha256 one)
        outputs = record["outputs"]
        for image in _layout_images(outputs):
            placeholder = image.get("source")
            if placeholder == RADIOGRAPH_PLACEHOLDER:
                image["source"] = source.radiograph_source
            elif isinstance(placeholder, str) and placeholder.startswith(VIEW_IMAGE_PLACEHOLDER):
                image_key = placeholder[len(VIEW_IMAGE_PLACEHOLDER):]
                if image_key not in self.store:
                    return None  # evicted on its own: draw the view again rather than show it without
                image["source"] = self.image_url(source.study_id, session_id, image_key)
        return {"outputs": outputs, "probability": record.get("probability")}

    def save(self, key: str, attribution_key: str, source, session_id: str | None, outputs: dict[str, Any],
             probability: float | None = None) -> bool:
        """Store a part drawn just now (fields set to ``no_update`` are left out); False when it is not stored
        (it would carry the session id)."""
        kept = {name: value for name, value in outputs.items() if value is not no_update}
        plain = json.loads(to_json_plotly(kept))
        for image in _layout_images(plain):
            value = image.get("source")
            if value == source.radiograph_source:
                image["source"] = RADIOGRAPH_PLACEHOLDER
            elif isinstance(value, str) and value.startswith(_PNG_DATA_URI):
                png = base64.b64decode(value[len(_PNG_DATA_URI):])
                image_key = view_image_key(source.study_id, png)
                self.store.put(image_key, source.study_id.encode("utf-8") + b"\x00" + png, attribution_key)
                image["source"] = VIEW_IMAGE_PLACEHOLDER + image_key
        record = {"study": source.study_id, "probability": probability, "outputs": plain}
        if session_id and session_id in json.dumps(record):
            logger.warning("study view of %s not stored: it names the page's session", source.study_id)
            return False
        self.store.put_json(key, record, attribution_key)
        return True

    def display_png(self, convert: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        """``convert`` (image file bytes -> the viewer's PNG: components.presenter.radiograph_png) done once per
        image file and drawing code, then read back: a DICOM or JPEG film is decoded once, whoever loads it."""

        def display(image_bytes: bytes) -> bytes:
            image_sha = hashlib.sha256(image_bytes).hexdigest()
            key = view_key(image_sha, {"part": "radiograph", "code": code_version()})
            png = self.store.get(key)
            if png is None:
                png = convert(image_bytes)
                self.store.put(key, png, attribution_key=image_sha)
            return png

        return display

    def image(self, key: str, study_id: str) -> bytes | None:
        """A stored overlay PNG of ``study_id``, or None (unknown key, corrupt, or another study's)."""
        payload = self.store.get(key)
        if payload is None:
            return None
        owner, _, png = payload.partition(b"\x00")
        return png if owner == study_id.encode("utf-8") and png else None


def _layout_images(outputs: dict) -> list[dict]:
    """The layout images of a part's radiograph figure (none for the details part)."""
    figure = outputs.get("xray_figure")
    layout = figure.get("layout") if isinstance(figure, dict) else None
    images = layout.get("images") if isinstance(layout, dict) else None
    return [image for image in images if isinstance(image, dict)] if isinstance(images, list) else []
