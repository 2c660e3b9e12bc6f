"""Device request signatures and device secrets at rest. Pure functions, stdlib only.

Signature (what terminal vendors implement)::

    X-Signature = lower-hex( HMAC-SHA256( key = UTF-8 bytes of the device secret,
                                          msg = X-Timestamp + "." + raw request body ) )

The secret is a *shared* secret: the server must be able to compute the same HMAC, so it cannot
be hashed like a password. It is stored encrypted with a key derived from the application secret
(``RESCUE_SECRET_KEY``): a database dump alone does not reveal device secrets. The cipher is an
HMAC-SHA256 keystream in counter mode with a random 128-bit nonce plus an HMAC-SHA256 tag over
nonce and ciphertext (encrypt-then-MAC; HMAC as a PRF), so no third-party crypto library is
needed. Rotating ``RESCUE_SECRET_KEY`` makes stored secrets unreadable: devices must be re-keyed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_VERSION = "v1"
_NONCE = 16
_TAG = 16


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a device sends for ``body`` at ``timestamp`` (Unix seconds, as text)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of ``signature`` with the expected one."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower())


def new_secret() -> str:
    """A fresh device secret: 32 random bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(32)


def new_device_id() -> str:
    return "dev_" + secrets.token_hex(8)


def _keys(app_secret: str) -> tuple[bytes, bytes]:
    root = hmac.new(app_secret.encode(), b"rescue/device-secret/" + _VERSION.encode(),
                    hashlib.sha256).digest()
    return (hmac.new(root, b"enc", hashlib.sha256).digest(),
            hmac.new(root, b"mac", hashlib.sha256).digest())


def _keystream(key: bytes, nonce: bytes, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


def seal(secret: str, app_secret: str) -> str:
    """Encrypt a device secret for storage: ``v1:`` + base64url(nonce ‖ ciphertext ‖ tag)."""
    enc, mac = _keys(app_secret)
    nonce = secrets.token_bytes(_NONCE)
    plain = secret.encode()
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(enc, nonce, len(plain)), strict=True))
    tag = hmac.new(mac, nonce + cipher, hashlib.sha256).digest()[:_TAG]
    return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + cipher + tag).decode()


class SealError(ValueError):
    """The stored secret was sealed with another application secret, or was altered."""


def unseal(sealed: str, app_secret: str) -> str:
    version, _, data = sealed.partition(":")
    if version != _VERSION:
        raise SealError(f"unknown sealing version {version!r}")
    raw = base64.urlsafe_b64decode(data.encode())
    nonce, cipher, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
    enc, mac = _keys(app_secret)
    if not hmac.compare_digest(hmac.new(mac, nonce + cipher, hashlib.sha256).digest()[:_TAG],
                               tag):
        raise SealError("device secret does not open with this application secret")
    return bytes(a ^ b for a, b in
                 zip(cipher, _keystream(enc, nonce, len(cipher)), strict=True)).decode()
