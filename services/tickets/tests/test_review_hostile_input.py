"""Hostile input found in review: every one a clean 4xx, never a 500."""

import asyncio
import uuid

from fixtures_tickets import API, make_department, open_ticket

WEEK = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}


async def test_renaming_a_calendar_to_a_taken_name_is_a_conflict(tickets_http, admin) -> None:
    names = [f"cal-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    ids = []
    for name in names:
        r = await tickets_http.post(
            f"{API}/admin/calendars",
            json={"name": name, "timezone": "UTC", "weekly_hours": WEEK},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await tickets_http.patch(
        f"{API}/admin/calendars/{ids[1]}", json={"name": names[0]}, headers=admin.headers
    )
    assert r.status_code == 409, r.text


async def test_concurrent_creates_of_one_department_give_one_201_and_409s(
    tickets_http, admin
) -> None:
    slug = f"race-{uuid.uuid4().hex[:8]}"
    answers = await asyncio.gather(
        *(
            tickets_http.post(
                f"{API}/admin/departments",
                json={"slug": slug, "name": "Race"},
                headers=admin.headers,
            )
            for _ in range(6)
        )
    )
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 1 and set(codes) == {201, 409}, [r.text for r in answers]


async def test_a_nul_byte_anywhere_is_a_422(tickets_http, person, staff, admin) -> None:
    department = await make_department(tickets_http, admin)
    customer = person()
    await open_ticket(tickets_http, customer, department)
    for who, path, params in (
        (customer, f"{API}/tickets", {"q": "a\x00b"}),
        (staff, f"{API}/staff/tickets", {"q": "a\x00b"}),
    ):
        r = await tickets_http.get(path, params=params, headers=who.headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
    r = await tickets_http.post(
        f"{API}/admin/departments",
        json={"slug": f"d-{uuid.uuid4().hex[:6]}", "name": "x", "description": "a\x00b"},
        headers=admin.headers,
    )
    assert r.status_code == 422, r.text


def _with_nul(raw: bytes) -> bytes:
    """The same mail with a NUL byte in its Subject (an encoded word) and in its text
    (quoted-printable): legal MIME, text PostgreSQL cannot store."""
    head, _, _ = raw.partition(b"\n\n")
    lines = [
        line
        for line in head.split(b"\n")
        if not line.lower().startswith((b"subject:", b"content-type:", b"content-transfer"))
    ]
    lines += [
        b"Subject: =?utf-8?q?Re=3A_hello=00world?=",
        b'Content-Type: text/plain; charset="utf-8"',
        b"Content-Transfer-Encoding: quoted-printable",
    ]
    return b"\n".join(lines) + b"\n\nIt works=00 now, thanks.\n"


async def test_a_mail_with_nul_bytes_gets_an_outcome_and_never_fails_its_task(
    tickets_db, tickets_settings, person, directory
) -> None:
    from fixtures_mail import address, deliver, make_ticket, messages_of, reply_mail

    known, email_of = directory
    owner = person()
    known[owner.id] = address(owner)
    ticket = await make_ticket(tickets_db, owner)
    to, raw = reply_mail(tickets_settings, ticket, address(owner))
    row = await deliver(tickets_db, tickets_settings, email_of, _with_nul(raw), [to])
    assert row.outcome == "accepted", row.detail
    assert "\x00" not in row.subject and row.subject.startswith("Re: hello")
    [_, reply] = await messages_of(tickets_db, ticket.id)
    assert reply.body == "It works now, thanks."

    # a stranger's mail to a made-up address: recorded as refused, not a failing task
    stranger = person()
    _, raw = reply_mail(tickets_settings, ticket, address(stranger))
    to = f"reply+t1-v1-e1-{'a' * 24}@{tickets_settings.reply_domain}"
    row = await deliver(tickets_db, tickets_settings, email_of, _with_nul(raw), [to])
    assert row.outcome == "rejected_token"


async def test_names_longer_than_their_columns_are_a_422(tickets_http, admin) -> None:
    week = {"1": [["09:00", "17:00"]]}
    for path, body in (
        ("calendars", {"name": "c" * 81, "timezone": "UTC", "weekly_hours": week}),
        ("departments", {"slug": f"d-{uuid.uuid4().hex[:6]}", "name": "d" * 81}),
        ("canned-replies", {"title": "t" * 121, "body": "Hello"}),
    ):
        r = await tickets_http.post(f"{API}/admin/{path}", json=body, headers=admin.headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
