"""Exact-format OpenI report XML for the label-rule tests, built from the hand-written ``1.xml`` fixture.

Only the parts the rules read are replaced, written the way the real ``NLMCXR_reports.tgz`` writes them: an empty
section is a self-closing ``<AbstractText Label="FINDINGS"/>`` (e.g. the real ``1137.xml``), an unindexed study has
``<MeSH><major>No Indexing</major></MeSH>`` (e.g. the real ``1023.xml``), and a study without images has no
``<parentImage>`` element.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

TEMPLATE = (Path(__file__).resolve().parents[2] / "fixtures" / "openi" / "ecgen-radiology" / "1.xml").read_text(
    encoding="utf-8")

_ABSTRACT = re.compile(r"<Abstract>.*?</Abstract>", re.S)
_MESH = re.compile(r"<MeSH>.*?</MeSH>", re.S)
_FIRST_IMAGE = re.compile(r"<parentImage id=\"[^\"]*\">.*?</parentImage>", re.S)
_IMAGES = re.compile(r"\s*<parentImage id=\"[^\"]*\">.*?</parentImage>", re.S)


def _section(label: str, text: str) -> str:
    return f'<AbstractText Label="{label}">{text}</AbstractText>' if text else f'<AbstractText Label="{label}"/>'


def openi_report_xml(number: int, findings: str, impression: str, major: list[str], images: int = 2) -> str:
    """One ``ecgen-radiology/<number>.xml`` document in the real archive's format."""
    abstract = "<Abstract>\n         \n            " + "\n         \n            ".join(
        _section(label, text) for label, text in
        (("COMPARISON", "None."), ("INDICATION", "Fixture"), ("FINDINGS", findings), ("IMPRESSION", impression))
    ) + "\n      \n         </Abstract>"
    mesh = "<MeSH>\n   \n" + "".join(f"      <major>{term}</major>\n" for term in major) + "\n   </MeSH>"
    document = _ABSTRACT.sub(lambda _: abstract, TEMPLATE, count=1)
    document = _MESH.sub(lambda _: mesh, document, count=1)
    image = _FIRST_IMAGE.search(TEMPLATE).group()
    document = _IMAGES.sub("", document)
    image_elements = "".join(
        "\n   " + image.replace("CXR1_1_IM-0001-1001", f"CXR{number}_1_IM-{number:04d}-{1001 + index}")
        for index in range(images)
    )
    document = document.replace("\n</eCitation>", f"{image_elements}\n</eCitation>")
    return document.replace('<uId id="CXR1"/>', f'<uId id="CXR{number}"/>').replace(
        '<pmcId id="1"/>', f'<pmcId id="{number}"/>').replace('<IUXRId id="1"/>', f'<IUXRId id="{number}"/>')


NORMAL_FINDINGS = ("The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
                   "Heart size normal. Lungs are clear. No pneumothorax or pleural effusion.",
                   "The cardiomediastinal silhouette is within normal limits. No focal consolidation.")
ABNORMAL_FINDINGS = ("The heart is enlarged. Cardiomegaly with small right pleural effusion.",
                     "Right lower lobe airspace opacity. Degenerative changes of the thoracic spine.",
                     "Calcified granuloma in the left upper lobe. Mild cardiomegaly.")
ABNORMAL_MESH = (["Cardiomegaly/mild", "Pleural Effusion/right/small"], ["Opacity/lung/base/right"],
                 ["Calcified Granuloma/lung/upper lobe/left", "Cardiomegaly/mild"])


def rule_collection(normal: int = 12, abnormal: int = 12) -> dict[int, str]:
    """A collection with every rule's case, by study number.

    * ``normal`` normal and ``abnormal`` abnormal studies with reports and two images;
    * 901, 902: ``No Indexing`` only, reports reading normal ("No active disease.");
    * 903: empty FINDINGS and IMPRESSION, MeSH ``normal`` (as the real archive's 28 empty reports);
    * 904: a normal report without any ``parentImage``;
    * 905: ``No Indexing`` only and empty report (dropped once, as ``empty_report``).
    """
    documents: dict[int, str] = {}
    for index in range(normal):
        documents[index + 1] = openi_report_xml(index + 1, NORMAL_FINDINGS[index % 3], "No active disease.",
                                                ["normal"])
    for index in range(abnormal):
        number = 100 + index
        documents[number] = openi_report_xml(number, ABNORMAL_FINDINGS[index % 3], "Abnormal chest.",
                                             ABNORMAL_MESH[index % 3])
    documents[901] = openi_report_xml(901, NORMAL_FINDINGS[0], "No active disease.", ["No Indexing"])
    documents[902] = openi_report_xml(902, NORMAL_FINDINGS[1], "No active disease.", ["No Indexing"])
    documents[903] = openi_report_xml(903, "", "", ["normal"])
    documents[904] = openi_report_xml(904, NORMAL_FINDINGS[2], "No acute disease.", ["normal"], images=0)
    documents[905] = openi_report_xml(905, "", "", ["No Indexing"], images=1)
    return documents


def write_archive(path: Path, documents: dict[int, str]) -> Path:
    """The documents as ``ecgen-radiology/<n>.xml`` members of a ``.tgz`` laid out like ``NLMCXR_reports.tgz``."""
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("ecgen-radiology")
        info.type = tarfile.DIRTYPE
        archive.addfile(info)
        for number, document in sorted(documents.items()):
            data = document.encode("utf-8")
            info = tarfile.TarInfo(f"ecgen-radiology/{number}.xml")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
