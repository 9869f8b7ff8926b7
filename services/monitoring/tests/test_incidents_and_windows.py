"""Incidents (read: a page, one with its timeline) and maintenance windows (CRUD): each
person sees only their own; bad windows are refused; past windows are history."""

from datetime import UTC, datetime, timedelta

from fixtures_monitors import API, sql


async def _monitor(http, who) -> str:
    r = await http.post(
        f"{API}/monitors",
        json={"kind": "heartbeat", "name": "cron"},
        headers=who.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _incident(db, owner_id, monitor_id, status="open") -> str:
    (row,) = await sql(
        db,
        "INSERT INTO monitoring.incidents (owner_id, group_key, title, status, cause) "
        "VALUES (:o, :g, 'cron is down', :s, 'no heartbeat') RETURNING id",
        o=owner_id,
        g=f"monitor:{monitor_id}",
        s=status,
    )
    incident_id = row[0]
    await sql(
        db,
        "INSERT INTO monitoring.incident_monitors (incident_id, monitor_id) VALUES (:i, :m)",
        i=incident_id,
        m=monitor_id,
    )
    await sql(
        db,
        "INSERT INTO monitoring.incident_events (incident_id, kind, monitor_id, detail, at) VALUES "
        "(:i, 'opened', NULL, NULL, now() - interval '2 minutes'), "
        "(:i, 'monitor_down', :m, 'no heartbeat for 120 s', now() - interval '1 minute')",
        i=incident_id,
        m=monitor_id,
    )
    return str(incident_id)


async def test_incidents_list_and_timeline(monitoring_http, monitoring_db, person):
    a, b = person(), person()
    monitor = await _monitor(monitoring_http, a)
    open_id = await _incident(monitoring_db, a.id, monitor)
    r = await monitoring_http.get(f"{API}/incidents", params={"status": "open"}, headers=a.headers)
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [open_id]
    r = await monitoring_http.get(
        f"{API}/incidents", params={"status": "resolved"}, headers=a.headers
    )
    assert r.json()["total"] == 0
    r = await monitoring_http.get(
        f"{API}/incidents", params={"monitor_id": monitor}, headers=a.headers
    )
    assert r.json()["total"] == 1
    r = await monitoring_http.get(f"{API}/incidents/{open_id}", headers=a.headers)
    detail = r.json()
    assert detail["title"] == "cron is down"
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "monitor_down"]
    assert detail["monitors"][0]["name"] == "cron"
    # the monitor's recent failures are its failed checks' stored reasons (result_failures)
    await sql(
        monitoring_db,
        "INSERT INTO monitoring.result_failures (monitor_seq, at, error_kind, reason) "
        "SELECT seq, now() - interval '1 minute', 'no_heartbeat', 'no heartbeat for 120 s' "
        "FROM monitoring.monitors WHERE id = :m",
        m=monitor,
    )
    r = await monitoring_http.get(f"{API}/monitors/{monitor}/stats", headers=a.headers)
    failures = r.json()["failures"]
    assert [(f["error_kind"], f["reason"]) for f in failures] == [
        ("no_heartbeat", "no heartbeat for 120 s")
    ]
    # B sees none of it
    r = await monitoring_http.get(f"{API}/incidents/{open_id}", headers=b.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await monitoring_http.get(f"{API}/incidents", headers=b.headers)
    assert r.json()["total"] == 0
    r = await monitoring_http.get(f"{API}/incidents", params={"status": "x"}, headers=a.headers)
    assert r.status_code == 422


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_windows_crud_and_rules(monitoring_http, monitoring_db, person):
    a, b = person(), person()
    monitor = await _monitor(monitoring_http, a)
    other = await _monitor(monitoring_http, b)
    url = f"{API}/maintenance-windows"
    body = {
        "name": "db upgrade",
        "starts_at": _iso(timedelta(hours=1)),
        "ends_at": _iso(timedelta(hours=2)),
        "monitor_ids": [monitor],
    }
    r = await monitoring_http.post(url, json=body, headers=a.headers)
    assert r.status_code == 201, r.text
    window = r.json()
    assert window["monitor_ids"] == [monitor]

    bad = [
        {**body, "ends_at": body["starts_at"]},
        {**body, "starts_at": _iso(timedelta(days=-3)), "ends_at": _iso(timedelta(days=-2))},
        {**body, "ends_at": _iso(timedelta(days=40))},
        {**body, "monitor_ids": [other]},  # B's monitor
        {**body, "monitor_ids": []},
        {**body, "starts_at": "2026-12-01T10:00:00"},  # no time zone
        {**body, "starts_at": "tomorrow"},
        {**body, "extra": 1},
        {k: v for k, v in body.items() if k != "name"},
    ]
    for payload in bad:
        r = await monitoring_http.post(url, json=payload, headers=a.headers)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["error"]["code"] == "validation_error"

    r = await monitoring_http.patch(
        f"{url}/{window['id']}", json={"monitor_ids": None, "name": "all"}, headers=a.headers
    )
    assert r.status_code == 200 and r.json()["monitor_ids"] is None and r.json()["name"] == "all"
    r = await monitoring_http.patch(
        f"{url}/{window['id']}", json={"ends_at": body["starts_at"]}, headers=a.headers
    )
    assert r.status_code == 422
    r = await monitoring_http.get(url, params={"when": "upcoming"}, headers=a.headers)
    assert [w["id"] for w in r.json()["items"]] == [window["id"]]

    # B cannot see, change or delete A's window
    for method, json in (("GET", None), ("PATCH", {"name": "mine"}), ("DELETE", None)):
        r = await monitoring_http.request(
            method, f"{url}/{window['id']}", json=json, headers=b.headers
        )
        assert r.status_code == 404, method
    r = await monitoring_http.get(url, headers=b.headers)
    assert r.json()["total"] == 0

    # a window that has ended is history: read-only
    await sql(
        monitoring_db,
        "UPDATE monitoring.maintenance_windows SET starts_at = now() - interval '2 hours', "
        "ends_at = now() - interval '1 hour' WHERE id = :i",
        i=window["id"],
    )
    r = await monitoring_http.patch(f"{url}/{window['id']}", json={"name": "x"}, headers=a.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = await monitoring_http.delete(f"{url}/{window['id']}", headers=a.headers)
    assert r.status_code == 409
    r = await monitoring_http.get(url, params={"when": "past"}, headers=a.headers)
    assert [w["id"] for w in r.json()["items"]] == [window["id"]]

    r = await monitoring_http.post(url, json={**body, "monitor_ids": None}, headers=a.headers)
    r = await monitoring_http.delete(f"{url}/{r.json()['id']}", headers=a.headers)
    assert r.status_code == 204
