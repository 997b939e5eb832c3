"""The provisioning boundary to a host network (its HLR/HSS provisioning interface).

A host network answers in two steps: `submit` only says whether it took the command, and
the verdict (an `Ack`, applied or refused) comes later through `poll_acks`. Either step can
be lost, so the platform sends through an outbox and retries with the same transaction id
until it has an ack; the network deduplicates by that id, so a retry never applies a command
twice. This module holds only the vocabulary and the contract; `simulator` implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from openmvne.domain.numbers import HostNetwork

__all__ = [
    "Ack",
    "Command",
    "HostNetwork",
    "HostProvisioning",
    "ProvisioningRequest",
    "ProvisioningTimeout",
    "ProvisioningUnavailable",
]


class Command(StrEnum):
    OPEN_LINE = "openLine"
    BAR_OUTGOING = "barOutgoing"
    BAR_BOTH = "barBoth"
    RESTORE = "restore"
    CHANGE_SIM = "changeSim"
    CLOSE = "close"


@dataclass(frozen=True)
class ProvisioningRequest:
    transaction_id: str  # ours; the network's dedup key, reused on every retry
    host: HostNetwork  # a StrEnum: "mobile" | "unicom" | "telecom" (domain.numbers)
    command: Command
    msisdn: str  # 11 digits
    imsi: str | None = None  # OPEN_LINE and CHANGE_SIM: the (new) card's IMSI
    iccid: str | None = None


@dataclass(frozen=True)
class Ack:
    """The network's verdict on one transaction. A refusal (`ok=False`) is final."""

    transaction_id: str
    ok: bool
    reason: str | None = None  # when not ok: why the network refused it
    network_ref: str | None = None


class ProvisioningTimeout(Exception):
    """No answer: the command may or may not have been applied. Retry with the same id."""


class ProvisioningUnavailable(Exception):
    """Refused before processing (busy, maintenance): nothing applied, safe to retry."""


class HostProvisioning(Protocol):
    def submit(self, request: ProvisioningRequest) -> None:
        """Accept the request for processing (its ack comes later), or raise
        ProvisioningTimeout or ProvisioningUnavailable."""
        ...

    def poll_acks(self) -> list[Ack]:
        """Drain the acknowledgements that are ready; each is delivered once. Re-submitting
        an already-acknowledged transaction id makes its ack deliverable again, so a
        platform that lost an ack can get it back."""
        ...
