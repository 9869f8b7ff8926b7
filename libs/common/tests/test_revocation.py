"""The denylist every token check consults, and the feed that keeps it current: events from
the real RabbitMQ as they come, the whole list reloaded when the subscription starts, polling
when there is no subscription."""

import asyncio
import time

import pytest

from berth_common import revocation
from berth_common.broker import make_publisher
from berth_common.errors import ServiceUnavailable
from berth_common.messages import event_message
from berth_common.revocation import (
    REVOKED_EVENT,
    Denylist,
    RevocationFeed,
    Revocations,
    TokenRevoked,
)
from berth_common.security import Principal

NOW = int(time.time())


def person(subject: str = "u1", sid: str | None = "s1", iat: int = NOW) -> Principal:
    return Principal(
        subject=subject, kind="user", client_id="berth-panel", session_id=sid, issued_at=iat
    )


def machine(client_id: str = "team-1") -> Principal:
    return Principal(subject=client_id, kind="client", client_id=client_id, issued_at=NOW)


def revocations(**kinds: list[dict]) -> Revocations:
    until = int(time.time()) + 600  # not NOW: the module may be imported long before
    return Revocations.model_validate(
        {kind: [{"until": until, **entry} for entry in entries] for kind, entries in kinds.items()}
    )


def loaded(*batches: Revocations) -> Denylist:
    denylist = Denylist()
    denylist.load(Revocations())
    for batch in batches:
        denylist.merge(batch)
    return denylist


def test_nothing_passes_before_the_first_load():
    with pytest.raises(ServiceUnavailable):
        Denylist().check(person())


def test_sessions_clients_and_users_before_their_not_before_are_refused():
    denylist = loaded(
        revocations(
            sessions=[{"id": "s1"}],
            clients=[{"id": "team-1"}],
            users=[{"id": "u2", "not_before": NOW + 1}],
        )
    )
    for principal in (person(sid="s1"), machine("team-1"), person("u2", sid="s9")):
        with pytest.raises(TokenRevoked):
            denylist.check(principal)
    denylist.check(person(sid="s2"))
    denylist.check(machine("team-2"))
    denylist.check(person("u2", sid="s9", iat=NOW + 1))  # issued at the not-before: fine


def test_merging_never_unrevokes_and_expired_entries_leave():
    denylist = loaded(revocations(users=[{"id": "u1", "not_before": NOW + 5}]))
    # an older event arriving late, or a list read before the newest change, keeps the newest
    denylist.merge(revocations(users=[{"id": "u1", "not_before": NOW - 100}]))
    with pytest.raises(TokenRevoked):
        denylist.check(person("u1", sid=None, iat=NOW + 4))
    denylist.merge(revocations(sessions=[{"id": "gone", "until": NOW - 1}]))
    assert len(denylist) == 2
    denylist.load(Revocations(), now=NOW)
    assert len(denylist) == 1  # the lapsed session entry is dropped on the next load


class CountingAuth:
    """What auth would answer at /internal/revocations, and how often it was asked."""

    def __init__(self) -> None:
        self.current = Revocations()
        self.calls = 0

    async def load(self) -> Revocations:
        self.calls += 1
        return self.current


