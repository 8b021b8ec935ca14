"""What a snapshot folder is: its name, its files, and the error when one cannot serve as evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from auditkit.errors import AuditkitError

NAME_FORMAT = "%Y-%m-%dT%H%M%SZ"
META = "meta.json"
FORMAT_VERSION = 1
RECEIVED = "raw/received.zst"


class SnapshotError(AuditkitError):
    """A snapshot that cannot be written or read as evidence."""


def snapshot_name(as_of: datetime) -> str:
    """The folder name of the snapshot taken at ``as_of`` (UTC, e.g. ``2026-11-01T060000Z``)."""
    return as_of.astimezone(UTC).strftime(NAME_FORMAT)
