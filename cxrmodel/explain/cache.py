"""Integrated-gradients explanations on disk, so a study is explained once per model and setting.

Keys (:func:`explanation_key`) are the sha256 of a canonical JSON record of: the sha256 of the image file's
bytes, the sha256 of the report text (UTF-8), the model bundle fingerprint and the IG settings (steps, method,
baselines, ... — see :meth:`cxrmodel.explain.integrated_gradients.IntegratedGradientsExplainer.settings`). Change any of
them and the key changes.

Values are one bytes record per explanation::

    MAGIC (8 bytes) | sha256(payload) (32 bytes) | payload

where ``payload`` is an ``.npz`` archive (no pickles) holding ``image_attribution``, ``token_attribution``,
``token_share`` (each only when the model reads that half: a text-only model's record has no image map, an
image-only model's no token arrays) and ``metadata`` (UTF-8 JSON as uint8: probabilities, completeness, modality
shares, the deletion evidence). Arrays come back bit-identical; floats in the JSON round-trip exactly (``repr``),
NaN included.

A record that fails the magic, checksum or decoding is treated as corrupt: it is DELETED, the explanation is
recomputed and stored again — a corrupt entry is never served. Every record is kept as its own file
(``disk_min_file_size=0``) and the cache is bounded by ``size_limit`` bytes with least-recently-used eviction
(diskcache's). The cache directory is always explicit; a new :class:`ExplanationCache` on the same directory
(e.g. after a restart) sees the same entries.

Views drawn from an explanation (:mod:`cxrmodel.explain.views`) live in ``views/`` inside the cache directory and
go with it: storing an explanation again, or finding its record corrupt, drops every view drawn from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import diskcache
import numpy as np

from cxrmodel.explain.keys import canonical_json_default
from cxrmodel.explain.results import Completeness, StudyAttribution
from cxrmodel.explain.views import StudyViewStore

logger = logging.getLogger(__name__)

MAGIC = b"CXRIG\x00\x01\n"
"""First bytes of every stored record (format name and version 1)."""

KEY_VERSION = 4
"""Part of every key: bump it when the meaning of a stored explanation changes (2: report section headers are
no longer model words, so an entry for a headed report computed before that has shifted word slots; 3: entries
carry the deletion evidence, :mod:`cxrmodel.explain.evidence`; 4: that evidence carries log-odds beside every P
and removes regions by imputation — an entry of version 3 would be shown without log-odds, so it is not read).
Stored evidence also carries its own version (:data:`cxrmodel.explain.evidence.EVIDENCE_VERSION`): evidence of
another version found under a current key is computed again (forward passes only), never shown."""

DEFAULT_SIZE_LIMIT = 2 * 1024**3
"""Default bound on the cache's size on disk, bytes (2 GiB)."""

_ARRAY_FIELDS = ("image_attribution", "token_attribution", "token_share")
_CHECKSUM_BYTES = 32


class CorruptEntryError(ValueError):
    """A stored record failed its magic, checksum or decoding."""


