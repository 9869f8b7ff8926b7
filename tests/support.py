"""Helpers shared by the cross-service tests (on sys.path through pytest's `pythonpath`)."""

import re

from berth_testing.platform import Platform, mail_text

ADMIN_EMAIL = "root-admin@berth.localhost"
ADMIN_PASSWORD = "root-admin-password-42"  # a throwaway database per test run
PASSWORD = "correct horse battery 1"


def code_from_mail(platform: Platform, email: str, count: int = 1) -> str:
    mails = platform.wait_for_mail(email, count=count)
    match = re.search(r"\b(\d{6})\b", mail_text(mails[count - 1]))
    assert match, mail_text(mails[count - 1])
    return match.group(1)
