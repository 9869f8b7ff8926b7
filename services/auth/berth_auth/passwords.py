"""Password hashing and small secret helpers shared by the whole auth service.

Passwords (and machine-client secrets) are hashed with argon2id via argon2-cffi.
Short-lived secrets (verification codes, refresh tokens) are stored as
HMAC-SHA256 hex digests keyed with ``AUTH_SECRET_KEY``; they have enough entropy
or are attempt-limited, so a fast keyed hash is the right tool for them.
"""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# A valid argon2 hash of a random value, used to spend the same time on unknown
# accounts as on known ones (timing-safe "user not found").
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Check ``password`` against ``password_hash``; never raises on bad input."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def dummy_verify(password: str) -> None:
    """Burn one argon2 verification so unknown accounts cost as much as known ones."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with outdated argon2 parameters."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


def hmac_digest(secret: str, value: str) -> str:
    """HMAC-SHA256(secret, value) as lower-case hex."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def generate_code() -> str:
    """A uniformly random 6-digit numeric code (leading zeros kept)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def generate_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` bytes of entropy."""
    return secrets.token_urlsafe(nbytes)
