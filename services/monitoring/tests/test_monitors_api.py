"""The monitor API: every bad input is a 4xx JSON error, targets are judged before anything is
saved (no packet to a refused address: refusal happens on resolution), and a person reaches
only their own monitors."""

import asyncio
import socket
import uuid

import pytest
from fixtures_monitors import API, sql

TARGET = "http://127.0.0.2:9/health"  # 127.0.0.2 is the network the tests open


def http_monitor(**extra):
    return {"kind": "http", "name": "site", "url": TARGET, "interval_seconds": 60, **extra}


async def create(http, who, body, status=201):
    r = await http.post(f"{API}/monitors", json=body, headers=who.headers)
    assert r.status_code == status, r.text
    return r.json()


def error_of(r, status=422):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    return body["error"]


async def test_create_list_get_update_delete(monitoring_http, person, monitoring_db):
    a = person()
    made = await create(
        monitoring_http,
        a,
        http_monitor(http={"expected_status": [[200, 204]], "keyword": "ok"}),
    )
    assert made["kind"] == "http" and made["state"] == "unknown" and not made["managed"]
    assert made["http"]["keyword"] == "ok" and made["push_url"] is None
    # scheduled within one interval from now (a random phase spreads equal intervals)
    (due,) = await sql(
        monitoring_db,
        "SELECT next_check_at - now() FROM monitoring.monitors WHERE id = :i",
        i=made["id"],
    )
    assert 0 <= due[0].total_seconds() <= 60

    r = await monitoring_http.get(f"{API}/monitors", headers=a.headers)
    page = r.json()
    assert r.status_code == 200 and page["total"] == 1
    assert page["items"][0]["id"] == made["id"]
    assert page["items"][0]["uptime"] == {"24h": None, "7d": None, "30d": None}
    assert page["counts"] == {"total": 1, "paused": 0, "unknown": 1}

    r = await monitoring_http.patch(
        f"{API}/monitors/{made['id']}",
        json={"name": "renamed", "failure_threshold": 5},
        headers=a.headers,
    )
    assert r.status_code == 200 and r.json()["name"] == "renamed", r.text
    assert r.json()["failure_threshold"] == 5

    r = await monitoring_http.post(f"{API}/monitors/{made['id']}/pause", headers=a.headers)
    assert r.json()["suppressed"] == "paused"
    r = await monitoring_http.get(f"{API}/monitors", params={"state": "paused"}, headers=a.headers)
    assert [m["id"] for m in r.json()["items"]] == [made["id"]]
    r = await monitoring_http.post(f"{API}/monitors/{made['id']}/resume", headers=a.headers)
    assert r.json()["suppressed"] is None

    r = await monitoring_http.delete(f"{API}/monitors/{made['id']}", headers=a.headers)
    assert r.status_code == 204
    r = await monitoring_http.get(f"{API}/monitors/{made['id']}", headers=a.headers)
    assert error_of(r, 404)["code"] == "not_found"


BAD_BODIES = [
    ({"kind": "http", "name": "x"}, "needs url"),
    ({"kind": "ftp", "name": "x", "url": TARGET}, None),
    (http_monitor(url="ftp://127.0.0.2/"), "http and https"),
    (http_monitor(url="file:///etc/passwd"), "http and https"),
    (http_monitor(url="http://user:pw@127.0.0.2/"), "user name"),
    (http_monitor(url="http://127.0.0.2:99999/"), "cannot be read"),
    (http_monitor(url="http:///nohost"), "no host"),
    (http_monitor(url="http://127.0.0.2:0/"), "between 1 and 65535"),
    (http_monitor(url="http://127.0.0.2/a b"), "spaces"),
    (http_monitor(interval_seconds=5), "at least"),
    (http_monitor(interval_seconds=60, timeout_seconds=60), "shorter than the interval"),
    (http_monitor(failure_threshold=0), None),
    (http_monitor(success_threshold=21), None),
    (http_monitor(http={"expected_status": [[99, 200]]}), "100-599"),
    (http_monitor(http={"expected_status": [[300, 200]]}), "100-599"),
    (http_monitor(http={"keyword": "k" * 501}), None),
    (http_monitor(http={"json_path": "$.a[b"}), "JSON path"),
    (http_monitor(http={"json_path": "no-dollar"}), "starts with"),
    (http_monitor(http={"json_expected": "1"}), "needs a json_path"),
    (http_monitor(http={"headers": {"Host": "evil"}}), "cannot be set"),
    (http_monitor(http={"method": "DELETE"}), None),
    (http_monitor(surprise=1), None),
    ({"kind": "tcp", "name": "x", "host": "127.0.0.2"}, "needs port"),
    ({"kind": "tcp", "name": "x", "host": "127.0.0.2", "port": 0}, None),
    ({"kind": "heartbeat", "name": "x", "url": TARGET}, "takes no url"),
    (http_monitor(name=""), None),
    (http_monitor(name="n" * 121), None),
]


