"""Signed per-ticket reply addresses: `reply+<token>@<TICKETS_REPLY_DOMAIN>`.

    token = t<ticket number>-v<reply_token_version>-e<last valid day>-<mac>
    mac   = base32(HMAC-SHA256(TICKETS_REPLY_SECRET,
                   "berth-tickets-reply:<number>:<version>:<day>")[:15]), lower case

All lower case and short (a mail system may fold the case of a local part, which holds at
most 64 characters). The address is a capability: whoever holds it may write on the thread
(the inbound side also checks the sender is the ticket's owner). It stops working when its
day passes, when staff raise the ticket's `reply_token_version` (revoke), or when its secret
is neither TICKETS_REPLY_SECRET nor one of TICKETS_REPLY_SECRET_PREVIOUS (rotation).
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from berth_tickets.config import TicketsSettings

LOCAL_PREFIX = "reply+"
_EPOCH = date(1970, 1, 1)
_TOKEN = re.compile(r"t(\d{1,18})-v(\d{1,9})-e(\d{1,7})-([a-z2-7]{24})")
_MAC_BYTES = 15  # 120 bits: 24 base32 characters, no padding


class TokenProblem(StrEnum):
    """Why an address is refused (recorded in inbound_emails.detail)."""

    NOT_A_REPLY_ADDRESS = "not a reply address"
    MALFORMED = "malformed token"
    FORGED = "bad signature"
    EXPIRED = "expired token"
    NO_SECRET = "reply addresses are not configured (TICKETS_REPLY_SECRET)"


class TokenRefused(ValueError):
    def __init__(self, problem: TokenProblem):
        super().__init__(problem.value)
        self.problem = problem


@dataclass(frozen=True)
class ReplyToken:
    number: int
    version: int
    last_day: date


def _secrets(settings: TicketsSettings) -> list[bytes]:
    """The signing secret first, then the previous ones still accepted."""
    found = []
    if settings.reply_secret is not None:
        found.append(settings.reply_secret.get_secret_value())
    if settings.reply_secret_previous is not None:
        found += settings.reply_secret_previous.get_secret_value().split(",")
    return [s.strip().encode() for s in found if s.strip()]


def _mac(secret: bytes, number: int, version: int, day: int) -> str:
    signed = f"berth-tickets-reply:{number}:{version}:{day}".encode()
    digest = hmac.new(secret, signed, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode().lower()


def reply_address(
    settings: TicketsSettings, number: int, version: int, now: datetime | None = None
) -> str | None:
    """A fresh address for ticket `number` at its current `version`; None without a secret."""
    keys = _secrets(settings)
    if not keys:
        return None
    today = (now or datetime.now(UTC)).date()
    day = (today + timedelta(days=settings.reply_token_days) - _EPOCH).days
    token = f"t{number}-v{version}-e{day}-{_mac(keys[0], number, version, day)}"
    return f"{LOCAL_PREFIX}{token}@{settings.reply_domain.lower()}"


def is_reply_domain(settings: TicketsSettings, address: str) -> bool:
    return address.rpartition("@")[2].lower() == settings.reply_domain.lower()


def read_address(settings: TicketsSettings, address: str, today: date | None = None) -> ReplyToken:
    """The ticket an address names, if its signature holds and its day has not passed;
    else TokenRefused. The version is checked against the ticket by the caller."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    if domain != settings.reply_domain.lower() or not local.startswith(LOCAL_PREFIX):
        raise TokenRefused(TokenProblem.NOT_A_REPLY_ADDRESS)
    found = _TOKEN.fullmatch(local.removeprefix(LOCAL_PREFIX))
    if found is None:
        raise TokenRefused(TokenProblem.MALFORMED)
    number, version, day = (int(found.group(i)) for i in (1, 2, 3))
    keys = _secrets(settings)
    if not keys:
        raise TokenRefused(TokenProblem.NO_SECRET)
    given = found.group(4)
    if not any(hmac.compare_digest(_mac(k, number, version, day), given) for k in keys):
        raise TokenRefused(TokenProblem.FORGED)
    last_day = _EPOCH + timedelta(days=day)
    if (today or datetime.now(UTC).date()) > last_day:
        raise TokenRefused(TokenProblem.EXPIRED)
    return ReplyToken(number=number, version=version, last_day=last_day)
