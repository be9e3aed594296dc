"""Synthetic studies with ground truth: phantom radiographs, IU-style reports, lesion masks.

Only the folder layout and truth readers are re-exported (they are cheap); the generator lives in
:mod:`cxrmodel.data.synthetic.studies` (phantom renderer and report writer) and is imported by its full path.
"""

from cxrmodel.data.synthetic.layout import (
    IMAGES_FOLDER,
    MASKS_FOLDER,
    REPORTS_FOLDER,
    TRUTH_FILE,
    load_mask,
    load_truth,
)

__all__ = ["IMAGES_FOLDER", "MASKS_FOLDER", "REPORTS_FOLDER", "TRUTH_FILE", "load_mask", "load_truth"]
