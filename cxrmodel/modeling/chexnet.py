"""Load CheXNet Keras weights (``brucechou1983_CheXNet_Keras_0.3.0_weights.h5`` layout) into the image encoder.

The file is what Keras 2 ``model.save_weights("x.h5")`` writes for::

    base = keras.applications.DenseNet121(include_top=False, weights=None, pooling="avg", input_shape=(224, 224, 3))
    model = keras.Model(base.input, keras.layers.Dense(14, activation="sigmoid", name="predictions")(base.output))

i.e. the legacy HDF5 weights layout: root attributes ``layer_names`` (every layer, in model order),
``backend`` and ``keras_version``; one group per layer with a ``weight_names`` attribute listing its weight
datasets in the layer's weight order (e.g. ``conv1/conv/kernel:0``; BatchNormalization: gamma, beta,
moving_mean, moving_variance). A full-model file (weights under a ``model_weights`` group) is read the same way.
Keras 2 named the first layers ``conv1/conv``, ``conv1/bn``, ``conv1/relu``; Keras 3 forbids ``/`` in names
and calls them ``conv1_conv``, ...: names are compared with ``/`` read as ``_``.

The file is read with h5py and matched layer by layer (by name; weights in the file's order, shapes checked)
rather than with Keras' own legacy loader, so that a wrong file is refused with a message naming the layer,
and nothing is written into the encoder unless every layer matches.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrmodel.data.chestxray14 import CHESTXRAY14_FINDINGS

logger = logging.getLogger(__name__)

CHEXNET_FINDINGS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)
"""Output order of CheXNet's ``predictions`` layer (differs from :data:`CHESTXRAY14_FINDINGS`)."""

CHEXNET_IMAGE_SIZE = 224
BACKBONE_LAYER = "densenet121"
PREDICTIONS_LAYER = "predictions"


class ChexnetWeightsError(ValueError):
    """The file or the model does not fit the CheXNet layout; the message says what differs."""


@dataclass(frozen=True)
class ChexnetHead:
    """CheXNet's 14-way ``predictions`` layer: P(finding) = sigmoid(pooled_features @ kernel + bias).

    Attributes:
        kernel: (1024, 14) float32, columns in :data:`CHEXNET_FINDINGS` order.
        bias: (14,) float32, same order.
    """

    kernel: np.ndarray
    bias: np.ndarray

    def in_chestxray14_order(self) -> tuple[np.ndarray, np.ndarray]:
        """``(kernel, bias)`` with columns reordered to :data:`CHESTXRAY14_FINDINGS` (the pre-training head's order)."""
        order = [CHEXNET_FINDINGS.index(name) for name in CHESTXRAY14_FINDINGS]
        return self.kernel[:, order], self.bias[order]


def _decode(values) -> list[str]:
    return [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in values]


def _check_encoder(image_encoder) -> object:
    try:
        backbone = image_encoder.get_layer(BACKBONE_LAYER)
    except ValueError:
        raise ChexnetWeightsError(
            f"the image encoder has no {BACKBONE_LAYER} backbone: CheXNet weights need "
            "ModelConfig(backbone='densenet121', preprocessing='imagenet', image_size=224)"
        ) from None
    size = tuple(image_encoder.input.shape[1:])
    if size != (CHEXNET_IMAGE_SIZE, CHEXNET_IMAGE_SIZE, 3):
        raise ChexnetWeightsError(f"CheXNet weights were trained on 224 x 224 x 3 inputs; this encoder takes {size}: "
                                  "use image_size=224")
    if not any(layer.name == "imagenet_normalisation" for layer in image_encoder.layers):
        raise ChexnetWeightsError("CheXNet expects ImageNet mean/std normalisation: use preprocessing='imagenet'")
    return backbone


