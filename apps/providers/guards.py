"""Where a provider may point and which environment variable may hold its key.

A provider row is admin data, and admin data must not turn the gateway into
a way to read the server's secrets or reach its private network:

- ``api_key_env`` names a variable with ``HYBRIDHUB_PROVIDER_KEY_PREFIX``
  (default ``HYBRIDHUB_PROVIDER_KEY_``) or one listed in
  ``HYBRIDHUB_PROVIDER_KEY_ALLOW`` (default ``OPENAI_API_KEY``). Otherwise
  ``SECRET_KEY`` or ``DATABASE_URL`` could be sent as a bearer token to any URL.
- ``base_url`` may not name a loopback address (needs
  ``HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK``) or a link-local or cloud metadata
  address (needs ``HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL``).

Both are checked when the row is validated (admin form) and again where the
key is read, so a row written around the form is refused too. Host names are
judged by name and literal address only; see docs/security.md for what a
name that *resolves* to a private address means and the firewall rule for it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

from django.conf import settings

# Metadata services that are not link-local addresses, and well-known names.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("168.63.129.16"),  # Azure wire server
    }
)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def api_key_env_problem(name: str) -> str | None:
    """Why ``name`` may not hold a provider key, or None if it may."""
    if not name:
        return None
    prefix = settings.HYBRIDHUB_PROVIDER_KEY_PREFIX
    if (prefix and name.startswith(prefix) and len(name) > len(prefix)) or (
        name in settings.HYBRIDHUB_PROVIDER_KEY_ALLOW
    ):
        return None
    return (
        f"Provider keys come from variables named {prefix}… or listed in "
        "HYBRIDHUB_PROVIDER_KEY_ALLOW."
    )


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a literal host stands for, including the legacy IPv4
    spellings the resolver accepts (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def base_url_problem(url: str) -> str | None:
    """Why a provider may not call ``url``, or None if it may."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return "That is not a URL."
    if parts.scheme not in ("http", "https") or not host:
        return "Use an http:// or https:// URL."
    address = _address(host)
    metadata = host in METADATA_NAMES or address in METADATA_ADDRESSES
    if (metadata or (address is not None and address.is_link_local)) and not (
        settings.HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL
    ):
        return (
            "Link-local and cloud metadata addresses are refused "
            "(HYBRIDHUB_PROVIDER_ALLOW_LINK_LOCAL allows them)."
        )
    loopback = host in LOOPBACK_NAMES or host.endswith(".localhost")
    loopback = loopback or (address is not None and (address.is_loopback or address.is_unspecified))
    if loopback and not settings.HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK:
        return "Loopback addresses are refused (HYBRIDHUB_PROVIDER_ALLOW_LOOPBACK allows them)."
    return None


def provider_key_read(*, name: str) -> str:
    """The key in environment variable ``name``; ValueError if that variable
    may not hold one. Empty if it is unset."""
    problem = api_key_env_problem(name)
    if problem:
        raise ValueError(problem)
    return os.environ.get(name, "")
