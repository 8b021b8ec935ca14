"""Azure Blob Storage ``http(s)://`` URLs as adlfs options, so they are read like ``abfs://`` ones.

Two forms: ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PATH`` (any cloud's ``.blob.``
endpoint), and the path-style ``http://HOST:PORT/ACCOUNT/CONTAINER/PATH`` of IP endpoints and of
Azurite, Microsoft's emulator. The credential is the one given (an azure-identity credential, a
``{"account_name", "account_key"}`` dict, an account key or SAS token string), else the
``AZURE_STORAGE_*`` variables adlfs reads, else ``DefaultAzureCredential``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_ACCOUNT_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.(?:[a-z0-9-]+\.)?blob\.[a-z0-9.-]+$", re.I)


@dataclass(frozen=True)
class BlobURL:
    """Where an Azure Blob Storage URL points: the account's blob endpoint, and the path in it."""

    endpoint: str  # scheme://host[:port][/ACCOUNT], what a connection string calls BlobEndpoint
    account: str
    path: str  # CONTAINER/PATH, or "" for the whole account
    path_style: bool  # the account is the URL's first path segment (IP endpoints, Azurite)


def parse(url: str) -> BlobURL | None:
    """The account and path of an Azure Blob Storage ``http(s)://`` URL; None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    path = parts.path.strip("/")
    found = _ACCOUNT_HOST.match(parts.hostname)
    if found:
        return BlobURL(f"{parts.scheme}://{parts.netloc}", found["account"], path, False)
    if not _is_ip_host(parts.hostname) or not path:
        return None
    account, _, rest = path.partition("/")
    return BlobURL(f"{parts.scheme}://{parts.netloc}/{account}", account, rest, True)


def _is_ip_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def options(blob: BlobURL, credential: Any = None) -> dict:
    """adlfs options that reach ``blob``'s account with ``credential`` (see the module docstring)."""
    if isinstance(credential, dict):
        key = credential.get("account_key")
        credential = key if key else credential
    key = credential if isinstance(credential, str) else None
    if credential is None:
        key = os.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
        sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    else:
        sas = None
    given = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if given:  # adlfs would use it whatever else it is given: only when it is this account's
        if _setting(given, "AccountName") != blob.account:
            raise ValueError(f"AZURE_STORAGE_CONNECTION_STRING is for another account "
                             f"({_setting(given, 'AccountName') or 'none named'}), not {blob.account}")
        return {"connection_string": given}
    if blob.path_style and (key or sas):  # adlfs builds https://HOST URLs; a connection string keeps http
        secret = f"AccountKey={key}" if key else f"SharedAccessSignature={sas.lstrip('?')}"
        return {"connection_string": f"DefaultEndpointsProtocol={blob.endpoint.split(':', 1)[0]};"
                                     f"AccountName={blob.account};{secret};BlobEndpoint={blob.endpoint};"}
    found: dict = {"account_name": blob.account, "account_host": blob.endpoint.split("://", 1)[1]}
    if key:
        found["account_key"] = key
    elif sas:
        found["sas_token"] = sas
    elif credential is not None:
        found["credential"] = credential if _is_async(credential) else AsyncCredential(credential)
    return found


def _setting(connection_string: str, name: str) -> str:
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


def _is_async(credential: Any) -> bool:
    return not hasattr(credential, "get_token") or asyncio.iscoroutinefunction(credential.get_token)


class AsyncCredential:
    """A synchronous azure-identity credential for adlfs's asynchronous client (tokens fetched in a thread)."""

    def __init__(self, credential: Any):
        self.credential = credential

    def __repr__(self) -> str:  # fsspec keys its file systems on this: one per credential object
        return f"AsyncCredential({self.credential!r})"

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self.credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None
