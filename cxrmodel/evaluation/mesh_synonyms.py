"""A small, cited table of synonyms for the MeSH major terms of the IU X-ray (OpenI) reports.

The IU indexers wrote a report's findings as MeSH descriptors with IU's own qualifiers (``Calcinosis/lung/hilum``,
``Cicatrix/lung/base/left``, ``Lung/hyperdistention``), while the radiologists wrote ``calcified``, ``scarring``
and ``hyperinflated``. To decide whether an explanation's top words name a study's MeSH terms
(:mod:`cxrmodel.evaluation.word_hits`), each row below adds words to one term *component* (the descriptor before
the first ``/`` or a qualifier after one, lower case). Word forms a stemmer already unites are not listed
(``effusions`` ~ ``effusion``, ``scarred`` ~ ``scar``, ``blunting`` ~ ``blunted``, ``enlargement`` ~ ``enlarged``:
Porter stems, :func:`cxrmodel.evaluation.word_hits.word_key`).

Where a row comes from (``source``):

* ``MeSH Dnnnnnn`` — entry terms (or a narrower concept's terms) of that descriptor in NLM's MeSH, as shown by the
  MeSH browser (https://meshb.nlm.nih.gov/record/ui?ui=Dnnnnnn). Only rows whose entry terms the author is sure of
  are cited this way; the MeSH records could not be fetched on the machine that wrote this table.
* ``IU/OpenI report wording, observed`` — no MeSH entry term: the word the IU reports use for the finding the
  indexers coded (the three named in issue #20 — ``calcified``, ``scarring``, ``hyperinflated`` — and a few word
  forms of the same finding that the stemmer does not unite). These were written down before the
  ``evaluate-words`` evaluation was run and were not changed after looking at its misses.

The table is deliberately small: a synonym makes a hit easier, so each row must be a real name of the coded
finding, not a related finding (``pacemaker`` is not a synonym of ``Implanted Medical Device``; ``heart`` and
``cardiac``, which name the organ in every report, are left out of Cardiomegaly's entry terms).
"""

from __future__ import annotations

from dataclasses import dataclass

OBSERVED = "IU/OpenI report wording, observed"
"""The ``source`` of a row that is not a MeSH entry term."""


@dataclass(frozen=True)
class SynonymRow:
    """Extra words for one MeSH term component.

    Attributes:
        component: The component as the IU indexers wrote it, lower case (``"calcinosis"``, ``"hyperdistention"``).
        words: Words that name the same finding in a report (single words, lower case).
        source: Where the words come from (``"MeSH D002114 entry term 'Calcification, Pathologic'"`` or
            :data:`OBSERVED`).
    """

    component: str
    words: tuple[str, ...]
    source: str


MESH_SYNONYMS: tuple[SynonymRow, ...] = (
    SynonymRow("calcinosis", ("calcification", "calcifications"),
               "MeSH D002114 (Calcinosis) entry terms 'Calcification, Pathologic', 'Calcifications, Pathologic'"),
    SynonymRow("calcinosis", ("calcified", "calcific"), OBSERVED),
    SynonymRow("cicatrix", ("scar", "scars", "scarring"),
               "MeSH D002921 (Cicatrix) entry terms 'Scar', 'Scars', 'Scarring'"),
    SynonymRow("cardiomegaly", ("enlarged", "enlargement", "hypertrophy"),
               "MeSH D006332 (Cardiomegaly) entry terms 'Enlarged Heart', 'Heart Enlargement' and its narrower "
               "concept 'Cardiac Hypertrophy'"),
    SynonymRow("pulmonary disease, chronic obstructive", ("copd",),
               "MeSH D029424 (Pulmonary Disease, Chronic Obstructive) entry term 'COPD'"),
    SynonymRow("spine", ("spinal", "vertebral"),
               "MeSH D013131 (Spine) entry terms 'Spinal Column', 'Vertebral Column'"),
    SynonymRow("pulmonary atelectasis", ("atelectatic",), OBSERVED),
    SynonymRow("hyperdistention", ("hyperinflated", "hyperinflation", "hyperexpanded", "hyperexpansion",
                                   "overinflated", "overinflation"), OBSERVED),
    SynonymRow("hypoinflation", ("low", "volumes", "volume"), OBSERVED + " ('low lung volumes')"),
    SynonymRow("granulomatous disease", ("granuloma", "granulomas", "granulomata"), OBSERVED),
    SynonymRow("opacity", ("opacification", "opacified"), OBSERVED),
    SynonymRow("thoracic vertebrae", ("spine", "spinal", "vertebral"), OBSERVED),
    SynonymRow("emphysema", ("emphysematous",), OBSERVED),
    SynonymRow("pulmonary emphysema", ("emphysematous",), OBSERVED),
    SynonymRow("atherosclerosis", ("atherosclerotic",), OBSERVED),
    SynonymRow("nodule", ("nodular",), OBSERVED),
    SynonymRow("tortuous", ("tortuosity",), OBSERVED),
    SynonymRow("surgical instruments", ("clip", "clips"), OBSERVED + " (surgical clips)"),
)
"""The synonym table (see the module docstring for the sources); several rows may share a component."""


def synonyms_of(component: str) -> tuple[str, ...]:
    """The extra words of one MeSH term component (``""`` -> none), in table order, without repeats.

    Args:
        component: A descriptor or qualifier as written in the MeSH major term (case and surrounding spaces are
            ignored: ``"Calcinosis"``, ``" hyperdistention"``).
    """
    key = " ".join(component.lower().split())
    words: dict[str, None] = {}
    for row in MESH_SYNONYMS:
        if row.component == key:
            words.update(dict.fromkeys(row.words))
    return tuple(words)


def synonym_table() -> list[dict]:
    """The table as plain JSON rows ``{"component", "words", "source"}`` (for the evaluation document)."""
    return [{"component": row.component, "words": list(row.words), "source": row.source} for row in MESH_SYNONYMS]
