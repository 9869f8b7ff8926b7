"""The monitor API beyond one monitor: a person reaches only their own monitors and channels,
quotas hold under concurrency, heartbeat push URLs, stats and the admin list, pagination, and
secrets (push tokens, header values) that never come back out."""

import asyncio
import uuid

import pytest
from fixtures_monitors import API, sql
from monitor_api import create, error_of, http_monitor


async def test_b_cannot_see_or_touch_as_monitors(monitoring_http, person):
    a, b = person(), person()
    made = await create(monitoring_http, a, http_monitor())
    url = f"{API}/monitors/{made['id']}"
    for method, path, body in [
        ("GET", url, None),
        ("PATCH", url, {"name": "mine"}),
        ("DELETE", url, None),
        ("POST", f"{url}/pause", None),
        ("POST", f"{url}/resume", None),
        ("GET", f"{url}/channels", None),
        ("PUT", f"{url}/channels", {"channel_ids": []}),
        ("GET", f"{url}/stats", None),
        ("POST", f"{url}/heartbeat-token", None),
    ]:
        r = await monitoring_http.request(method, path, json=body, headers=b.headers)
        assert error_of(r, 404)["code"] == "not_found", (method, path)
    r = await monitoring_http.get(f"{API}/monitors", headers=b.headers)
    assert r.json()["total"] == 0 and r.json()["counts"] == {"total": 0, "paused": 0}
    r = await monitoring_http.get(url, headers=a.headers)
    assert r.status_code == 200 and r.json()["name"] == "site"


async def test_quota_per_user(monitoring_http, monitoring_settings, person, monkeypatch):
    a = person()
    monkeypatch.setattr(monitoring_settings, "monitors_per_user", 2)
    await create(monitoring_http, a, http_monitor())
    await create(monitoring_http, a, {"kind": "heartbeat", "name": "cron"})
    r = await monitoring_http.post(f"{API}/monitors", json=http_monitor(), headers=a.headers)
    error = error_of(r, 409)
    assert error["code"] == "quota_exceeded" and error["details"] == {"limit": 2}
    # another person has their own quota
    await create(monitoring_http, person(), http_monitor())


async def test_the_quota_holds_under_concurrent_creations(
    monitoring_http, monitoring_settings, person, monkeypatch
):
    a = person()
    monkeypatch.setattr(monitoring_settings, "monitors_per_user", 3)
    answers = await asyncio.gather(
        *(
            monitoring_http.post(f"{API}/monitors", json=http_monitor(), headers=a.headers)
            for _ in range(8)
        )
    )
    assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 5


async def test_channel_links_only_to_own_channels(monitoring_http, monitoring_db, person):
    a, b = person(), person()
    made = await create(monitoring_http, a, http_monitor())
    channels = {}
    for who in (a, b):
        (row,) = await sql(
            monitoring_db,
            "INSERT INTO monitoring.alert_channels (owner_id, kind, name, target) "
            "VALUES (:o, 'email', 'mail', 'ops@example.test') RETURNING id",
            o=who.id,
        )
        channels[who.id] = str(row[0])
    url = f"{API}/monitors/{made['id']}/channels"
    r = await monitoring_http.put(url, json={"channel_ids": [channels[b.id]]}, headers=a.headers)
    assert error_of(r, 422)["details"] == {"channel_ids": [channels[b.id]]}
    r = await monitoring_http.put(url, json={"channel_ids": [channels[a.id]]}, headers=a.headers)
    assert r.status_code == 200 and r.json() == {"channel_ids": [channels[a.id]]}
    r = await monitoring_http.get(url, headers=a.headers)
    assert r.json() == {"channel_ids": [channels[a.id]]}
    r = await monitoring_http.put(url, json={"channel_ids": []}, headers=a.headers)
    assert r.json() == {"channel_ids": []}


async def test_heartbeat_push_url(monitoring_http, monitoring_db, person):
    a = person()
    made = await create(monitoring_http, a, {"kind": "heartbeat", "name": "nightly backup"})
    push = made["push_url"]
    assert push and "/api/monitoring/v1/heartbeat/" in push
    token = push.rsplit("/", 1)[1]
    # only the hash is stored
    rows = await sql(
        monitoring_db,
        "SELECT count(*) FROM monitoring.monitors WHERE heartbeat_token_hash = :t",
        t=token,
    )
    assert rows[0][0] == 0
    r = await monitoring_http.get(f"{API}/monitors/{made['id']}", headers=a.headers)
    assert "push_url" not in r.json() and r.json()["last_beat_at"] is None
    assert token not in r.text

    for method in ("POST", "GET"):
        r = await monitoring_http.request(method, f"{API}/heartbeat/{token}")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
    r = await monitoring_http.get(f"{API}/monitors/{made['id']}", headers=a.headers)
    assert r.json()["last_beat_at"] is not None

    for bad in ("x" * 43, "short", "a" * 300, "../../etc"):
        r = await monitoring_http.post(f"{API}/heartbeat/{bad}")
        assert error_of(r, 404)["code"] == "not_found"

    r = await monitoring_http.post(
        f"{API}/monitors/{made['id']}/heartbeat-token", headers=a.headers
    )
    fresh = r.json()["push_url"].rsplit("/", 1)[1]
    assert fresh != token
    assert (await monitoring_http.post(f"{API}/heartbeat/{token}")).status_code == 404
    assert (await monitoring_http.post(f"{API}/heartbeat/{fresh}")).status_code == 200


