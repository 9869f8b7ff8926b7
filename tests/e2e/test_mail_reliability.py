"""A worker SIGKILLed in the middle of sending a mail: after a restart the mail is sent,
exactly once (late acknowledgement redelivers it; the row's status stops a second send)."""

import asyncio
import time
import uuid

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import PASSWORD


async def email_rows(database_url: str, address: str) -> list[tuple[str, int]]:
    engine = create_async_engine(database_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT status, attempts FROM auth.outgoing_emails WHERE to_address = :a"),
                {"a": address},
            )
        ).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


def test_worker_killed_while_sending_mail_sends_it_once_after_restart(
    platform, stalling_sink, berth_env
):
    sink, port = stalling_sink
    platform.processes.pop("auth-worker").stop()
    saved_port = platform.env["SMTP_PORT"]
    platform.env["SMTP_PORT"] = str(port)
    try:
        victim = platform.start_worker("auth")
        email = f"kill-{uuid.uuid4().hex[:8]}@example.test"
        r = httpx.post(
            f"{platform.public_url}/api/auth/v1/register",
            json={"email": email, "password": PASSWORD},
        )
        assert r.status_code == 201, r.text

        assert sink.first_rcpt.wait(30), "the worker never started sending"
        victim.kill()  # SIGKILL to the whole worker process group, mid-SMTP-transaction
        victim.proc.wait(10)
        platform.processes.pop("auth-worker")
        assert sink.delivered == []

        platform.start_worker("auth")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not sink.delivered:
            time.sleep(0.2)
        time.sleep(3)  # would a duplicate follow?
        to_me = [m for m in sink.delivered if email in m[0]]
        assert len(to_me) == 1
        rows = asyncio.run(email_rows(berth_env["DATABASE_URL"], email))
        assert [status for status, _ in rows] == ["sent"]
    finally:
        platform.processes.pop("auth-worker").stop()
        platform.env["SMTP_PORT"] = saved_port
        platform.start_worker("auth")
