"""RabbitMQ's app stops and starts (`rabbitmqctl stop_app` / `start_app`) while the broker's
long-lived consumers run, and none of their processes is restarted:

- chat's two web replicas fan messages out over the `chat.fanout` exchange (aio-pika, each
  replica its own exclusive queue): a customer on one replica keeps writing before, during
  and after the outage; staff on the other replica gets every message once, in order. The
  fan-out itself must come back (not only the sweep that reads missed messages from
  PostgreSQL): each replica's queue is declared and consumed again, and a typing frame,
  which only ever travels by the fan-out, crosses between the replicas both ways.
- monitoring's worker and beat: monitors added before, during and after the outage are each
  alerted once (down, at a webhook receiver).
"""

import time
import uuid

import httpx
import pytest
from billing_e2e import sign_in
from chat_e2e import API, Client, open_socket, second_chat_replica
from monitoring_e2e import DownMonitors
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, register_and_verify

from berth_testing.faults import lost_and_duplicated, record, settle, wait_for
from berth_testing.oauth import password_login

FAULT_SERVICES = ("auth", "chat", "monitoring")
FAULT_WORKERS = ("auth", "monitoring")
LOOPS = 2
OUTAGE_SECONDS = 5


def token(edge: httpx.Client, email: str, password: str) -> str:
    r = password_login(edge, email, password)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def pids(plat) -> dict[str, int]:
    return {name: proc.pid for name, proc in plat.processes.items() if proc.alive()}


def typing_crosses(sender: Client, receiver: Client, cid: str, timeout: float = 60) -> None:
    """A typing frame from `sender`'s replica reaches `receiver` on the other (sent again
    until one does: one sent while the fan-out reconnects is gone, as typing may be)."""
    deadline = time.monotonic() + timeout
    while True:
        sender.send(type="typing", conversation_id=cid)
        try:
            receiver.next("typing", timeout=2)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise AssertionError("no typing frame crossed between the replicas") from None


@pytest.mark.timeout(900)
def test_chat_fanout_recovers_from_broker_restarts_losing_nothing(fault_platform):
    plat, rabbit = fault_platform.platform, fault_platform.rabbit
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        staff = token(edge, ADMIN_EMAIL, ADMIN_PASSWORD)
        customer = token(edge, register_and_verify(plat, edge), PASSWORD)
        r = edge.post(
            f"{API}/conversations",
            json={"subject": "help"},
            headers={"Authorization": f"Bearer {customer}"},
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
    with second_chat_replica(plat, staff) as (_, ids):
        before = pids(plat)
        a = open_socket(plat, customer, on=ids["chat"])
        s = open_socket(plat, staff, on=ids["chat-2"])
        for c in (a, s):
            c.send(type="subscribe", conversation_id=cid, after_seq=0)
            c.next("subscribed")
        bodies: list[str] = []

        def write(phase: str, count: int = 3) -> None:
            for _ in range(count):
                body = f"{phase} {uuid.uuid4().hex[:6]}"
                a.send(type="send", conversation_id=cid, client_msg_id=body, body=body)
                assert a.next("ack", timeout=30)["seq"] == len(bodies) + 1
                bodies.append(body)

        for loop in range(1, LOOPS + 1):
            write(f"before {loop}")
            rabbit.stop_app()
            outage = time.monotonic()
            write(f"during {loop}")  # persisted and acked: the fan-out waits for the broker
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage)))
            rabbit.start_app()
            write(f"after {loop}")
            typing_crosses(a, s, cid)
            typing_crosses(s, a, cid)
            s.messages_until(len(bodies), timeout=60)
        seen = [m["body"] for m in s.seen]
        queues = {
            name: n for name, n in rabbit.consumers().items() if name.startswith("chat.fanout.")
        }
        ready = [httpx.get(f"{url}/ready", timeout=10).status_code for url in _chat_urls(plat)]
        after = pids(plat)
        a.ws.close()
        s.ws.close()
    per_message = {b: seen.count(b) for b in bodies}
    lost, duplicated = lost_and_duplicated(per_message)
    record(
        f"broker restarts, chat fan-out: {LOOPS} stop_app/start_app, {len(bodies)} messages "
        f"from one replica, at the other replica's client lost {lost}, duplicated "
        f"{duplicated}, in order {seen == bodies}; fan-out queues with a consumer after "
        f"{sorted(queues.values())}, replicas ready {ready}, processes restarted "
        f"{len(set(before.items()) - set(after.items()))}"
    )
    assert (lost, duplicated) == (0, 0)
    assert seen == bodies and s.seqs == list(range(1, len(bodies) + 1))
    assert sorted(queues.values()) == [1, 1], queues
    assert ready == [200, 200]
    assert after == before


def _chat_urls(plat) -> list[str]:
    second = plat.processes["chat-2"].cmd
    return [plat.url("chat"), f"http://127.0.0.1:{second[second.index('--port') + 1]}"]


@pytest.mark.timeout(900)
def test_monitoring_alerts_keep_arriving_across_broker_restarts(
    fault_platform, receiver, monitoring_beat
):
    plat, rabbit = fault_platform.platform, fault_platform.rabbit
    before = {**pids(plat), "monitoring-beat": monitoring_beat.pid}
    added: dict[str, list[str]] = {"before": [], "during": [], "after": []}
    with httpx.Client(base_url=plat.public_url, timeout=30) as edge:
        who = sign_in(edge, register_and_verify(plat, edge))
        monitors = DownMonitors(edge, who, receiver.url)
        for _ in range(LOOPS):
            added["before"] += [monitors.add(), monitors.add()]
            wait_for(
                lambda: all(m in receiver.down_alerts() for m in added["before"]),
                120,
                "the alerts before the outage",
            )
            rabbit.stop_app()
            added["during"] += [monitors.add(), monitors.add()]
            time.sleep(OUTAGE_SECONDS)
            rabbit.start_app()
            added["after"] += [monitors.add(), monitors.add()]
    every = [m for phase in added.values() for m in phase]
    per_monitor = settle(
        lambda: {m: len(receiver.down_alerts().get(m, ())) for m in every},
        "every monitor's down alert delivered",
    )
    after = {**pids(plat), "monitoring-beat": monitoring_beat.pid if monitoring_beat.alive() else 0}
    lost, duplicated = lost_and_duplicated(per_monitor)
    by_phase = {p: lost_and_duplicated({m: per_monitor[m] for m in ms}) for p, ms in added.items()}
    record(
        f"broker restarts, monitoring: {LOOPS} stop_app/start_app, {len(every)} monitors down "
        f"(added before/during/after the outage: lost, duplicated {by_phase}), alerts lost "
        f"{lost}, duplicated {duplicated}, processes restarted "
        f"{len(set(before.items()) - set(after.items()))}"
    )
    assert (lost, duplicated) == (0, 0)
    assert after == before
