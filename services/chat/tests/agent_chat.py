"""What the agent conversation tests do as a customer, through chat's API in process."""

import uuid

from fixtures_agents import AGENTS_API, sql


async def open_chat(http, owner, app) -> dict:
    r = await http.post(
        f"{AGENTS_API}/agent-conversations", json={"app_id": app["id"]}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


async def say(http, owner, conversation, body, client_msg_id=None) -> dict:
    """The customer's message, as any conversation's (chat-core's send); its ack."""
    r = await http.post(
        f"{AGENTS_API}/conversations/{conversation['id']}/messages",
        json={"body": body, "client_msg_id": client_msg_id or uuid.uuid4().hex},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    return r.json()


async def messages(http, owner, conversation) -> list[dict]:
    r = await http.get(
        f"{AGENTS_API}/agent-conversations/{conversation['id']}/messages", headers=owner.headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def request_of(db, conversation, seq) -> dict:
    [row] = await sql(
        db,
        "SELECT * FROM chat.agent_requests WHERE conversation_id = :c AND request_seq = :s",
        c=conversation["id"],
        s=seq,
    )
    return row