@pytest.mark.parametrize(("body", "says"), BAD_BODIES)
async def test_bad_input_is_a_422_naming_the_problem(monitoring_http, person, body, says):
    a = person()
    r = await monitoring_http.post(f"{API}/monitors", json=body, headers=a.headers)
    error = error_of(r, 422)
    if says:
        assert says in (error["message"] + str(error["details"])), error


async def test_not_json_and_wrong_types_are_4xx(monitoring_http, person):
    a = person()
    r = await monitoring_http.post(
        f"{API}/monitors",
        content=b"{not json",
        headers={**a.headers, "Content-Type": "application/json"},
    )
    error_of(r, 422)
    r = await monitoring_http.post(f"{API}/monitors", json=[1, 2], headers=a.headers)
    error_of(r, 422)
    r = await monitoring_http.get(f"{API}/monitors/not-a-uuid", headers=a.headers)
    error_of(r, 422)
    r = await monitoring_http.get(f"{API}/monitors", params={"sort": "secret"}, headers=a.headers)
    error_of(r, 422)
    r = await monitoring_http.get(f"{API}/monitors")
    error_of(r, 401)


def _loopback_name() -> str:
    """A name of this machine that resolves (through /etc/hosts) to a loopback address."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if not addresses or not all(a.startswith("127.") or a == "::1" for a in addresses):
        pytest.skip(f"{name} does not resolve to loopback here ({addresses})")
    if addresses & {"127.0.0.2"}:
        pytest.skip("the host name resolves into the network tests open")
    return name


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:5432/",
        "http://app.localhost/",
        "http://[::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
    ],
)
async def test_private_and_platform_targets_are_refused_at_creation(
    monitoring_http, person, monitoring_db, url
):
    a = person()
    r = await monitoring_http.post(f"{API}/monitors", json=http_monitor(url=url), headers=a.headers)
    error = error_of(r, 422)
    assert error["code"] == "target_refused" and error["details"] == {"field": "url"}
    rows = await sql(
        monitoring_db, "SELECT count(*) FROM monitoring.monitors WHERE owner_id = :o", o=a.id
    )
    assert rows[0][0] == 0


async def test_a_name_resolving_to_loopback_is_refused(monitoring_http, person):
    a = person()
    name = _loopback_name()
    r = await monitoring_http.post(
        f"{API}/monitors", json=http_monitor(url=f"http://{name}/"), headers=a.headers
    )
    error = error_of(r, 422)
    assert error["code"] == "target_refused" and "not a public address" in error["message"]
    r = await monitoring_http.post(
        f"{API}/monitors",
        json={"kind": "tcp", "name": "db", "host": name, "port": 5432},
        headers=a.headers,
    )
    assert error_of(r, 422)["code"] == "target_refused"


async def test_tcp_monitor_target_is_judged_too(monitoring_http, person):
    a = person()
    for host in ("10.1.2.3", "169.254.169.254", "127.0.0.1", "localhost"):
        r = await monitoring_http.post(
            f"{API}/monitors",
            json={"kind": "tcp", "name": "db", "host": host, "port": 5432},
            headers=a.headers,
        )
        assert error_of(r, 422)["code"] == "target_refused", host
    made = await create(
        monitoring_http, a, {"kind": "tcp", "name": "db", "host": "127.0.0.2", "port": 5432}
    )
    assert made["host"] == "127.0.0.2" and made["port"] == 5432
    # an update is judged the same way
    r = await monitoring_http.patch(
        f"{API}/monitors/{made['id']}", json={"host": "10.0.0.1"}, headers=a.headers
    )
    assert error_of(r, 422)["code"] == "target_refused"


async def test_updates_are_validated(monitoring_http, person):
    a = person()
    made = await create(monitoring_http, a, http_monitor())
    url = f"{API}/monitors/{made['id']}"
    cases = [
        ({"url": "http://169.254.169.254/"}, "target_refused"),
        ({"interval_seconds": 1}, "validation_error"),
        ({"timeout_seconds": 59, "interval_seconds": 30}, "validation_error"),
        ({"host": "127.0.0.2"}, "validation_error"),
        ({"name": None}, "validation_error"),
        ({"nope": 1}, "validation_error"),
    ]
    for body, code in cases:
        r = await monitoring_http.patch(url, json=body, headers=a.headers)
        assert error_of(r, 422)["code"] == code, (body, r.text)


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


async def test_the_push_token_never_reaches_the_log(monitoring_http, person):
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