def _read_layers(path: Path) -> tuple[dict[str, list[np.ndarray]], dict[str, str], str]:
    """Weights per layer (name with ``/`` read as ``_``), the file's own names, and a description of the file."""
    import h5py  # noqa: PLC0415 - h5py only when CheXNet weights are read

    if not path.is_file():
        raise FileNotFoundError(f"CheXNet weights file {path} does not exist")
    if not h5py.is_hdf5(path):
        raise ChexnetWeightsError(f"{path} is not an HDF5 file (expected Keras .h5 weights)")
    weights: dict[str, list[np.ndarray]] = {}
    original: dict[str, str] = {}
    with h5py.File(path, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in root.attrs:
            raise ChexnetWeightsError(f"{path} is not a Keras 2 weights file (no 'layer_names' attribute)")
        for name in _decode(root.attrs["layer_names"]):
            if name not in root:
                raise ChexnetWeightsError(f"{path}: layer {name!r} is listed in layer_names but has no group")
            group = root[name]
            weight_names = _decode(group.attrs.get("weight_names", []))
            try:
                arrays = [np.asarray(group[weight_name]) for weight_name in weight_names]
            except KeyError as error:
                raise ChexnetWeightsError(f"{path}: layer {name!r} lacks a listed weight ({error})") from None
            if arrays:
                key = name.replace("/", "_")
                weights[key] = arrays
                original[key] = name
        version = _decode([root.attrs.get("keras_version", b"unknown")])[0]
        backend = _decode([root.attrs.get("backend", b"unknown")])[0]
    return weights, original, f"Keras {version} ({backend})"


def load_chexnet_weights(image_encoder, path: str | os.PathLike) -> ChexnetHead | None:
    """Copy CheXNet Keras weights into the DenseNet-121 backbone of an image encoder, in place.

    Args:
        image_encoder: The ``image_encoder`` sub-model of :func:`cxrmodel.modeling.builders.build_image_encoder` built
            with ``ModelConfig(backbone="densenet121", preprocessing="imagenet", image_size=224)``. Its
            ``densenet121`` backbone receives all 241 weighted layers (120 convolutions, 121 batch normalisations);
            the layers after the backbone (``image_feature_norm``, ``image_features``) keep their weights. The
            encoder's own ImageNet normalisation of [0, 1] pixels equals CheXNet's input (RGB / 255, ImageNet
            mean/std), so the backbone's pooled (batch, 1024) features are CheXNet's for the same image.
        path: A ``.h5`` file in the layout of ``brucechou1983_CheXNet_Keras_0.3.0_weights.h5`` (see the module
            docstring; Keras 2 ``save_weights`` or full-model ``save``).

    Returns:
        The file's 14-way ``predictions`` layer (:class:`ChexnetHead`, :data:`CHEXNET_FINDINGS` order), or
        ``None`` when the file holds only the backbone.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ChexnetWeightsError: (a ``ValueError``) not HDF5, not a Keras weights file, a backbone layer missing
            from the file, a weight count or shape that differs, layers the CheXNet layout does not have, or
            an encoder that is not DenseNet-121 at 224 px with ImageNet normalisation. Nothing is changed in
            the encoder when any of these is raised.
    """
    path = Path(path)
    backbone = _check_encoder(image_encoder)
    weights, original, described = _read_layers(path)
    assignments = []
    missing = []
    for layer in backbone.layers:
        current = layer.get_weights()
        if not current:
            continue
        stored = weights.pop(layer.name, None)
        if stored is None:
            missing.append(layer.name)
            continue
        expected = [tuple(array.shape) for array in current]
        found = [tuple(array.shape) for array in stored]
        if expected != found:
            raise ChexnetWeightsError(f"{path}: layer {original[layer.name]!r} has weight shapes {found}, "
                                      f"DenseNet-121 needs {expected}")
        assignments.append((layer, stored))
    if missing:
        raise ChexnetWeightsError(f"{path}: {len(missing)} DenseNet-121 layers missing from the file (first: "
                                  f"{missing[0]!r}); not the CheXNet DenseNet-121 layout")
    head_weights = weights.pop(PREDICTIONS_LAYER, None)
    if weights:
        extra = sorted(original[name] for name in weights)
        raise ChexnetWeightsError(f"{path}: layers the CheXNet layout does not have: {', '.join(extra[:5])}")
    head = None
    if head_weights is not None:
        shapes = [tuple(array.shape) for array in head_weights]
        if shapes != [(1024, len(CHEXNET_FINDINGS)), (len(CHEXNET_FINDINGS),)]:
            raise ChexnetWeightsError(f"{path}: 'predictions' has weight shapes {shapes}, expected [(1024, 14), (14,)]")
        head = ChexnetHead(kernel=head_weights[0].astype(np.float32), bias=head_weights[1].astype(np.float32))
    for layer, stored in assignments:
        layer.set_weights(stored)
    logger.info("loaded %d DenseNet-121 layers from %s (%s)%s", len(assignments), path, described,
                " with its 14-way predictions head" if head is not None else "")
    return head
