"""The inbound SMTP receiver of replies by email: `python -m berth_tickets.inbound.server`.

Listens on TICKETS_INBOUND_HOST:TICKETS_INBOUND_PORT (127.0.0.1:2526 in development; in
production the same endpoint behind the operator's MX for TICKETS_REPLY_DOMAIN). It accepts
recipients of the reply domain only (it relays nothing), refuses a mail over
TICKETS_INBOUND_MAX_BYTES in the dialogue, and answers 250 only once the mail and its
processing task are committed (berth_tickets.inbound.service.receive); a database or broker
problem answers 451, so the sending server keeps the mail and tries again later.
"""

import asyncio
import logging
import signal

from aiosmtpd.smtp import SMTP, Envelope, Session
from loguru import logger

from berth_common.logging import configure_logging
from berth_common.worker import WorkerRuntime
from berth_tickets.config import TicketsSettings, get_settings
from berth_tickets.inbound.service import receive
from berth_tickets.models import SCHEMA, Base
from berth_tickets.notify.tokens import is_reply_domain

MAX_RECIPIENTS = 20


class ReplyHandler:
    def __init__(self, settings: TicketsSettings, runtime: WorkerRuntime):
        self.settings = settings
        self.runtime = runtime

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options
    ) -> str:
        if not is_reply_domain(self.settings, address):
            return "550 5.7.1 Relaying denied: not a reply address of this desk"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        mail_from = envelope.mail_from or ""
        try:
            raw_id = await self.runtime.in_transaction(
                receive, mail_from=mail_from, rcpt_tos=list(envelope.rcpt_tos), raw=raw, peer=peer
            )
        except Exception as exc:  # any failure to store: the sender keeps the mail and retries
            logger.error("inbound mail not stored: {}", type(exc).__name__)
            return "451 4.3.0 Temporary failure, please try again later"
        logger.info("inbound mail {} stored ({} bytes)", raw_id, len(raw))
        return f"250 2.0.0 Queued as {raw_id}"


def make_smtp(settings: TicketsSettings, handler: ReplyHandler) -> SMTP:
    return SMTP(
        handler,
        hostname=settings.reply_domain,
        data_size_limit=settings.inbound_max_bytes,
        enable_SMTPUTF8=True,
        decode_data=False,
        timeout=60,
    )


async def serve(settings: TicketsSettings) -> None:
    runtime = WorkerRuntime(settings, SCHEMA, Base.metadata)
    handler = ReplyHandler(settings, runtime)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: make_smtp(settings, handler), host=settings.inbound_host, port=settings.inbound_port
    )
    # what an immediate publish could not send (a broker hiccup) goes out from here too
    runtime.relay.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info(
        "tickets inbound SMTP on {}:{} for @{}",
        settings.inbound_host,
        settings.inbound_port,
        settings.reply_domain,
    )
    async with server:
        await stop.wait()
    await runtime.relay.stop()
    await runtime.db.dispose()
    logger.info("tickets inbound SMTP stopped")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP verb
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
