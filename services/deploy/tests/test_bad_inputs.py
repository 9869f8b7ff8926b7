"""Whatever a client sends, the answer is a 4xx with the common error shape, never a 500."""

import uuid

import pytest
from fixtures_deploy import API, new_app


@pytest.fixture(scope="module")
async def owned(deploy_http, person):
    ada = person()
    return ada, await new_app(deploy_http, ada, None, template="n8n")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/apps", [], 422),
        ("POST", "/apps", "not json", 422),
        ("POST", "/apps", {"slug": "x" * 500, "template": "python-web"}, 422),
        ("POST", "/apps", {"slug": "valid-slug", "template": "t" * 500}, 422),
        ("GET", "/apps?page=0", None, 422),
        ("GET", "/apps?size=1000", None, 422),
        ("GET", "/apps?q=%00", None, 422),
        ("GET", "/templates/" + "k" * 300, None, 404),
        ("PATCH", "/apps/{app}", {"limits": {"memory_mb": "lots"}}, 422),
        ("PATCH", "/apps/{app}", {"run_command": "x\u0007y"}, 422),
        ("PATCH", "/apps/{app}", {"build_command": "y" * 5000}, 422),
        ("POST", "/apps/{app}/deployments", {"commit": "abc"}, 422),
        ("POST", "/apps/{app}/rollback", {"release_id": "nope"}, 422),
        ("POST", "/apps/{app}/rollback", {"release_id": "{uuid}"}, 409),
        ("GET", "/apps/{app}/logs?limit_bytes=1", None, 422),
        ("GET", "/apps/{app}/logs?offset=-1", None, 422),
        ("GET", "/apps/{app}/logs?kind=secrets", None, 422),
        ("GET", "/apps/{app}/logs/stream?kind=secrets", None, 422),
        ("GET", "/apps/{app}/logs", None, 404),
        ("GET", "/apps/{app}/logs?release_id={uuid}", None, 404),
        ("PUT", "/apps/{app}/env/" + "A" * 129, {"value": "x"}, 422),
        ("PUT", "/apps/{app}/env/GOOD", {"value": 5}, 422),
        ("PUT", "/apps/{app}/env/GOOD", {"value": "x", "extra": 1}, 422),
        ("PATCH", "/apps/{app}/env", {"vars": []}, 422),
        ("GET", "/apps/{app}/operations/{uuid}", None, 404),
        ("POST", "/apps/{app}/operations/{uuid}/cancel", None, 404),
        ("GET", "/apps/{app}/deployments?sort=-nope", None, 422),
    ],
)
async def test_bad_requests_get_4xx(deploy_http, owned, method, path, body, status):
    ada, app = owned
    url = API + path.replace("{app}", app["id"]).replace("{uuid}", str(uuid.uuid4()))
    kwargs = {}
    if isinstance(body, str):
        kwargs["content"] = body
        kwargs["headers"] = {**ada.headers, "Content-Type": "application/json"}
    else:
        if body is not None:
            body = (
                {k: (str(uuid.uuid4()) if v == "{uuid}" else v) for k, v in body.items()}
                if isinstance(body, dict)
                else body
            )
            kwargs["json"] = body
        kwargs["headers"] = ada.headers
    r = await deploy_http.request(method, url, **kwargs)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"code", "message", "details"}


async def test_admin_template_input_is_checked(deploy_http, person):
    admin = person(["admin"])
    base = {
        "name": "T",
        "process_type": "web",
        "run_command": "python app.py",
        "health": {"type": "http", "path": "/"},
        "rollout": "zero_downtime",
        "default_memory_mb": 128,
        "default_cpu_millis": 250,
        "default_pids_max": 32,
        "plan_key": "web-small",
    }
    for bad in (
        {"key": "Bad Key"},
        {"key": "ok-key", "build_steps": [{"run": "x", "if_exists": "../etc/passwd"}]},
        {"key": "ok-key", "health": {"type": "http", "path": "no-slash"}},
        {"key": "ok-key", "rollout": "yolo"},
        {"key": "ok-key", "process_type": "daemon"},
        {"key": "ok-key", "health": {"type": "tcp"}},
        {"key": "ok-key", "process_type": "worker"},  # a worker has no port to ask over http
        {"key": "ok-key", "env": {"PORT": "1"}},
        {"key": "ok-key", "default_memory_mb": 1},
    ):
        r = await deploy_http.post(
            f"{API}/admin/templates", json={**base, **bad}, headers=admin.headers
        )
        assert r.status_code == 422, (bad, r.text)
    r = await deploy_http.put(f"{API}/admin/templates/missing", json=base, headers=admin.headers)
    assert r.status_code == 404
    r = await deploy_http.post(
        f"{API}/admin/templates", json={**base, "key": "python-web"}, headers=admin.headers
    )
    assert r.status_code == 409


async def test_a_retired_template_is_listed_for_staff_only(deploy_http, person):
    admin, ada = person(["admin"]), person()
    key = f"retired-{uuid.uuid4().hex[:6]}"
    body = {
        "key": key,
        "name": "Old",
        "process_type": "web",
        "run_command": "python app.py",
        "health": {"type": "http", "path": "/"},
        "rollout": "zero_downtime",
        "default_memory_mb": 128,
        "default_cpu_millis": 250,
        "default_pids_max": 32,
        "plan_key": "web-small",
        "is_active": False,
    }
    r = await deploy_http.post(f"{API}/admin/templates", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["process_type"], created["rollout"]) == ("web", "zero_downtime")
    assert created["health"]["type"] == "http"
    staff = await deploy_http.get(f"{API}/admin/templates", headers=admin.headers)
    assert key in [t["key"] for t in staff.json()]
    public = await deploy_http.get(f"{API}/templates", headers=ada.headers)
    assert key not in [t["key"] for t in public.json()] and public.json()
    one = await deploy_http.get(f"{API}/templates/{key}", headers=ada.headers)
    assert one.status_code == 404
