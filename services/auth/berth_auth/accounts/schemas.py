"""Request and response models of the public account endpoints, and shared field types."""

import ipaddress
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from berth_auth.enums import CodePurpose


def _no_control_chars(value: str) -> str:
    # NUL and other control characters are never meaningful in names or reasons
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _normalise_email(value: str) -> str:
    try:
        # test_environment also admits the reserved .test domain (RFC 2606): nothing is ever
        # delivered there, and it is what staging and test accounts use
        result = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError("not a valid email address") from exc
    return result.normalized.lower()


def _normalise_phone(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone must be in international format, e.g. +14155550123") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ip_text(value: Any) -> Any:
    # INET columns come back as ipaddress objects
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(value.ip)
    return value


Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_normalise_email)
]
Password = Annotated[str, StringConstraints(min_length=10, max_length=128)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=120),
    AfterValidator(_no_control_chars),
]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_normalise_phone)]
IpText = Annotated[str | None, BeforeValidator(_ip_text)]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(RequestModel):
    email: Email
    password: Password
    name: Name = ""
    phone: Phone | None = None


class EmailVerification(RequestModel):
    email: Email
    code: Code


class CodeResend(RequestModel):
    email: Email
    purpose: CodePurpose = CodePurpose.VERIFY_EMAIL


class PasswordResetRequest(RequestModel):
    email: Email


class PasswordReset(RequestModel):
    email: Email
    code: Code
    new_password: Password


class AccountStatus(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool


class Accepted(BaseModel):
    status: Literal["accepted"] = "accepted"


class Me(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    phone: str | None
    roles: list[str]
    email_verified: bool
    email_verified_at: datetime | None
    password_changed_at: datetime | None
    created_at: datetime

    @classmethod
    def from_user(cls, user: Any) -> "Me":
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            phone=user.phone,
            roles=list(user.roles),
            email_verified=user.email_verified_at is not None,
            email_verified_at=user.email_verified_at,
            password_changed_at=user.password_changed_at,
            created_at=user.created_at,
        )
