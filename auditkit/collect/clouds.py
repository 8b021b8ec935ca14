"""Azure clouds: the ARM endpoint, the token scope and the login authority belong together.

Passing only a base URL to the SDK keeps the public cloud's token scope, which a sovereign
cloud refuses; every place that needs an endpoint asks this module for all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditkit.errors import AuditkitError


@dataclass(frozen=True)
class Cloud:
    name: str
    setting: Any  # azure.core.AzureClouds
    resource_manager: str
    scope: str
    authority: str


# (azure.core.AzureClouds member, azure.identity.AzureAuthorityHosts attribute): the SDKs are
# imported when a cloud is asked for, not when the command line lists the names.
_SETTINGS = {
    "public": ("AZURE_PUBLIC_CLOUD", "AZURE_PUBLIC_CLOUD"),
    "usgov": ("AZURE_US_GOVERNMENT", "AZURE_GOVERNMENT"),
    "china": ("AZURE_CHINA_CLOUD", "AZURE_CHINA"),
}

CLOUD_NAMES = tuple(_SETTINGS)


def cloud(name: str) -> Cloud:
    """The endpoint, scope and authority of a cloud named ``public``, ``usgov`` or ``china``."""
    from azure.core import AzureClouds
    from azure.identity import AzureAuthorityHosts
    from azure.mgmt.core.tools import get_arm_endpoints

    try:
        setting_name, authority_name = _SETTINGS[name.lower()]
    except KeyError:
        raise AuditkitError(f"unknown cloud {name!r}: expected one of {', '.join(CLOUD_NAMES)}") from None
    setting, authority = getattr(AzureClouds, setting_name), getattr(AzureAuthorityHosts, authority_name)
    endpoints = get_arm_endpoints(setting)
    return Cloud(name=name.lower(), setting=setting, resource_manager=endpoints["resource_manager"],
                 scope=endpoints["credential_scopes"][0], authority=authority)
