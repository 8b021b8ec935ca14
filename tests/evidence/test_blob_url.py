"""Azure Blob ``http(s)://`` URLs mapped onto adlfs options (no request is made)."""

from __future__ import annotations

import asyncio

import pytest

from auditkit.evidence.blob_url import AsyncCredential, BlobURL, options, parse


def test_account_host_and_path_style_urls_are_recognised_and_others_are_not() -> None:
    assert parse("https://acct01.blob.core.windows.net/insights-logs-x/a/b.json") == BlobURL(
        "https://acct01.blob.core.windows.net", "acct01", "insights-logs-x/a/b.json", False)
    assert parse("https://acct01.blob.core.usgovcloudapi.net") == BlobURL(
        "https://acct01.blob.core.usgovcloudapi.net", "acct01", "", False)
    assert parse("http://127.0.0.1:10000/devstoreaccount1/c/p") == BlobURL(
        "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "c/p", True)
    for other in ("https://example.com/c/p", "http://127.0.0.1:10000", "abfs://c/p",
                  "https://acct01.blob.core.windows.net/c?sv=1"):
        assert parse(other) is None, other


def test_credentials_become_adlfs_options(monkeypatch) -> None:
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    host = parse("https://acct01.blob.core.windows.net/c")
    assert options(host) == {"account_name": "acct01", "account_host": "acct01.blob.core.windows.net"}
    assert options(host, {"account_name": "acct01", "account_key": "k"})["account_key"] == "k"

    class Sync:
        def get_token(self, *scopes, **kwargs):
            return ("token", scopes)

    wrapped = options(host, Sync())["credential"]
    assert isinstance(wrapped, AsyncCredential)
    assert asyncio.run(wrapped.get_token("s")) == ("token", ("s",))
    emulator = parse("http://127.0.0.1:10000/devstoreaccount1")
    assert options(emulator, {"account_name": "devstoreaccount1", "account_key": "k"}) == {
        "connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
                             "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"}
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=other;AccountKey=k")
    with pytest.raises(ValueError, match="for another account"):
        options(host)
