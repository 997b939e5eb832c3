"""Encryption of secrets at rest (card Ki/OPc): AES-256-GCM under the platform's key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openmvne.config import get_settings


@lru_cache(maxsize=1)
def _key() -> bytes:
    settings = get_settings()
    if settings.secret_key:
        key = base64.b64decode(settings.secret_key)
    else:
        path = Path(settings.secret_key_file)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(base64.b64encode(AESGCM.generate_key(bit_length=256)))
        key = base64.b64decode(path.read_bytes())
    if len(key) != 32:
        raise ValueError("OPENMVNE_SECRET_KEY must be 32 bytes, base64-encoded")
    return key


@lru_cache(maxsize=1)
def _cipher() -> AESGCM:
    return AESGCM(_key())


def fingerprint(secret: str, purpose: str) -> str:
    """HMAC-SHA256 of a secret (a voucher PIN) under the platform key: comparable, unusable."""
    return hmac.new(_key(), f"{purpose}:{secret}".encode(), hashlib.sha256).hexdigest()


def seal(secret: bytes, context: bytes) -> bytes:
    """nonce (12 bytes) + ciphertext; `context` (e.g. the ICCID) is authenticated too."""
    nonce = os.urandom(12)
    return nonce + _cipher().encrypt(nonce, secret, context)


def unseal(sealed: bytes, context: bytes) -> bytes:
    return _cipher().decrypt(sealed[:12], sealed[12:], context)
