"""One reviewer's finding points on one DICOM radiograph as a DICOM Structured Report (highdicom).

A Comprehensive SR with a TID 1500 measurement report: the reviewer is the person observer, and each point is a
planar region of graphic type POINT on the radiograph, tracked as "<finding name or 'finding'> <number>". Only a
study whose image is a DICOM file can be referenced cleanly (an SR's coordinates name the SOP instance they lie
on); for PNG and JPEG studies nothing is written.

Coordinates: the review stores points in original-image pixels with pixel centres at whole numbers (x = column,
y = row); DICOM SCOORD puts the top-left corner of the first pixel at (0, 0), so its centre is (0.5, 0.5) and a
point is written as ``(x + 0.5, y + 0.5)``.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pydicom

from cxrmodel.reviews.records import ReviewError, StoredReview

logger = logging.getLogger(__name__)

SERIES_NUMBER = 900
"""Series number of the SR series (a derived series, after the acquisition's)."""
EMPTY_WHEN_ABSENT = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                     "ReferringPhysicianName", "StudyID", "AccessionNumber")
"""Type 2 attributes the SR copies from its evidence: empty in the copy when the radiograph's file has none."""


def _evidence(image: pydicom.Dataset) -> pydicom.Dataset:
    """The radiograph's header as the SR's evidence: its identifiers, with absent Type 2 attributes empty."""
    header = copy.deepcopy(pydicom.Dataset({tag: element for tag, element in image.items()
                                            if tag != pydicom.tag.Tag("PixelData")}))
    for keyword in EMPTY_WHEN_ABSENT:
        if keyword not in header:
            setattr(header, keyword, "")
    return header


def points_structured_report(image: pydicom.Dataset, review: StoredReview) -> pydicom.Dataset:
    """The DICOM SR of ``review``'s finding points on ``image``.

    Args:
        image: The radiograph the review is of (its Rows x Columns must be the reviewed image's size).
        review: One reviewer's stored review with at least one point.

    Returns:
        A Comprehensive SR dataset, ready for ``save_as``.

    Raises:
        ReviewError: the image is not the reviewed size or lacks the UIDs an SR refers to, or there is no point.
    """
    import highdicom as hd  # noqa: PLC0415 - highdicom only for this export
    from pydicom.sr.codedict import codes  # noqa: PLC0415

    missing = [keyword for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "Rows", "Columns")
               if keyword not in image]
    if missing:
        raise ReviewError(f"the DICOM file lacks {', '.join(missing)}, so an SR cannot refer to it")
    study = review.study
    if (int(image.Columns), int(image.Rows)) != (study.image_width, study.image_height):
        raise ReviewError(f"the DICOM image is {image.Columns}x{image.Rows} pixels but {study.study_name} was "
                          f"reviewed at {study.image_width}x{study.image_height}: it is not the reviewed film")
    if not review.draft.points:
        raise ReviewError(f"{review.reviewer}'s review of {study.study_name} has no finding point")
    evidence = _evidence(image)
    source = hd.sr.SourceImageForRegion.from_source_image(evidence)
    # A single-component person name ends with "^" (PS3.5 6.2.1.2): the reviewer's login name as the family name.
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=f"{review.reviewer}^",
                                                                                  login_name=review.reviewer))
    regions = []
    for number, point in enumerate(review.draft.points, 1):
        name = point.finding or "finding"
        regions.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{name} {number}"),
            referenced_region=hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POINT,
                                                graphic_data=np.array([[point.x + 0.5, point.y + 0.5]]),
                                                source_image=source),
            finding_type=codes.DCM.Finding))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_person_context=observer),
                                     procedure_reported=codes.SCT.ImagingProcedure, imaging_measurements=regions)
    logger.info("SR of %d point(s) by %s on %s", len(regions), review.reviewer, study.study_name)
    return hd.sr.ComprehensiveSR(
        evidence=[evidence], content=report, series_instance_uid=hd.UID(), series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="cxrmodel",
        series_description=f"Reviewer points ({review.reviewer}, model {study.bundle_fingerprint})")
