"""Rendered study views on disk, next to the attributions they were drawn from, so each is drawn once.

A *view* is whatever a front end drew from one cached explanation (the dashboard keeps the JSON of its panels and
the PNGs of its overlays, components.study_views). This module knows nothing of its content: it keeps bytes under
a key, checked on every read and dropped with the attribution they came from.

Records are ``MAGIC (8 bytes) | sha256(payload) (32 bytes) | payload``; one that fails the magic or the checksum is
deleted and reported as absent, so its view is drawn again and never served corrupt. Every record is tagged with
the key of the attribution it was drawn from: storing that attribution again (more evidence, a recomputation) or
finding it corrupt evicts its views (:meth:`StudyViewStore.evict`). The store is bounded in size (least recently
used records go first) and may be deleted at any time: a missing view costs the time to draw it again, nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import diskcache

from cxrmodel.explain.keys import canonical_json_default

logger = logging.getLogger(__name__)

MAGIC = b"CXRVIEW\x01"
"""First bytes of every stored view record (format name and version 1)."""

DEFAULT_SIZE_LIMIT = 512 * 1024**2
"""Default bound on the store's size on disk, bytes (512 MiB)."""

_CHECKSUM_BYTES = 32


def view_key(attribution_key: str, parts: dict) -> str:
    """The key of one view: the attribution's key and everything else the view was drawn from.

    Args:
        attribution_key: :meth:`cxrmodel.explain.StudyExplainer.cache_key` of the explanation drawn.
        parts: JSON-able record of the rest (settings, names, code version; numpy arrays and dataclasses are
            represented by their content).

    Returns:
        64 hexadecimal characters (sha256).
    """
    canonical = json.dumps({"attribution": attribution_key, "parts": parts}, sort_keys=True,
                           separators=(",", ":"), default=canonical_json_default, allow_nan=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def encode_record(payload: bytes) -> bytes:
    """One self-checking record (see the module docstring)."""
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode_record(record: object) -> bytes | None:
    """The payload of a record, or None when it is not one this module wrote intact."""
    if not isinstance(record, (bytes, bytearray)):
        return None
    header = len(MAGIC) + _CHECKSUM_BYTES
    if len(record) < header or not record.startswith(MAGIC):
        return None
    payload = bytes(record[header:])
    return payload if hashlib.sha256(payload).digest() == bytes(record[len(MAGIC):header]) else None


class StudyViewStore:
    """Rendered views on disk, keyed by :func:`view_key`, tagged with their attribution's key, checked on read."""

    def __init__(self, directory: str | os.PathLike, size_limit: int = DEFAULT_SIZE_LIMIT) -> None:
        """Open (or create) the store in ``directory`` (several processes may share it).

        Args:
            directory: Where the records live; created if missing.
            size_limit: Bound on the size on disk, bytes; least-recently-used records are evicted.
        """
        if size_limit <= 0:
            raise ValueError(f"size_limit must be positive, got {size_limit}")
        self.directory = Path(directory)
        self._cache = diskcache.Cache(str(self.directory), size_limit=int(size_limit),
                                      eviction_policy="least-recently-used", tag_index=True)

    def close(self) -> None:
        """Close the underlying SQLite connection (records stay on disk)."""
        self._cache.close()

    def __contains__(self, key: str) -> bool:
        return key in self._cache

    def get(self, key: str) -> bytes | None:
        """The stored payload, or None when absent or corrupt (a corrupt record is deleted)."""
        record = self._cache.get(key, default=None, retry=True)
        if record is None:
            return None
        payload = decode_record(record)
        if payload is None:
            logger.warning("deleting corrupt study view %s: it fails its magic or checksum", key)
            self._cache.delete(key, retry=True)
        return payload

    def put(self, key: str, payload: bytes, attribution_key: str) -> None:
        """Store (or replace) a payload drawn from the attribution stored under ``attribution_key``."""
        self._cache.set(key, encode_record(payload), tag=attribution_key, retry=True)

    def get_json(self, key: str) -> object | None:
        """A stored JSON payload, or None when absent, corrupt or not JSON (then it is deleted too)."""
        payload = self.get(key)
        if payload is None:
            return None
        try:
            return json.loads(payload)
        except ValueError:
            logger.warning("deleting corrupt study view %s: it is not JSON", key)
            self._cache.delete(key, retry=True)
            return None

    def put_json(self, key: str, value: object, attribution_key: str) -> None:
        """Store a JSON-able value (see :meth:`put`)."""
        self.put(key, json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8"), attribution_key)

    def evict(self, attribution_key: str) -> int:
        """Drop every view drawn from the attribution stored under ``attribution_key``; how many were dropped."""
        return int(self._cache.evict(attribution_key, retry=True))

    def clear(self) -> None:
        """Drop every view (they are drawn again when next opened)."""
        self._cache.clear(retry=True)
