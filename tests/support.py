"""Helpers shared by the cross-service tests (on sys.path through pytest's `pythonpath`)."""

import asyncio
import re
import threading

from berth_testing.platform import Platform, mail_text

ADMIN_EMAIL = "root-admin@berth.localhost"
ADMIN_PASSWORD = "root-admin-password-42"  # a throwaway database per test run
PASSWORD = "correct horse battery 1"


def code_from_mail(platform: Platform, email: str, count: int = 1) -> str:
    mails = platform.wait_for_mail(email, count=count)
    match = re.search(r"\b(\d{6})\b", mail_text(mails[count - 1]))
    assert match, mail_text(mails[count - 1])
    return match.group(1)


class StallingSink:
    """Holds the first RCPT for each address long enough for the test to kill the sender."""

    def __init__(self) -> None:
        self.stalled: set[str] = set()
        self.first_rcpt = threading.Event()
        self.delivered: list[tuple[list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        if address not in self.stalled:
            self.stalled.add(address)
            self.first_rcpt.set()
            await asyncio.sleep(15)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def register_and_verify(platform: Platform, edge, name: str = "Ada") -> str:
    """A new person with a verified email, made the way a person does: register, read the
    mail, verify (auth's worker must be running). Their email."""
    import uuid

    email = f"person-{uuid.uuid4().hex[:10]}@example.test"
    r = edge.post(
        "/api/auth/v1/register", json={"email": email, "password": PASSWORD, "name": name}
    )
    assert r.status_code == 201, r.text
    r = edge.post(
        "/api/auth/v1/verify-email", json={"email": email, "code": code_from_mail(platform, email)}
    )
    assert r.status_code == 200, r.text
    return email
