"""The monitor API: every bad input is a 4xx JSON error, targets are judged before anything is
saved (no packet to a refused address: refusal happens on resolution), and a person reaches
only their own monitors."""

import socket

import pytest
from fixtures_monitors import API, sql
from monitor_api import TARGET, create, error_of, http_monitor


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
