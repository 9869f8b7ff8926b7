"""A local SMTP sink for mail tests (aiosmtpd): keeps what it is sent, or refuses it on cue."""

import email
from email.message import Message

from aiosmtpd.controller import Controller


class SmtpSink:
    """Collects delivered messages; refuses every recipient (`rcpt_reply`) or every message
    (`data_reply`) with a fixed SMTP reply when given one."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.messages: list[Message] = []
        self.rcpt_reply, self.data_reply = rcpt_reply, data_reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


def start_sink(port: int, **replies: str) -> tuple[SmtpSink, Controller]:
    """A sink listening on 127.0.0.1:`port`; stop it with the returned controller."""
    sink = SmtpSink(**replies)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return sink, controller
