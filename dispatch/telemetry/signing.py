"""Device request signatures and device secrets at rest. Pure functions.

Signature (what terminal vendors implement)::

    X-Signature = lower-hex( HMAC-SHA256( key = UTF-8 bytes of the device secret,
                                          msg = X-Timestamp + "." + raw request body ) )

The secret is a *shared* secret: the server must be able to compute the same HMAC, so it cannot
be hashed like a password. It is stored encrypted with a key derived from the application secret
(``RESCUE_SECRET_KEY``): a database dump alone does not reveal device secrets. The cipher is
AES-256-GCM from ``cryptography`` (a random 96-bit nonce per secret; the key derived from the
application secret with HKDF-SHA256). Rotating ``RESCUE_SECRET_KEY`` makes stored secrets
unreadable: devices must be re-keyed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v2"
_NONCE = 12


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a device sends for ``body`` at ``timestamp`` (Unix seconds, as text)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of ``signature`` with the expected one."""
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), given)


def new_secret() -> str:
    """A fresh device secret: 32 random bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def new_device_id() -> str:
    return "dev_" + secrets.token_hex(8)


@functools.lru_cache(maxsize=8)
def _key(app_secret: str) -> bytes:
    """The sealing key, derived once per application secret: an HKDF per unseal was a tenth
    of a heartbeat consumer's time when 50,000 terminals' keys were (re)loaded."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"rescue/device-secret/" + _VERSION.encode()).derive(app_secret.encode())


def seal(secret: str, app_secret: str) -> str:
    """Encrypt a device secret for storage: ``v2:`` + base64url(nonce ‖ ciphertext+tag)."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(_key(app_secret)).encrypt(nonce, secret.encode(), _VERSION.encode())
    return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()


class SealError(ValueError):
    """The stored secret was sealed with another application secret, or was altered."""


def unseal(sealed: str, app_secret: str) -> str:
    version, _, data = sealed.partition(":")
    if version != _VERSION:
        raise SealError(f"unknown sealing version {version!r}")
    raw = base64.urlsafe_b64decode(data.encode())
    try:
        plain = AESGCM(_key(app_secret)).decrypt(raw[:_NONCE], raw[_NONCE:], _VERSION.encode())
    except InvalidTag as exc:
        raise SealError("device secret does not open with this application secret") from exc
    return plain.decode()
