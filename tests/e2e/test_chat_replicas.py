"""Chat through Traefik with TWO real chat web replicas (one load-balanced service): clients on
different replicas talk both ways in order; a replica SIGKILLed mid-conversation loses nothing
(its client reconnects to the other and resumes from its last seq); cross-site handshakes are
refused; another customer cannot join. Everything stays on 127.0.0.1."""

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from chat_e2e import Client, open_socket, second_chat_replica, ws_url
from support import PASSWORD
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from berth_testing.oauth import password_login

API = "/api/chat/v1"


def _token(edge: httpx.Client, email: str) -> str:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture(scope="module")
def replicas(platform) -> Iterator[dict]:
    """A second chat web process, and a Traefik route over both (health-checked)."""
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        admin = _admin_token(edge)
    with second_chat_replica(platform, admin) as (second, ids):
        yield {"second": second, "admin": admin, "ids": ids}


def _admin_token(edge: httpx.Client) -> str:
    from support import ADMIN_EMAIL, ADMIN_PASSWORD

    r = password_login(edge, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def customer(platform, register_verified) -> str:
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        return _token(edge, register_verified())


def _conversation(platform, token: str) -> str:
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        r = edge.post(
            f"{API}/conversations",
            json={"subject": "help"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]


def _pair(platform, replicas, customer) -> tuple[Client, Client, str]:
    """The customer on one replica, staff (the admin) on the other, both subscribed."""
    cid = _conversation(platform, customer)
    a = open_socket(platform, customer)
    s = open_socket(platform, replicas["admin"])
    while s.replica == a.replica:
        s.ws.close()
        s = open_socket(platform, replicas["admin"])
    for c in (a, s):
        c.send(type="subscribe", conversation_id=cid, after_seq=0)
        c.next("subscribed")
    return a, s, cid


def test_two_clients_on_different_replicas_talk_both_ways_in_order(platform, replicas, customer):
    a, s, cid = _pair(platform, replicas, customer)
    try:
        for n in range(5):
            a.send(type="send", conversation_id=cid, client_msg_id=f"a{n}", body=f"customer {n}")
            s.send(type="send", conversation_id=cid, client_msg_id=f"s{n}", body=f"staff {n}")
        # 10 messages and the handoff notice of staff's first answer
        a.messages_until(11)
        s.messages_until(11)
        assert a.seqs == s.seqs == list(range(1, 12))
        assert [m["body"] for m in a.seen] == [m["body"] for m in s.seen]
        mine = [m["body"] for m in a.seen if m["sender_kind"] == "customer"]
        theirs = [m["body"] for m in s.seen if m["sender_kind"] == "staff"]
        assert mine == [f"customer {n}" for n in range(5)]
        assert theirs == [f"staff {n}" for n in range(5)]
    finally:
        a.ws.close()
        s.ws.close()


def test_a_replica_killed_mid_conversation_loses_and_duplicates_nothing(
    platform, replicas, customer
):
    second, victim = replicas["second"], replicas["ids"]["chat-2"]
    survivor = replicas["ids"]["chat"]
    cid = _conversation(platform, customer)
    # the customer on the replica that will die, staff on the survivor
    a = open_socket(platform, customer, on=victim)
    s = open_socket(platform, replicas["admin"], on=survivor)
    for c in (a, s):
        c.send(type="subscribe", conversation_id=cid, after_seq=0)
        c.next("subscribed")
    a.send(type="send", conversation_id=cid, client_msg_id="before-1", body="one")
    assert a.next("ack")["seq"] == 1
    s.send(type="send", conversation_id=cid, client_msg_id="s-1", body="two")
    a.messages_until(3)  # 1 customer, 2 handoff notice, 3 staff
    last_seen = a.seqs[-1]
    # SIGKILL the customer's replica: no goodbye, no close frame
    second.proc.kill()
    second.proc.wait(10)
    # meanwhile staff goes on (on the survivor): persisted while the customer is away
    for n in range(3):
        s.send(type="send", conversation_id=cid, client_msg_id=f"s-away-{n}", body=f"away {n}")
        s.next("ack")
    with pytest.raises((ConnectionClosed, TimeoutError)):
        for _ in range(20):
            a.ws.recv(timeout=5)
    # reconnect through Traefik: lands on the survivor, resumes from the last seq it saw
    back = open_socket(platform, customer)
    assert back.replica == survivor
    back.seen = list(a.seen)
    back.send(type="subscribe", conversation_id=cid, after_seq=last_seen)
    back.next("subscribed")
    back.messages_until(last_seen + 3)
    # a send retried after the crash (its ack might have been lost): the same message
    back.send(type="send", conversation_id=cid, client_msg_id="before-1", body="one")
    ack = back.next("ack")
    assert (ack["seq"], ack["duplicate"]) == (1, True)
    back.send(type="send", conversation_id=cid, client_msg_id="after-1", body="back again")
    back.messages_until(last_seen + 4)
    s.messages_until(last_seen + 4)
    assert back.seqs == list(range(1, last_seen + 5)), back.seqs
    assert s.seqs == back.seqs
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        # Traefik's health check takes the dead server out within a few seconds; until then a
        # request may meet it (502) and is retried, as a client does
        deadline = time.monotonic() + 15
        while True:
            r = edge.get(
                f"{API}/conversations/{cid}/messages",
                headers={"Authorization": f"Bearer {customer}"},
            )
            if r.status_code != 502 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert r.status_code == 200, (r.status_code, r.text[:300])
        history = r.json()
    assert [m["seq"] for m in history] == back.seqs
    assert [m["id"] for m in history] == [m["id"] for m in back.seen]
    back.ws.close()
    s.ws.close()


def test_a_cross_site_handshake_is_refused(platform, replicas, customer):
    for origin in ("https://evil.example", "http://127.0.0.1.nip.io"):
        with pytest.raises(InvalidStatus) as refused:
            connect(
                ws_url(platform),
                additional_headers={"Authorization": f"Bearer {customer}", "Origin": origin},
                proxy=None,
                open_timeout=10,
                legacy=True,
            )
        assert refused.value.response.status_code == 403
    # the platform's own origin is fine
    ok = connect(
        ws_url(platform),
        additional_headers={
            "Authorization": f"Bearer {customer}",
            "Origin": platform.public_url.rstrip("/"),
        },
        proxy=None,
        open_timeout=10,
        legacy=True,
    )
    assert json.loads(ok.recv(timeout=10))["type"] == "hello"
    ok.close()


def test_another_customer_cannot_join_or_read(platform, replicas, customer, register_verified):
    cid = _conversation(platform, customer)
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        stranger = _token(edge, register_verified())
        headers = {"Authorization": f"Bearer {stranger}"}
        assert edge.get(f"{API}/conversations/{cid}", headers=headers).status_code == 404
        r = edge.get(f"{API}/conversations/{cid}/messages", headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert edge.get(f"{API}/staff/conversations", headers=headers).status_code == 403
    b = open_socket(platform, stranger)
    b.send(type="subscribe", conversation_id=cid, after_seq=0)
    assert b.next("error")["code"] == "not_found"
    b.send(type="send", conversation_id=cid, client_msg_id=str(uuid.uuid4()), body="hi")
    assert b.next("error")["status"] == 404
    b.ws.close()
