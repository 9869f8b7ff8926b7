"""Signed webhooks, one scheme for every sender and receiver on the platform.

`Berth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The timestamp
is signed with the body, so a receiver that refuses old timestamps also refuses replays; more
than one `v1=` may be sent while a secret is being rotated (any one matching is enough).
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Berth-Signature"


class SignatureMismatch(ValueError):
    """The header is missing or malformed, too old, or signed with another secret."""


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: bytes, header: str, body: bytes, *, tolerance_seconds: float, now: float | None = None
) -> int:
    """The signed timestamp when `header` proves `body` was signed with `secret` recently."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureMismatch("Missing or malformed signature header") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureMismatch("The signature's timestamp is outside the tolerance")
    expected = sign(secret, body, timestamp).partition("v1=")[2]
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        raise SignatureMismatch("The signature does not match")
    return timestamp
