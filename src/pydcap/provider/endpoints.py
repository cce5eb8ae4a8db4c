"""What the providers and ``pydcap doctor`` ask a collateral service when they only want to know it answers (a
cheap document that needs no credentials), and how they hand httpx the TLS choice a configuration makes."""

from __future__ import annotations

import ssl
from urllib.parse import quote as url_quote

from pydcap.intel import protocol
from pydcap.sources import AzureClient, PccsClient, PcsClient
from pydcap.sources.azure import API_VERSION_COLLATERAL
from pydcap.sources.models import Tee


def identity_url(client: PcsClient | PccsClient | AzureClient) -> str:
    """A cheap document of the client's service that needs no credentials: the SGX QE identity."""
    if isinstance(client, AzureClient):
        return azure_identity_url(client.url, client.version, client.client_id)
    return client.endpoint(Tee.SGX, protocol.QE_IDENTITY)


def azure_identity_url(base_url: str, version: str, client_id: str) -> str:
    """The SGX QE identity as Azure's client asks its collateral URL for it (any collateral version)."""
    query = f"clientid={url_quote(client_id)}&api-version={API_VERSION_COLLATERAL}"
    return f"{base_url}/{version}/{protocol.QE_IDENTITY}?{query}"


def tls_verification(verify: bool | str) -> bool | ssl.SSLContext:
    """What httpx wants for "check the TLS certificate" (True), "do not" (False), or "against this CA bundle"."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