async def test_stats_and_admin_list(monitoring_http, monitoring_db, person, admin):
    a = person()
    made = await create(monitoring_http, a, http_monitor())
    await sql(
        monitoring_db,
        "INSERT INTO monitoring.rollup_hours (monitor_id, bucket, checks, up_checks, "
        "latency_sum_ms, latency_max_ms) VALUES "
        "(:m, date_trunc('hour', now()) - interval '1 hour', 60, 57, 6000, 400),"
        "(:m, date_trunc('hour', now()), 20, 20, 1000, 90)",
        m=made["id"],
    )
    r = await monitoring_http.get(f"{API}/monitors/{made['id']}/stats", headers=a.headers)
    stats = r.json()
    assert r.status_code == 200, r.text
    assert stats["uptime"]["24h"] == pytest.approx(77 / 80)
    assert [p["avg_ms"] for p in stats["latency"]] == [100.0, 50.0]
    assert stats["latency"][0]["max_ms"] == 400 and stats["failures"] == []
    r = await monitoring_http.get(
        f"{API}/monitors/{made['id']}/stats", params={"range": "1y"}, headers=a.headers
    )
    error_of(r, 422)

    r = await monitoring_http.get(
        f"{API}/admin/monitors", params={"owner_id": str(a.id)}, headers=admin.headers
    )
    assert r.status_code == 200 and [m["owner_id"] for m in r.json()["items"]] == [str(a.id)]
    r = await monitoring_http.get(f"{API}/admin/monitors", headers=a.headers)
    error_of(r, 403)


async def test_pagination_and_aggregates_over_many(monitoring_http, monitoring_db, person):
    a = person()
    await sql(
        monitoring_db,
        "INSERT INTO monitoring.monitors (owner_id, name, kind, url, interval_seconds, "
        "timeout_seconds, failure_threshold, success_threshold, next_check_at, state) "
        "SELECT :o, 'm' || g, 'http', 'http://127.0.0.2/', 60, 5, 3, 2, now(), "
        "CASE WHEN g % 10 = 0 THEN 'down' ELSE 'up' END FROM generate_series(1, 2000) g",
        o=a.id,
    )
    r = await monitoring_http.get(
        f"{API}/monitors", params={"size": 50, "page": 3, "sort": "name"}, headers=a.headers
    )
    page = r.json()
    assert r.status_code == 200 and page["total"] == 2000 and page["pages"] == 40
    assert len(page["items"]) == 50
    assert page["counts"] == {"total": 2000, "paused": 0, "up": 1800, "down": 200}
    r = await monitoring_http.get(
        f"{API}/monitors", params={"state": "down", "q": "m10"}, headers=a.headers
    )
    assert {m["name"] for m in r.json()["items"]} == {"m10", "m100", "m1000"} | {
        f"m10{d}0" for d in range(10)
    }


async def test_unknown_monitor_is_404(monitoring_http, person):
    r = await monitoring_http.get(f"{API}/monitors/{uuid.uuid4()}", headers=person().headers)
    error_of(r, 404)


async def test_the_push_token_never_reaches_the_log(monitoring_http, person, capsys):
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(
        lambda message: lines.append(str(message)),
        level="DEBUG",
        # the test's own HTTP client logs its requests; what matters is what the service logs
        filter=lambda record: not record["message"].startswith("HTTP Request:"),
    )
    try:
        made = await create(monitoring_http, person(), {"kind": "heartbeat", "name": "cron"})
        token = made["push_url"].rsplit("/", 1)[1]
        assert (await monitoring_http.post(f"{API}/heartbeat/{token}")).status_code == 200
    finally:
        logger.remove(sink)
    # the access line is written straight to stdout when logs are JSON (berth_common.logging)
    # (the test's own HTTP client's lines left out, as above)
    written = capsys.readouterr().out.splitlines()
    lines += [line for line in written if '"logger": "httpx._client"' not in line]
    logged = "\\n".join(lines)
    assert "/api/monitoring/v1/heartbeat/{token}" in logged  # the request is logged, by route
    assert token not in logged


async def test_header_values_are_write_only(monitoring_http, monitoring_db, person):
    a = person()
    made = await create(
        monitoring_http, a, http_monitor(http={"headers": {"Authorization": "Bearer s3cret"}})
    )
    assert made["http"]["headers"] == {"Authorization": "(hidden)"}
    r = await monitoring_http.get(f"{API}/monitors", headers=a.headers)
    assert "s3cret" not in r.text
    (row,) = await sql(
        monitoring_db, "SELECT http FROM monitoring.monitors WHERE id = :i", i=made["id"]
    )
    assert row[0]["headers"] == {"Authorization": "Bearer s3cret"}  # the check sends it
