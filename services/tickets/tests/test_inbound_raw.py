"""The raw bytes of inbound mail over time: the beat hands mail stuck unprocessed back to the
worker (within its give-up window) and drops the raw bytes of old processed mail, keeping the
record of what became of it."""

from datetime import UTC, datetime, timedelta

from fixtures_mail import address, deliver, make_ticket, reply_mail
from sqlalchemy import select, update

from berth_tickets.inbound.models import InboundEmail, InboundRawEmail


async def test_the_beat_requeues_stuck_mail_and_drops_only_old_processed_raw_bytes(
    tickets_db, tickets_settings, person, directory
):
    from berth_tickets.inbound import service as inbound

    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, address(owner))
    processed = await deliver(tickets_db, tickets_settings, email_of, raw, [to])
    async with tickets_db() as session, session.begin():
        stuck_id = await inbound.receive(
            session, mail_from=address(owner), rcpt_tos=[to], raw=b"Subject: stuck\r\n\r\nhi"
        )
        # both arrived long ago; one was never processed (a worker down past its retries)
        await session.execute(
            update(InboundRawEmail)
            .where(
                (InboundRawEmail.id == stuck_id)
                | (InboundRawEmail.inbound_email_id == processed.id)
            )
            .values(received_at=datetime.now(UTC) - timedelta(days=40))
        )
    async with tickets_db() as session, session.begin():
        assert await inbound.requeue_unprocessed(session) == 0  # past the give-up window
        await session.execute(
            update(InboundRawEmail)
            .where(InboundRawEmail.id == stuck_id)
            .values(received_at=datetime.now(UTC) - timedelta(hours=1))
        )
    async with tickets_db() as session, session.begin():
        assert await inbound.requeue_unprocessed(session) >= 1
        await inbound.purge_processed(session, tickets_settings)
    async with tickets_db() as session:
        left = set(
            (
                await session.execute(
                    select(InboundRawEmail.id).where(
                        (InboundRawEmail.id == stuck_id)
                        | (InboundRawEmail.inbound_email_id == processed.id)
                    )
                )
            ).scalars()
        )
        outcome = await session.get(InboundEmail, processed.id)
    assert left == {stuck_id}  # the unprocessed one stays, the old processed bytes are gone
    assert outcome.outcome == "accepted"  # the record of what happened stays
