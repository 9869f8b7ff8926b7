"""SMTP sink for development: every message lands in var/mail/ as one .eml file.

python -m berth_devrun.mailsink  (listens on 127.0.0.1:${SMTP_PORT:-2525})

Files are named <UTC timestamp>-<uuid>.eml and appear atomically (written to a dot-file,
fsynced, renamed), so a test polling the folder never reads half a message. The envelope
is kept in X-Envelope-From / X-Envelope-To headers on top (Bcc recipients show there).
"""

import asyncio
import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from .layout import Layout, find_root

log = logging.getLogger("berth_devrun.mailsink")


class MailDirHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        path = await asyncio.to_thread(self.store, envelope)
        raw = envelope.original_content or b""
        subject = BytesHeaderParser(policy=default_policy).parsebytes(raw).get("Subject", "")
        log.info("%s -> %s %r: %s", envelope.mail_from, envelope.rcpt_tos, subject, path.name)
        return "250 Message accepted for delivery"

    def store(self, envelope: Envelope) -> Path:
        content = envelope.original_content or b""
        envelope_headers = (
            f"X-Envelope-From: <{envelope.mail_from}>\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4()}.eml"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        with tmp.open("wb") as handle:
            handle.write(envelope_headers + content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        return final


async def serve(host: str, port: int, directory: Path) -> None:
    handler = MailDirHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="berth.localhost", enable_SMTPUTF8=True),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("SMTP sink on %s:%s, storing into %s", host, port, directory)
    async with server:
        await stop.wait()
    log.info("SMTP sink stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP verb
    host = os.environ.get("MAILSINK_HOST", "127.0.0.1")
    port = int(os.environ.get("SMTP_PORT") or 2525)
    directory = Path(os.environ.get("MAILSINK_DIR") or Layout(find_root()).mail_dir)
    directory.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(host, port, directory))


if __name__ == "__main__":
    main()
