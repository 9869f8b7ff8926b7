"""Attachments through Traefik and the gateway, as API clients send them: the owner and the
department's support staff upload and download, another customer is refused, an oversize file
is a 413 in the platform's JSON shape, and a file of an internal note stays staff's."""

import uuid

import httpx
import pytest
from support import PASSWORD

from berth_testing.oauth import bearer, password_login

API = "/api/tickets/v1"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + b"\0" * 64


def token_of(edge: httpx.Client, email: str) -> dict[str, str]:
    r = password_login(edge, email, PASSWORD)
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


@pytest.fixture(scope="module")
def people(platform, register_verified, admin_token) -> dict:
    admin = bearer(admin_token)
    with httpx.Client(base_url=platform.public_url, timeout=30) as edge:
        r = edge.post(
            f"{API}/admin/departments",
            json={"slug": f"files-{uuid.uuid4().hex[:6]}", "name": "Files"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        department = r.json()
        customer, agent, other = register_verified(), register_verified(), register_verified()
        agent_id = edge.get("/api/auth/v1/me", headers=token_of(edge, agent)).json()["id"]
        r = edge.put(
            f"/api/auth/v1/admin/users/{agent_id}/roles",
            json={"roles": ["user", "support"]},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        r = edge.put(
            f"{API}/admin/departments/{department['id']}/agents/{agent_id}",
            json={"is_active": True},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        return {
            "department": department,
            "customer": token_of(edge, customer),
            "agent": token_of(edge, agent),
            "other": token_of(edge, other),
        }


def test_files_through_the_edge(edge: httpx.Client, people) -> None:
    customer, agent, other = people["customer"], people["agent"], people["other"]
    r = edge.post(
        f"{API}/tickets",
        json={"department": people["department"]["slug"], "subject": "Logs", "body": "see file"},
        headers=customer,
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    tid, first = ticket["id"], ticket["messages"][0]["id"]
    upload = f"{API}/tickets/{tid}/messages/{first}/attachments"

    r = edge.post(upload, files={"file": ("shot.png", PNG, "image/png")}, headers=customer)
    assert r.status_code == 201, r.text
    file_id = r.json()["id"]
    r = edge.post(upload, files={"file": ("x.png", PNG, "image/png")}, headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"

    big = b"a" * (8 * 1024 * 1024 + 1)
    r = edge.post(upload, files={"file": ("big.log", big, "text/plain")}, headers=customer)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "attachment_too_large"

    for who in (customer, agent):
        r = edge.get(f"{API}/attachments/{file_id}", headers=who)
        assert r.status_code == 200 and r.content == PNG
        assert r.headers["content-type"] == "image/png"
        assert r.headers["content-disposition"] == (
            "attachment; filename=\"shot.png\"; filename*=UTF-8''shot.png"
        )
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    r = edge.get(f"{API}/attachments/{file_id}", headers=other)
    assert r.status_code == 403 and PNG not in r.content

    r = edge.post(f"{API}/staff/tickets/{tid}/notes", json={"body": "see dump"}, headers=agent)
    assert r.status_code == 201, r.text
    r = edge.post(
        f"{API}/staff/tickets/{tid}/notes/{r.json()['id']}/attachments",
        files={"file": ("dump.txt", b"internal dump\n", "text/plain")},
        headers=agent,
    )
    assert r.status_code == 201, r.text
    note_file = r.json()["id"]
    assert edge.get(f"{API}/attachments/{note_file}", headers=customer).status_code == 404
    listed = edge.get(f"{API}/tickets/{tid}/attachments", headers=customer).json()
    assert [f["id"] for f in listed] == [file_id]
    r = edge.get(f"{API}/staff/tickets/{tid}/attachments", headers=customer)
    assert r.status_code == 403  # at the gateway: staff routes need support or admin
