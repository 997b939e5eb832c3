"""A token bucket per client address, for public endpoints (brand lookup)."""

from __future__ import annotations

import threading
import time

from openmvne.errors import DomainError


class RateLimited(DomainError):
    status = 429
    title = "Too many requests"
    default_code = "rate_limited"


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1:
                raise RateLimited("too many lookups from your address; slow down")
            if len(self._state) >= self.max_clients and client not in self._state:
                self._state.clear()  # bounded memory: forget everyone rather than grow
            self._state[client] = (tokens - 1, now)
