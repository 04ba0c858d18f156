"""Privacy zones: where a provider keeps what it is sent. Defined once, here.

Plain Python (no Django), so the policy document, the decision engine, the
provider catalogue and the egress guard all use the same definition.
"""

from __future__ import annotations

from enum import StrEnum


class PrivacyZone(StrEnum):
    """From most to least private. Members are strings, so they compare,
    hash and serialise as their values ("on_prem", …)."""

    ON_PREM = "on_prem"
    VENDOR_ZERO_RETENTION = "vendor_zero_retention"
    VENDOR = "vendor"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def leaves_the_machine(self) -> bool:
        return self is not PrivacyZone.ON_PREM

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(zone.value, zone.label) for zone in cls]


_LABELS = {
    PrivacyZone.ON_PREM: "On-prem (never leaves our machines)",
    PrivacyZone.VENDOR_ZERO_RETENTION: "Vendor, zero retention",
    PrivacyZone.VENDOR: "Vendor",
}
# Most private first: a zone's rank is its index.
ZONES: tuple[PrivacyZone, ...] = tuple(PrivacyZone)
