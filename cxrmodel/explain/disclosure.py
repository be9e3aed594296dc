"""One disclosure decision per study: what of the model's answer a reader may see, taken by every output.

A model answers every film with the same apparent confidence, including films it cannot judge (a real radiograph
shown to a model trained on phantoms, a lateral view, a photograph). The distribution check
(:func:`cxrmodel.imaging.check_distribution`, carried by the explanation document as ``"distribution"``) says
whether this film looks like the model's training films; :class:`Disclosure` turns that verdict, and the reader's
**Show anyway**, into one decision that every output takes — the dashboard's panels, the JSON and PNG exports, the
``explain`` and ``predict`` commands and the model worker's answers — so that no output can forget the gate:

* :data:`SHOW` — the film looks like the training films (or could not be compared: a bundle without a reference
  film, or a text-only model that reads no film): everything is shown.
* :data:`WITHHOLD` — the film does not look like them: P(abnormal), the verdict, the circles, the region and word
  deletion evidence, the modality ledger, the what-if, the model comparison and the stability check
  (:data:`COVERED_PARTS`) are withheld, and every output says "not judged" with the reason. The reader may ask
  to see them anyway; they are then shown, stamped "shown anyway".
* :data:`REFUSE` — the view check calls the film a lateral (or the check says refuse): nothing is shown and
  there is no Show anyway; the word scores are withheld too.

The decision is pure data (a frozen dataclass, no Dash, no TensorFlow). :meth:`Disclosure.redact` applies it to a
JSON document (the explanation document, or a prediction's ``{"label", "probability", "calibrated_probability"}``)
and adds the keys ``"judged"``, ``"not_judged_reason"`` and ``"shown_anyway"`` that tools outside this project
read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "COVERED_PARTS",
    "DEFAULT_REFUSAL",
    "NOT_JUDGED_HEADING",
    "REFUSE",
    "SHOW",
    "SHOWN_ANYWAY_STAMP",
    "SHOWN_ANYWAY_TEXT",
    "WITHHELD_TEXT",
    "WITHHOLD",
    "Disclosure",
]

SHOW, WITHHOLD, REFUSE = "show", "withhold", "refuse"
DECISIONS = (SHOW, WITHHOLD, REFUSE)

COVERED_PARTS = ("probability", "verdict", "circles", "region_evidence", "word_evidence", "ledger", "what_if",
                 "model_comparison", "stability")
"""What the decision covers: every number or mark of the model's answer about the study."""

NOT_JUDGED_HEADING = "The model cannot judge this image"
WITHHELD_TEXT = ("It does not look like the frontal chest films the model was trained on, so its P(abnormal), its "
                 "verdict and the circles would say nothing about this film: they are hidden.")
SHOWN_ANYWAY_TEXT = ("Shown anyway: the model cannot judge this image; these numbers are not a judgement of it.")
SHOWN_ANYWAY_STAMP = "shown anyway"
"""The word every output that carries a withheld study's numbers puts beside them."""
DEFAULT_REFUSAL = "The model was not trained on this kind of image; upload a frontal (PA/AP) chest film."
DEFAULT_NOT_JUDGED = "the film does not look like the films this model was trained on"

_COMPLETENESS_KEPT = ("relative_error", "converged", "steps", "method")
"""Completeness fields that say nothing about P (``expected`` plus ``baseline_probability`` is P itself)."""


