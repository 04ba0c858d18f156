"""The one door out: every call that leaves the machine is checked here.

The routing policy already keeps data away from zones its level does not
allow; this re-check, immediately before a non-on-prem call, means a bug
anywhere else (a rule, a fallback, a retry, an explicit ``model``) still
cannot leak it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .adapters.base import ProviderError
from .catalog import ProviderSpec

security_log = logging.getLogger("hybridhub.security")

ON_PREM = "on_prem"


@dataclass(frozen=True)
class Egress:
    """The request's data level and the privacy zones that level may reach."""

    level_name: str
    allowed_zones: frozenset[str]


def egress_check(*, egress: Egress, provider: ProviderSpec) -> None:
    if provider.privacy_zone == ON_PREM or provider.privacy_zone in egress.allowed_zones:
        return
    security_log.error(
        "Egress refused: %s data to provider %s (zone %s)",
        egress.level_name,
        provider.name,
        provider.privacy_zone,
    )
    raise ProviderError(
        f"{egress.level_name} data may not be sent to {provider.name} "
        f"({provider.privacy_zone} zone).",
        code="egress_refused",
        status=403,
        fallback=True,
    )
