"""Monitors through Traefik and the gateway with real processes: a person adds a monitor of a
127.0.0.2 target (the one network the tests open) and sees it in their list; a private target
is refused before anything is saved; a heartbeat push URL works without signing in, an unknown
one is a 404; another person sees none of it."""

import httpx
from deploy_e2e import sign_in

API = "/api/monitoring/v1"


def test_a_monitor_added_through_the_edge_shows_in_the_list(edge: httpx.Client, register_verified):
    alice = sign_in(edge, register_verified())
    r = edge.post(
        f"{API}/monitors",
        json={"kind": "http", "name": "shop", "url": "http://127.0.0.2:8999/health"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    r = edge.get(f"{API}/monitors", headers=alice.headers)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [m["id"] for m in listed["items"]] == [made["id"]]
    assert listed["items"][0]["url"] == "http://127.0.0.2:8999/health"
    assert listed["counts"]["total"] == 1

    for url in ("http://169.254.169.254/latest/", "http://127.0.0.1:8080/", "http://10.0.0.1/"):
        r = edge.post(
            f"{API}/monitors",
            json={"kind": "http", "name": "x", "url": url},
            headers=alice.headers,
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "target_refused", url
    assert edge.get(f"{API}/monitors", headers=alice.headers).json()["total"] == 1

    bob = sign_in(edge, register_verified())
    assert edge.get(f"{API}/monitors/{made['id']}", headers=bob.headers).status_code == 404
    assert edge.get(f"{API}/monitors", headers=bob.headers).json()["total"] == 0


def test_a_heartbeat_push_url_is_public_and_a_wrong_one_is_not_found(
    edge: httpx.Client, register_verified
):
    alice = sign_in(edge, register_verified())
    r = edge.post(
        f"{API}/monitors", json={"kind": "heartbeat", "name": "backup"}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    monitor = r.json()
    path = httpx.URL(monitor["push_url"]).path
    assert path.startswith(f"{API}/heartbeat/")
    # no token, no cookie: the secret in the path is the key
    with httpx.Client(base_url=str(edge.base_url), timeout=20) as anonymous:
        assert anonymous.post(path).status_code == 200
        assert anonymous.get(path).status_code == 200
        r = anonymous.post(f"{API}/heartbeat/{'x' * 43}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        # the rest of the API still needs a sign-in
        assert anonymous.get(f"{API}/monitors").status_code == 401
    r = edge.get(f"{API}/monitors/{monitor['id']}", headers=alice.headers)
    assert r.json()["last_beat_at"] is not None