async def wait_until(check, within: float) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within, f"not within {within}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_an_event_reaches_a_subscribed_process_at_once(broker_url):
    auth = CountingAuth()
    denylist = Denylist()
    publisher = make_publisher(broker_url, "")
    await publisher.ping()  # auth's publisher declares berth.events; followers only use it
    # resync and polling far away: only the event can bring the revocation in time
    feed = RevocationFeed(
        denylist, auth.load, broker_url, name="test", resync_seconds=600, poll_seconds=600
    )
    await feed.start()
    try:
        assert denylist.loaded and auth.calls >= 1
        await wait_until(lambda: feed.live, within=10)
        # going live loads the whole list once more: nothing published meanwhile is missed
        await wait_until(lambda: auth.calls >= 2, within=5)
        denylist.check(person(sid="s-77"))
        message = event_message(
            REVOKED_EVENT, revocations(sessions=[{"id": "s-77"}]).model_dump(), source="auth"
        )
        await publisher.publish(message)

        def refused() -> bool:
            try:
                denylist.check(person(sid="s-77"))
            except TokenRevoked:
                return True
            return False

        assert await wait_until(refused, within=2) < 2
        # an unreadable event is ignored, not fatal
        await publisher.publish(
            event_message(REVOKED_EVENT, {"sessions": "nonsense"}, source="auth")
        )
        await publisher.close()
        await asyncio.sleep(0.2)
        assert feed.live and len(denylist) == 1
    finally:
        await feed.stop()


async def test_without_a_broker_subscription_the_list_is_polled():
    auth = CountingAuth()
    denylist = Denylist()
    feed = RevocationFeed(
        denylist, auth.load, "filesystem://", name="test", resync_seconds=600, poll_seconds=0.2
    )
    await feed.start()
    try:
        auth.current = revocations(clients=[{"id": "team-5"}])

        def refused() -> bool:
            try:
                denylist.check(machine("team-5"))
            except TokenRevoked:
                return True
            return False

        await wait_until(refused, within=3)
    finally:
        await feed.stop()


async def test_a_failing_first_load_keeps_retrying_and_then_serves():
    attempts = 0

    async def auth_starting_late() -> Revocations:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("auth not up yet")
        return Revocations()

    denylist = Denylist()
    feed = RevocationFeed(
        denylist, auth_starting_late, "filesystem://", name="test", poll_seconds=0.1
    )
    await feed.start()
    try:
        assert not denylist.loaded
        with pytest.raises(ServiceUnavailable):
            denylist.check(person())
        await wait_until(lambda: denylist.loaded, within=3)
        denylist.check(person())
    finally:
        await feed.stop()


async def stops_within(feed: RevocationFeed, seconds: float) -> bool:
    # not wait_for: a stop that never ends would hold up wait_for's own cancellation too
    stopping = asyncio.ensure_future(feed.stop())
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    return stopping in done


async def test_stopping_ends_the_subscription_attempts_even_when_a_cancel_is_swallowed():
    # aio-pika, closing a half-made connection, can turn the cancel into its own error
    entered = asyncio.Event()

    async def attempt_that_swallows_the_cancel() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("closed while subscribing") from None

    feed = RevocationFeed(Denylist(), CountingAuth().load, "amqp://nowhere.invalid//", name="test")
    feed._subscribe = attempt_that_swallows_the_cancel
    await feed.start()
    await asyncio.wait_for(entered.wait(), timeout=2)
    assert await stops_within(feed, 0.5)
    assert feed._tasks == []


async def test_stopping_waits_a_bounded_time_for_a_broker_that_does_not_close(monkeypatch):
    monkeypatch.setattr(revocation, "CLOSE_SECONDS", 0.2)

    class SilentBroker:
        async def close(self) -> None:
            await asyncio.Event().wait()

    feed = RevocationFeed(Denylist(), CountingAuth().load, "filesystem://", name="test")
    await feed.start()
    feed._connection = SilentBroker()
    assert await stops_within(feed, 1)
    assert feed._connection is None


async def test_a_feed_stopped_and_started_again_goes_live_again(broker_url):
    """One app, two lifespans (a test client can run both): the second start subscribes again
    instead of falling back to polling."""
    publisher = make_publisher(broker_url, "")
    await publisher.ping()  # declares berth.events
    await publisher.close()
    feed = RevocationFeed(
        Denylist(),
        CountingAuth().load,
        broker_url,
        name="test",
        resync_seconds=600,
        poll_seconds=600,
    )
    for _ in range(2):
        await feed.start()
        try:
            await wait_until(lambda: feed.live, within=10)
            assert feed.live
        finally:
            await feed.stop()
