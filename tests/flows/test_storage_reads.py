"""Flow logs read through the storage layer (``evidence.storage``) on fsspec's in-memory file
system: a blob gone between the listing and the read is a one-line reason, and the rest still comes."""

from __future__ import annotations

import json

import fsspec

from auditkit.evidence import storage
from auditkit.flows.logs import read_paths

LOG = json.dumps({"records": [{"resourceId": "/x/nsg", "properties": {"Version": 1, "flows": [
    {"rule": "r", "flows": [{"mac": "00", "flowTuples": ["1700000000,10.0.0.1,10.0.0.2,1,25,T,I,A"]}]}]}}]})


def test_a_blob_gone_since_the_listing_is_named_and_the_others_are_read(monkeypatch) -> None:
    fs = fsspec.filesystem("memory")
    for name in ("a.json", "b.json"):
        fs.pipe_file(f"/flowtest/{name}", LOG.encode())
    listed = storage.listing

    def with_a_gone_one(url: str, credential=None) -> dict:
        return {**listed(url, credential), "gone.json": {"size": 10, "type": "file"}}

    monkeypatch.setattr(storage, "listing", with_a_gone_one)
    logs = read_paths(["memory://flowtest"])
    assert len(logs.flows) == 2
    assert logs.skipped["/flowtest/gone.json"]["file_skipped"] == \
        "unreadable: memory://flowtest/gone.json: cannot read: not found"
    fs.rm("/flowtest", recursive=True)