def _as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Disclosure:
    """What may be shown of the model's answer about one study.

    Attributes:
        decision: :data:`SHOW`, :data:`WITHHOLD` or :data:`REFUSE`.
        shown_anyway: The reader pressed Show anyway for this study (only a :data:`WITHHOLD` can be shown anyway).
        not_judged_reason: Why the model cannot judge the film (the check's reasons, or the refusal); None when
            judged.
        reasons: Each reason of the distribution check, as it gave them.
        judged_by: Which trust profile judged the film (``distribution["profile"]["description"]``), when the
            check names one.
    """

    decision: str = SHOW
    shown_anyway: bool = False
    not_judged_reason: str | None = None
    reasons: tuple[str, ...] = ()
    judged_by: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")
        if self.shown_anyway and self.decision != WITHHOLD:
            raise ValueError(f"only a withheld study can be shown anyway, not one decided {self.decision!r}")

    @classmethod
    def from_distribution(cls, distribution: dict | None, view: dict | None = None,
                          shown_anyway: bool = False) -> Disclosure:
        """The decision for a distribution check's verdict (``DistributionCheck.to_dict()``).

        Args:
            distribution: The check's verdict; None for a study whose film the model does not read.
            view: A view check's verdict given apart from the distribution (``{"frontal", "score", "reason"}``);
                None = ``distribution["view"]``.
            shown_anyway: The reader asked to see a withheld study's numbers (ignored unless withheld).
        """
        checked = _as_dict(distribution)
        view = view if isinstance(view, dict) else _as_dict(checked.get("view"))
        reasons = tuple(str(reason) for reason in checked.get("reasons") or [])
        profile = _as_dict(checked.get("profile")).get("description")
        judged_by = str(profile) if profile else None
        if checked.get("refuse") is True or view.get("frontal") is False:
            if view.get("frontal") is False and view.get("reason"):
                refusal = str(view["reason"])
            else:
                refusal = reasons[0] if reasons else DEFAULT_REFUSAL
            return cls(REFUSE, False, refusal, reasons, judged_by)
        if checked.get("in_distribution") is False:
            reason = "; ".join(reasons) if reasons else DEFAULT_NOT_JUDGED
            return cls(WITHHOLD, bool(shown_anyway), reason, reasons, judged_by)
        return cls(SHOW, False, None, reasons, judged_by)

    @classmethod
    def of(cls, document: dict, shown_anyway: bool | None = None) -> Disclosure:
        """The decision for an explanation document (its ``distribution``, and a top-level ``view`` if any).

        Args:
            document: The explanation document (:func:`cxrmodel.explain.explanation_document`), or one already
                redacted (its ``"shown_anyway"`` then says whether it was shown anyway).
            shown_anyway: The reader's Show anyway; None = the document's own ``"shown_anyway"`` flag.
        """
        if shown_anyway is None:
            shown_anyway = document.get("shown_anyway") is True
        top_view = document.get("view")
        return cls.from_distribution(document.get("distribution"), top_view if isinstance(top_view, dict) else None,
                                     shown_anyway)

    @property
    def judged(self) -> bool:
        """True when the model may judge the film: its numbers are shown with no stamp."""
        return self.decision == SHOW

    @property
    def shows_numbers(self) -> bool:
        """True when the covered parts are shown: a judged study, or a withheld one shown anyway."""
        return self.judged or self.shown_anyway

    @property
    def can_show_anyway(self) -> bool:
        """True when the reader may still press Show anyway (withheld, not shown yet)."""
        return self.decision == WITHHOLD and not self.shown_anyway

    def shows(self, part: str) -> bool:
        """Whether one of :data:`COVERED_PARTS` is shown.

        Raises:
            ValueError: ``part`` is not a covered part (a typo would otherwise show or hide it silently).
        """
        if part not in COVERED_PARTS:
            raise ValueError(f"{part!r} is not one of the disclosed parts {COVERED_PARTS}")
        return self.shows_numbers

    def with_shown_anyway(self, shown_anyway: bool) -> Disclosure:
        """The same decision with the reader's Show anyway (kept False for a study that is not withheld)."""
        return Disclosure(self.decision, bool(shown_anyway) and self.decision == WITHHOLD, self.not_judged_reason,
                          self.reasons, self.judged_by)

    def notice(self) -> str | None:
        """The sentence above a study that is not judged: "… they are hidden", or the shown-anyway sentence, or
        the refusal; None for a judged study."""
        if self.decision == REFUSE:
            return self.not_judged_reason
        if self.decision == WITHHOLD:
            return SHOWN_ANYWAY_TEXT if self.shown_anyway else WITHHELD_TEXT
        return None

    def stamp(self) -> str | None:
        """One line for a caption or a text output: ``"not judged: <reason>"``, prefixed ``"shown anyway — "``
        after Show anyway; None for a judged study."""
        if self.judged:
            return None
        not_judged = f"not judged: {self.not_judged_reason}"
        return f"{SHOWN_ANYWAY_STAMP} — {not_judged}" if self.shown_anyway else not_judged

    def fields(self) -> dict:
        """``{"judged", "not_judged_reason", "shown_anyway"}``: the keys every JSON output carries."""
        return {"judged": self.judged, "not_judged_reason": self.not_judged_reason, "shown_anyway": self.shown_anyway}

    def redact(self, document: dict) -> dict:
        """``document`` as an output may carry it: the :meth:`fields`, and the covered numbers nulled when they
        are not shown (a copy; ``document`` is not changed).

        Withheld (and not shown anyway) or refused: ``probability``, ``calibrated_probability`` and ``label`` are
        null, ``circles`` is empty, ``signals``, ``verdict`` and ``evidence`` (region, word and modality deletion,
        stability) are null, the ``modality_share`` values are null, and ``completeness`` keeps only what says nothing
        about P. Refused: the ``words`` are dropped too. Keys the document does not have are not added.
        Redacting a redacted document gives the same document.
        """
        shown = {**document, **self.fields()}
        if self.shows_numbers:
            return shown
        for key in ("probability", "calibrated_probability", "label", "signals", "evidence", "verdict"):
            if key in shown:
                shown[key] = None
        if "circles" in shown:
            shown["circles"] = []
        if isinstance(shown.get("modality_share"), dict):
            shown["modality_share"] = dict.fromkeys(shown["modality_share"])
        if isinstance(shown.get("completeness"), dict):
            shown["completeness"] = {key: (value if key in _COMPLETENESS_KEPT else None)
                                     for key, value in shown["completeness"].items()}
        if self.decision == REFUSE and "words" in shown:
            shown["words"] = []
        return shown
