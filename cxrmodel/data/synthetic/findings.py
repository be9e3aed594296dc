"""The vocabulary of synthetic findings shared by the phantom renderer and the report writer.

A synthetic study is described by a list of :class:`Finding` objects plus the burnt-in markers on the film.
The phantom renderer (``cxrmodel.data.synthetic.phantom.render``) draws them and returns one ground-truth mask per
finding; the report writer (``cxrmodel.data.synthetic.reports.writer``) describes them in IU X-ray style.
"""

from __future__ import annotations

from dataclasses import dataclass

CARDIOMEGALY = "cardiomegaly"
NODULE = "nodule"
MASS = "mass"
EFFUSION = "effusion"
CONSOLIDATION = "consolidation"
PNEUMOTHORAX = "pneumothorax"
DEGENERATIVE_SPINE = "degenerative_spine"

FINDING_KINDS: tuple[str, ...] = (
    CARDIOMEGALY,
    NODULE,
    MASS,
    EFFUSION,
    CONSOLIDATION,
    PNEUMOTHORAX,
    DEGENERATIVE_SPINE,
)
"""Every finding kind the generator can draw, in a stable order."""

LATERALISED_KINDS: frozenset[str] = frozenset({NODULE, MASS, EFFUSION, CONSOLIDATION, PNEUMOTHORAX})
"""Kinds that sit in one lung: their ``side`` is ``"left"`` or ``"right"`` (the patient's side)."""

LUNG_ZONES: tuple[str, ...] = ("upper", "middle", "lower")

# Burnt-in film markers. Side markers appear on most films; the portable/supine markers are the
# "structured noise" of the method: they correlate with abnormality because sicker patients get portable films.
SIDE_MARKERS: tuple[str, ...] = ("R", "L")
PORTABLE_MARKERS: tuple[str, ...] = ("PORTABLE", "AP SUPINE", "AP PORTABLE", "SUPINE")


@dataclass(frozen=True)
class Finding:
    """One abnormality in a synthetic study.

    Attributes:
        kind: One of :data:`FINDING_KINDS`.
        severity: 0.0 (subtle, hard to see) to 1.0 (obvious). The renderer scales size/contrast with it;
            the report writer picks words such as "mild", "small", "large" from it.
        side: The patient's side for lateralised kinds (``"left"`` or ``"right"``), else ``None``.
            Radiograph convention: the patient's right is on the image's left.
        zone: Lung zone for nodule, mass and consolidation (``"upper"``, ``"middle"``, ``"lower"``), else ``None``.
    """

    kind: str
    severity: float
    side: str | None = None
    zone: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; expected one of {', '.join(FINDING_KINDS)}")
        if not 0.0 <= self.severity <= 1.0:
            raise ValueError(f"severity must be in [0, 1], got {self.severity}")
        if self.kind in LATERALISED_KINDS and self.side not in ("left", "right"):
            raise ValueError(f"{self.kind} needs side 'left' or 'right', got {self.side!r}")
        if self.zone is not None and self.zone not in LUNG_ZONES:
            raise ValueError(f"zone must be one of {LUNG_ZONES}, got {self.zone!r}")

    def to_dict(self) -> dict:
        """Plain-JSON form, as written to the generator's truth file."""
        return {"kind": self.kind, "severity": round(float(self.severity), 4), "side": self.side, "zone": self.zone}

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        """Inverse of :meth:`to_dict`."""
        return cls(kind=data["kind"], severity=float(data["severity"]), side=data.get("side"), zone=data.get("zone"))
