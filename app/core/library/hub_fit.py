"""A hub model's shape (layers, heads, context) before downloading it, so each file can get a fit badge.

For GGUF repos the header of the smallest file is read with a ranged request (a few MB at most: the weights
are never fetched); all quantisations of a model share that shape. For safetensors repos it is config.json.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.core.engine.gguf_check import GGUFError, inspect_gguf_prefix
from app.core.library import hub
from app.core.library.hub import HubError, RepoListing
from app.core.library.metadata import shape_from_config, shape_from_gguf

log = logging.getLogger(__name__)
HEADER_LIMIT = 16 * 1024 * 1024  # big-vocabulary headers are a few MB; more than this is not worth fetching


def _fetch_prefix(listing: RepoListing, filename: str, limit: int) -> bytes:
    chunks, got = [], 0
    with hub.open_file(listing.repo_id, filename, listing.revision) as response:
        for chunk in response.iter_bytes(256 * 1024):
            chunks.append(chunk)
            got += len(chunk)
            if got >= limit:
                break
    return b"".join(chunks)[:limit]


def remote_shape(listing: RepoListing) -> dict[str, Any] | None:
    """The model's shape as `metadata` summaries hold it, or None when it cannot be read (a badge says unknown)."""
    try:
        ggufs = sorted((f for f in listing.gguf_files if "mmproj" not in f.filename.lower()), key=lambda f: f.size)
        if ggufs:
            first = ggufs[0]
            limit = 1024 * 1024
            while True:
                data = _fetch_prefix(listing, first.filename, min(limit, first.size))
                try:
                    return shape_from_gguf(inspect_gguf_prefix(first.filename, data, first.size))
                except GGUFError as exc:
                    if len(data) >= min(first.size, HEADER_LIMIT) or "header is larger" not in str(exc):
                        log.info("no shape for %s: %s", listing.repo_id, exc)
                        return None
                    limit *= 4
        if listing.file("config.json") is not None:
            data = _fetch_prefix(listing, "config.json", 4 * 1024 * 1024)
            return shape_from_config(json.loads(data))
    except (HubError, ValueError, OSError) as exc:
        log.info("no shape for %s: %s", listing.repo_id, exc)
    return None
