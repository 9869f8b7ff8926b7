"""Auth's kinds and purposes as `StrEnum`s: the columns stay strings with these values."""

from enum import StrEnum


class ClientKind(StrEnum):
    FIRST_PARTY = "first_party"  # the platform's own panel (password and refresh grants)
    MACHINE = "machine"  # another team's client (client credentials)


class CodePurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    PASSWORD_RESET = "password_reset"


class LoginKind(StrEnum):
    """What a login_events row records: a password login, a password change, a code's use."""

    LOGIN = "login"
    PASSWORD_CHANGE = "password_change"
    VERIFY_EMAIL = CodePurpose.VERIFY_EMAIL.value
    PASSWORD_RESET = CodePurpose.PASSWORD_RESET.value
