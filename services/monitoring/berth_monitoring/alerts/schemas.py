"""Requests and responses of the alert-channel API."""

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from berth_common.pagination import Page
from berth_monitoring.enums import ChannelKind, NotificationEvent


def _plain_text(value: str) -> str:
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _email(value: str) -> str:
    try:
        result = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError("not a valid email address") from exc
    return result.normalized.lower()


_BOT_TOKEN = re.compile(r"^[0-9]{3,20}:[A-Za-z0-9_-]{30,100}$")
# a numeric chat id (groups and channels are negative) or a public @channelusername
_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def _bot_token(value: str) -> str:
    if not _BOT_TOKEN.match(value):
        raise ValueError("not a Telegram bot token (digits, a colon, then the secret part)")
    return value


def _chat_id(value: str) -> str:
    if not _CHAT_ID.match(value):
        raise ValueError("a numeric chat id (e.g. -1001234567890) or @channelname")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    AfterValidator(_plain_text),
]
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_email)
]
WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2000)]
BotToken = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_bot_token)]
ChatId = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_chat_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmailChannelCreate(_Strict):
    kind: Literal[ChannelKind.EMAIL]
    name: Name
    address: EmailAddress


class WebhookChannelCreate(_Strict):
    """The URL must be https (http only into a network the operator opened) and public."""

    kind: Literal[ChannelKind.WEBHOOK]
    name: Name
    url: WebhookUrl


class TelegramChannelCreate(_Strict):
    kind: Literal[ChannelKind.TELEGRAM]
    name: Name
    chat_id: ChatId
    bot_token: BotToken


ChannelCreate = Annotated[
    EmailChannelCreate | WebhookChannelCreate | TelegramChannelCreate, Field(discriminator="kind")
]


class ChannelUpdate(_Strict):
    """Only the fields of the channel's own kind may be given; `rotate_secret` makes a new
    webhook signing secret (shown once in the answer)."""

    name: Name | None = None
    is_enabled: bool | None = None
    address: EmailAddress | None = None
    url: WebhookUrl | None = None
    chat_id: ChatId | None = None
    bot_token: BotToken | None = None
    rotate_secret: bool = False


class Channel(BaseModel):
    id: uuid.UUID
    kind: ChannelKind
    name: str
    # the address, the webhook URL or the chat id (the owner's own data)
    target: str
    # a secret is never returned: "…abcd" when one is set (its last four characters)
    secret: str | None
    is_enabled: bool
    last_test_at: datetime | None
    created_at: datetime


class ChannelWithSecret(Channel):
    """The answer to a create (or a secret rotation): the webhook's signing secret, once."""

    signing_secret: str | None = None


ChannelPage = Page[Channel]


class TestResult(BaseModel):
    notification_id: uuid.UUID
    event: NotificationEvent
    status: str
    error: str | None


class NotificationOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    event: NotificationEvent
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
