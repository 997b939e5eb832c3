"""The SMS gateway at the boundary, and a fake one that behaves like a real provider for
demos and tests: it accepts a message or refuses it (per-number flow control, like a real
provider's "business limit control", or down altogether), and keeps what it "delivered"
in memory so tests and the demo can read the codes. It logs each message, as a developer's
fake gateway would; it never sees anything but the number and the text.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from openmvne import clock
from openmvne.errors import DomainError

log = logging.getLogger("openmvne.sms")


class SmsRefused(DomainError):
    """The gateway did not take the message; nothing was sent."""

    status = 503
    title = "The SMS gateway refused the message"
    default_code = "sms_unavailable"


class SmsGateway(Protocol):
    def send(self, msisdn: str, text: str) -> str:
        """Hand a message to the gateway: its message id, or SmsRefused."""


@dataclass(frozen=True)
class SmsMessage:
    id: str
    msisdn: str
    text: str
    sent_at: datetime


class FakeSmsGateway:
    """In memory, thread-safe, bounded. `per_number_interval_s`: the provider's own flow
    control (at most one message per number in that many seconds); `available` False makes
    every send fail, as during an outage."""

    def __init__(self, per_number_interval_s: float = 30.0, keep: int = 10_000) -> None:
        self.per_number_interval_s = per_number_interval_s
        self.available = True
        self._sent: deque[SmsMessage] = deque(maxlen=keep)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def send(self, msisdn: str, text: str) -> str:
        now = time.monotonic()
        with self._lock:
            if not self.available:
                raise SmsRefused("the SMS gateway is unavailable; try again later")
            last = self._last.get(msisdn)
            if last is not None and now - last < self.per_number_interval_s:
                raise SmsRefused(
                    "the SMS gateway limits messages to this number; try again later",
                    code="sms_flow_controlled",
                )
            message = SmsMessage(f"sms-{uuid.uuid4().hex[:16]}", msisdn, text, clock.now())
            self._last[msisdn] = now
            self._sent.append(message)
        log.info("fake SMS to %s: %s", msisdn, text)
        return message.id

    def messages(self, msisdn: str | None = None) -> list[SmsMessage]:
        with self._lock:
            return [m for m in self._sent if msisdn is None or m.msisdn == msisdn]

    def last_code(self, msisdn: str) -> str | None:
        """The verification code in the latest message to this number (tests, the demo)."""
        for message in reversed(self.messages(msisdn)):
            found = re.search(r"(?<!\d)(\d{6})(?!\d)", message.text)
            if found:
                return found.group(1)
        return None

    def reset(self) -> None:
        with self._lock:
            self._sent.clear()
            self._last.clear()
            self.available = True


_gateway = FakeSmsGateway()


def gateway() -> FakeSmsGateway:
    """The process's gateway (the fake until a real provider is wired in)."""
    return _gateway
