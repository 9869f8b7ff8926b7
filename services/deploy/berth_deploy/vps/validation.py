"""What a VPS order may say: its name (the machine's hostname) and the owner's SSH public key.

A key is parsed, not pattern-matched: ssh-ed25519, ecdsa-sha2-nistp256/384/521, or ssh-rsa of
at least 2048 bits, one line `type base64 [comment]`. A private key pasted by mistake is
refused with a message that says so (and is never stored or echoed).
"""

import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from berth_deploy.validation import RESERVED_SLUGS

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
MIN_RSA_BITS = 2048
MAX_KEY_CHARS = 16_384
PRIVATE_MARKERS = ("PRIVATE KEY", "PuTTY-User-Key-File")
COMMENT_RE = re.compile(r"^[\x20-\x7e]{0,200}$")


def vps_name(value: str) -> str:
    if not NAME_RE.match(value) or "--" in value:
        raise ValueError(
            "3-40 characters: lower-case letters, digits and single hyphens, starting with a "
            "letter, not ending with a hyphen (it becomes the machine's hostname)"
        )
    if value in RESERVED_SLUGS:
        raise ValueError("this name is reserved")
    return value


def ssh_public_key(value: str) -> str:
    """The key normalised to `type base64 [comment]`, or ValueError saying what is wrong."""
    if any(marker in value for marker in PRIVATE_MARKERS):
        raise ValueError(
            "this is a private key: paste the public key instead (the .pub file, e.g. "
            "~/.ssh/id_ed25519.pub); never share the private one"
        )
    text = value.strip()
    if not text or len(text) > MAX_KEY_CHARS:
        raise ValueError("an SSH public key is one line: type, key, optional comment")
    if "\n" in text or "\r" in text:
        raise ValueError("one key, on one line")
    parts = text.split(None, 2)
    if parts[0] not in KEY_TYPES:
        raise ValueError(f"the key type must be one of {', '.join(KEY_TYPES)}")
    if len(parts) < 2:
        raise ValueError("the key's base64 part is missing")
    comment = parts[2] if len(parts) == 3 else ""
    if not COMMENT_RE.match(comment):
        raise ValueError("the key's comment must be printable ASCII, at most 200 characters")
    try:
        key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise ValueError("not a valid SSH public key (its data does not decode)") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"an RSA key needs at least {MIN_RSA_BITS} bits (this one has {key.key_size})"
            )
    elif not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey)):
        raise ValueError("unsupported key type")
    return " ".join(p for p in (parts[0], parts[1], comment) if p)
