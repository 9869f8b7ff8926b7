"""Retention per tier: a customer's messages are kept as many days as their tier (from
billing's events) says; a late event never undoes a newer one."""

import uuid
from datetime import UTC, datetime, timedelta

from fixtures_chat import API, start_conversation
from sqlalchemy import select, update

from berth_chat.models import AccountTiers, Message
from berth_chat.retention import service as retention


def _send(client, who, cid: str, body: str) -> int:
    r = client.post(
        f"{API}/conversations/{cid}/messages",
        json={"client_msg_id": uuid.uuid4().hex, "body": body},
        headers=who.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()["seq"]


def _tier_event(owner, tier: str, at: datetime) -> dict:
    return {
        "owner_id": str(owner.id),
        "tier": tier,
        "previous_tier": "x",
        "changed_at": at.isoformat(),
    }


def _db(client):
    sessionmaker = client.app.state.db.sessionmaker

    async def in_transaction(fn, **kwargs):
        async with sessionmaker() as session, session.begin():
            return await fn(session, **kwargs)

    return in_transaction


def test_purge_keeps_a_pro_customers_200_day_old_message_and_deletes_a_standard_ones(
    chat_client, person
):
    tx = _db(chat_client)
    settings = chat_client.app.state.settings
    assert settings.retention_of("standard") < 200 < settings.retention_of("pro")
    pro, standard, moved = person(), person(), person()
    now = datetime.now(UTC)
    # pro from billing's event; `standard` never announced (every account starts there);
    # `moved` went pro and back to standard
    assert chat_client.portal.call(
        lambda: tx(retention.tier_changed, payload=_tier_event(pro, "pro", now))
    )
    for tier, at in (("pro", now - timedelta(hours=2)), ("standard", now - timedelta(hours=1))):
        chat_client.portal.call(
            lambda t=tier, a=at: tx(retention.tier_changed, payload=_tier_event(moved, t, a))
        )
    threads = {}
    for who in (pro, standard, moved):
        cid = start_conversation(chat_client, who)["id"]
        _send(chat_client, who, cid, "old")
        _send(chat_client, who, cid, "new")
        threads[who.id] = cid

    async def age_first_messages(session):
        await session.execute(
            update(Message)
            .where(
                Message.conversation_id.in_([uuid.UUID(c) for c in threads.values()]),
                Message.seq == 1,
            )
            .values(created_at=now - timedelta(days=200))
        )

    chat_client.portal.call(lambda: tx(age_first_messages))
    deleted = chat_client.portal.call(lambda: retention.purge(tx, settings, now))
    assert deleted >= 2

    def seqs(who) -> list[int]:
        r = chat_client.get(f"{API}/conversations/{threads[who.id]}/messages", headers=who.headers)
        return [m["seq"] for m in r.json()]

    assert seqs(pro) == [1, 2]
    assert seqs(standard) == [2]
    assert seqs(moved) == [2]
    # each says so on their chat page
    for who, tier in ((pro, "pro"), (standard, "standard")):
        r = chat_client.get(f"{API}/retention", headers=who.headers)
        assert r.json() == {"tier": tier, "days": settings.retention_of(tier)}


def test_an_older_tier_event_arriving_late_does_not_win(chat_client, person):
    tx = _db(chat_client)
    alice = person()
    now = datetime.now(UTC)
    newer = _tier_event(alice, "business", now)
    older = _tier_event(alice, "pro", now - timedelta(minutes=5))
    assert chat_client.portal.call(lambda: tx(retention.tier_changed, payload=newer))
    assert not chat_client.portal.call(lambda: tx(retention.tier_changed, payload=older))
    # the same event again changes nothing either
    assert not chat_client.portal.call(lambda: tx(retention.tier_changed, payload=newer))

    async def held(session):
        stmt = select(AccountTiers.c.tier).where(AccountTiers.c.owner_id == alice.id)
        return (await session.execute(stmt)).scalar_one()

    assert chat_client.portal.call(lambda: tx(held)) == "business"
    r = chat_client.get(f"{API}/retention", headers=alice.headers)
    assert r.json()["tier"] == "business"


def test_a_malformed_tier_event_is_ignored(chat_client, person):
    tx = _db(chat_client)
    alice = person()
    for payload in (
        {},
        {"owner_id": "nope", "tier": "pro", "changed_at": datetime.now(UTC).isoformat()},
        {"owner_id": str(alice.id), "tier": "pro", "changed_at": "2026-01-01T00:00:00"},
        {"owner_id": str(alice.id), "tier": "", "changed_at": datetime.now(UTC).isoformat()},
    ):
        assert not chat_client.portal.call(lambda p=payload: tx(retention.tier_changed, payload=p))
    r = chat_client.get(f"{API}/retention", headers=alice.headers)
    assert r.json()["tier"] == "standard"


def test_tiers_with_the_same_days_purge_together_and_unnamed_tiers_fall_back():
    from berth_chat.config import ChatSettings

    settings = ChatSettings(
        retention_days_by_tier={"standard": 30, "pro": 30, "business": 400}, retention_days=90
    )
    assert [(g.days, g.tiers, g.other_than) for g in retention.groups(settings)] == [
        (30, ("pro", "standard"), ()),
        (400, ("business",), ()),
        (90, (), ("business", "pro", "standard")),
    ]
    assert settings.retention_of("enterprise") == 90
