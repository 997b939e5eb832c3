"""Settings, read from OPENMVNE_* environment variables.

The embedded SQLite file is the default so that `make run` needs nothing installed;
production points OPENMVNE_DATABASE_URL at PostgreSQL.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENMVNE_", extra="ignore")

    database_url: str = "sqlite:///./var/openmvne.db"
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"
    # Seconds a writer waits for a lock before the request fails as retryable.
    lock_timeout_s: float = 5.0
    # Threads that run request handlers (each may hold one database connection). Small on
    # purpose: more threads than the database can serve only queue inside the process.
    # Recharges wait for their batch on the event loop and hold no thread meanwhile.
    worker_threads: int = 8
    # 32-byte key (base64) encrypting card secrets (Ki/OPc). Unset: a key file is made in
    # ./var on first use, fine for a demo, not for production.
    secret_key: str = ""
    secret_key_file: str = "./var/secret.key"  # noqa: S105  # a path, not a secret
    # Shared secret of the payment gateway's signed callbacks (the fake gateway uses it too).
    gateway_secret: str = "fake-gateway-secret"  # noqa: S105  # a demo default; set it
    # Public base URL used for `href` and `Location`; empty means "from the request".
    public_base_url: str = ""
    # Test mode allows typed-in ID numbers at a sale (forbidden in production, domain.md §4).
    test_mode: bool = False
    # The host networks' provisioning interface: the simulator until a real one is wired.
    network_timeout_rate: float = 0.0
    network_lost_response_rate: float = 0.0
    network_unavailable_rate: float = 0.0
    network_reject_rate: float = 0.0
    network_ack_delay_s: float = 0.0
    network_seed: int = 0
    # The simulated host network's memory, shared by every process; empty: in memory.
    network_state_path: str = "./var/host-network.sqlite"
    # Seconds between outbox sends and between lifecycle steps inside the server.
    provisioning_interval_s: float = 0.5
    lifecycle_interval_s: float = 60.0
    # Where rated usage records are kept (Parquet files, one per batch and billing period).
    usage_dir: str = "./var/usage"
    # The portal's sessions: signed cookies that end after this long without a request, or
    # after the longest life whatever happens. Secure cookies need HTTPS (set true behind TLS).
    portal_idle_timeout_s: int = 1800
    portal_max_session_s: int = 43200
    portal_cookie_secure: bool = False
    # Key signing the portal's cookies; empty: derived from the platform key (secret_key).
    portal_session_secret: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
