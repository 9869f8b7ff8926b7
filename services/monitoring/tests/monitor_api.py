"""What the monitor API tests do: make a monitor, read an error body."""

from fixtures_monitors import API

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
