"""The bytes a snapshot keeps: zstd frames, compact JSON, documents packed as received, SHA-256 of files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import zstandard

# zstd level 3 (its default): about gzip -6's ratio on JSON at several times its speed.
ZSTD_LEVEL = 3


def compress(data: bytes) -> bytes:
    """One zstd frame (with its content size, so readers can check it)."""
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1, write_content_size=True).compress(data)


def decompress(data: bytes) -> bytes:
    """The bytes of every zstd frame in ``data``."""
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        return reader.read()


def pack_received(documents: Iterable[tuple[str, bytes]]) -> tuple[bytes, list[dict]]:
    """Documents as received, as one zstd blob and their index (label, offset, size, SHA-256).

    Packed as soon as they are complete, so the uncompressed bytes can be freed before parsing.
    """
    index, parts, offset = [], [], 0
    for label, body in documents:
        index.append({"label": label, "offset": offset, "size": len(body),
                      "sha256": hashlib.sha256(body).hexdigest()})
        parts.append(body)
        offset += len(body)
    return compress(b"".join(parts)), index


def json_bytes(obj: Any) -> bytes:
    """Compact JSON (orjson; the standard library for what orjson refuses, such as huge integers)."""
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
