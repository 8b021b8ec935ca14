"""Credentials from azure-identity, chosen by name for the CLI (``--auth``)."""

from __future__ import annotations

from typing import Any

from auditkit.collect.clouds import cloud as cloud_of
from auditkit.errors import AuditkitError

AUTH_METHODS = ("default", "cli", "managed-identity", "workload-identity", "environment")


def credential(auth: str = "default", cloud: str = "public") -> Any:
    """A TokenCredential for ``auth``, logging in to the authority of ``cloud``.

    Scheduled runs should use ``workload-identity`` or ``managed-identity``: nothing to expire,
    nothing interactive. ``cli`` takes its cloud from ``az cloud set``.
    """
    import azure.identity as identity

    authority = cloud_of(cloud).authority
    if auth == "default":
        return identity.DefaultAzureCredential(authority=authority)
    if auth == "cli":
        return identity.AzureCliCredential()
    if auth == "managed-identity":
        return identity.ManagedIdentityCredential()
    if auth == "workload-identity":
        return identity.WorkloadIdentityCredential(authority=authority)
    if auth == "environment":
        return identity.EnvironmentCredential(authority=authority)
    raise AuditkitError(f"unknown --auth {auth!r}: expected one of {', '.join(AUTH_METHODS)}")