def explanation_key(image_bytes: bytes, report_text: str, model_fingerprint: str, settings: dict) -> str:
    """Cache key of one explanation.

    Args:
        image_bytes: The study image file exactly as stored (PNG, JPEG, DICOM bytes).
        report_text: The report text the explanation was computed for.
        model_fingerprint: :attr:`cxrmodel.modeling.bundle.Bundle.fingerprint` of the model.
        settings: IG settings (JSON-able values; numpy arrays are represented by their sha256).

    Returns:
        64 hexadecimal characters (sha256).
    """
    record = {
        "version": KEY_VERSION,
        "image_sha256": hashlib.sha256(bytes(image_bytes)).hexdigest(),
        "report_sha256": hashlib.sha256(report_text.encode("utf-8")).hexdigest(),
        "model": str(model_fingerprint),
        "settings": settings,
    }
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=canonical_json_default,
                           allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_attribution(attribution: StudyAttribution) -> bytes:
    """One self-checking bytes record (see the module docstring) for a :class:`StudyAttribution`."""
    metadata = {
        "probability": float(attribution.probability),
        "baseline_probability": float(attribution.baseline_probability),
        "completeness": dataclasses.asdict(attribution.completeness),
        "modality_share": {name: float(value) for name, value in attribution.modality_share.items()},
        "evidence": attribution.evidence,
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        metadata=np.frombuffer(json.dumps(metadata, sort_keys=True).encode("utf-8"), dtype=np.uint8),
        **{name: np.asarray(getattr(attribution, name)) for name in _ARRAY_FIELDS
           if getattr(attribution, name) is not None},
    )
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode_attribution(record: bytes) -> StudyAttribution:
    """Inverse of :func:`encode_attribution`.

    Raises:
        CorruptEntryError: When the magic, the checksum, the archive or its content is not as written.
    """
    if not isinstance(record, (bytes, bytearray)):
        raise CorruptEntryError(f"stored value is {type(record).__name__}, not bytes")
    header = len(MAGIC) + _CHECKSUM_BYTES
    if len(record) < header or not record.startswith(MAGIC):
        raise CorruptEntryError("stored record does not start with the explanation-cache magic")
    checksum, payload = bytes(record[len(MAGIC) : header]), bytes(record[header:])
    if hashlib.sha256(payload).digest() != checksum:
        raise CorruptEntryError("stored record fails its sha256 checksum")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            arrays = {name: archive[name] if name in archive.files else None for name in _ARRAY_FIELDS}
            metadata = json.loads(archive["metadata"].tobytes().decode("utf-8"))
        completeness = Completeness(**metadata["completeness"])
        attribution = StudyAttribution(
            probability=float(metadata["probability"]),
            baseline_probability=float(metadata["baseline_probability"]),
            completeness=completeness,
            modality_share={str(name): float(value) for name, value in metadata["modality_share"].items()},
            evidence=metadata.get("evidence"),
            **arrays,
        )
    except Exception as error:  # noqa: BLE001 - any decoding failure means the record is unusable
        raise CorruptEntryError(f"stored record cannot be decoded ({type(error).__name__}: {error})") from error
    image, tokens, shares = attribution.image_attribution, attribution.token_attribution, attribution.token_share
    if (image is None and tokens is None) or (tokens is None) != (shares is None):
        raise CorruptEntryError("stored record lacks its attribution arrays")
    if (image is not None and image.ndim != 2) or (tokens is not None and tokens.shape != shares.shape):
        raise CorruptEntryError("stored record has arrays of inconsistent shapes")
    return attribution


class ExplanationCache:
    """Explanations on disk, keyed by :func:`explanation_key`, bounded in size, verified on every read."""

    def __init__(self, directory: str | os.PathLike, size_limit: int = DEFAULT_SIZE_LIMIT) -> None:
        """Open (or create) the cache in ``directory``.

        Args:
            directory: Where the cache lives; created if missing. The same directory reopens the same entries.
            size_limit: Bound on the cache's size on disk, bytes; least-recently-used entries are evicted.
        """
        if size_limit <= 0:
            raise ValueError(f"size_limit must be positive, got {size_limit}")
        self.directory = Path(directory)
        self._cache = diskcache.Cache(
            str(self.directory),
            size_limit=int(size_limit),
            eviction_policy="least-recently-used",
            disk_min_file_size=0,  # every record in its own file, none inside the SQLite index
        )
        self._views: StudyViewStore | None = None

    @property
    def views(self) -> StudyViewStore:
        """The views drawn from these explanations (``views/`` in the cache directory), opened on first use."""
        if self._views is None:
            self._views = StudyViewStore(self.directory / "views")
        return self._views

    def __enter__(self) -> "ExplanationCache":
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying SQLite connections (entries stay on disk)."""
        self._cache.close()
        if self._views is not None:
            self._views.close()

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def __len__(self) -> int:
        return len(self._cache)

    @property
    def size_limit(self) -> int:
        """Bound on the size on disk, bytes."""
        return int(self._cache.size_limit)

    def volume(self) -> int:
        """Current size on disk, bytes."""
        return int(self._cache.volume())

    def get(self, key: str) -> StudyAttribution | None:
        """The stored explanation, or ``None`` when absent or corrupt (a corrupt entry is deleted)."""
        record = self._cache.get(key, default=None, retry=True)
        if record is None:
            return None
        try:
            return decode_attribution(record)
        except CorruptEntryError as error:
            logger.warning("deleting corrupt explanation-cache entry %s: %s", key, error)
            self._cache.delete(key, retry=True)
            self.views.evict(key)
            return None

    def put(self, key: str, attribution: StudyAttribution) -> None:
        """Store (or replace) an explanation; the views drawn from what was stored under ``key`` before go."""
        self._cache.set(key, encode_attribution(attribution), retry=True)
        self.views.evict(key)

    def get_or_compute(self, key: str, compute: Callable[[], StudyAttribution]) -> tuple[StudyAttribution, bool]:
        """The stored explanation if present and intact, else ``compute()``'s result, stored for next time.

        Returns:
            ``(attribution, cached)``: ``cached`` is True when the result came from disk.
        """
        attribution = self.get(key)
        if attribution is not None:
            return attribution, True
        attribution = compute()
        self.put(key, attribution)
        return attribution, False
