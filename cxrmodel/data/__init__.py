"""Where studies come from: real-format loaders (one module per source), the study collection, the fetchers.

Real formats: OpenI / IU X-ray (:mod:`~cxrmodel.data.openi`, its Kaggle repackaging in
:mod:`~cxrmodel.data.kaggle_openi`), NIH ChestX-ray14 (:mod:`~cxrmodel.data.chestxray14`); the project's own
download commands are in :mod:`~cxrmodel.data.fetch`. :mod:`cxrmodel.data.synthetic` generates the demo's
studies; only its cheap truth readers are loaded with this package.
"""

from cxrmodel.data.chestxray14 import (
    CHESTXRAY14_FINDINGS,
    ChestXray14Dataset,
    find_labels_file,
    load_bounding_boxes,
    load_chestxray14_labels,
)
from cxrmodel.data.collection import StudyCollection, StudySummary
from cxrmodel.data.kaggle_openi import is_kaggle_openi_folder, load_kaggle_openi
from cxrmodel.data.openi import Study, compose_report_text, load_openi, openi_label, parse_openi_xml

__all__ = [
    "CHESTXRAY14_FINDINGS",
    "ChestXray14Dataset",
    "Study",
    "StudyCollection",
    "StudySummary",
    "compose_report_text",
    "find_labels_file",
    "is_kaggle_openi_folder",
    "load_bounding_boxes",
    "load_chestxray14_labels",
    "load_kaggle_openi",
    "load_openi",
    "openi_label",
    "parse_openi_xml",
]
