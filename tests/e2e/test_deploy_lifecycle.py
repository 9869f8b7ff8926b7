"""A person deploys a Python app from a git repository and runs it through its life: it
answers at <slug>.apps.localhost through Traefik, shows its build and run logs (secrets
scrubbed), stops, starts, restarts and is deleted; nobody else can see or touch it; bad
inputs get clear 4xx answers. Real processes: Traefik, gateway, auth, deploy web and worker,
the deploy node supervisor, sandboxed apps."""

import uuid

import pytest
from deploy_e2e import (
    API,
    create_app,
    deployed,
    get_app,
    logs,
    request,
    via_traefik,
    wait_operation,
)
from deploy_testkit import make_repo, wait_for, web_app_files

SECRET = "sesame-9f8e7d6c"


pytestmark = pytest.mark.usefixtures("deploy_node")


@pytest.fixture(scope="module")
def alice(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def bob(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("repo") / "site", web_app_files("v1"))


def test_deploy_reaches_the_app_through_traefik_with_logs(edge, platform, alice, repo):
    app = deployed(
        edge,
        platform,
        alice,
        f"file://{repo}",
        env=[{"name": "GREETING", "value": SECRET, "secret": True}],
    )
    assert app["status"] == "running"
    assert app["url"] == f"http://{app['slug']}.apps.localhost:{platform.ports['traefik']}"
    assert app["current_release"]["number"] == 1
    assert len(app["current_release"]["commit_sha"]) == 40

    answer = via_traefik(platform, app["slug"])
    assert answer.status_code == 200
    assert answer.text == f"hello v1 {SECRET}"

    build = logs(edge, alice, app["id"], "build")
    assert any("cloning file://" in line for line in build)
    assert any("build finished" in line for line in build)
    assert via_traefik(platform, app["slug"], f"/say?m=the+key+is+{SECRET}").text == "said"
    run = wait_for(
        lambda: (
            (lines := logs(edge, alice, app["id"], "run"))
            and any("the key is" in line for line in lines)
            and lines
        ),
        30,
        "the app's line in the run log",
    )
    assert "app v1 listening on" in "\n".join(run)
    assert "the key is [secret]" in run
    assert SECRET not in "\n".join(run)

    env = edge.get(f"{API}/apps/{app['id']}/env", headers=alice.headers).json()
    assert env == [
        {"name": "GREETING", "value": None, "secret": True, "updated_at": env[0]["updated_at"]}
    ]


def test_stop_start_restart_and_delete(edge, platform, alice, repo):
    app = deployed(edge, platform, alice, f"file://{repo}")
    slug, app_id = app["slug"], app["id"]
    first_instance = app["instances"][0]["id"]

    stopped = wait_operation(edge, alice, app_id, request(edge, alice, app_id, "stop")["id"])
    assert stopped["status"] == "succeeded"
    assert get_app(edge, alice, app_id)["status"] == "stopped"
    assert not via_traefik(platform, slug).text.startswith("hello")

    again = edge.post(f"{API}/apps/{app_id}/stop", headers=alice.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"

    started = wait_operation(edge, alice, app_id, request(edge, alice, app_id, "start")["id"])
    assert started["status"] == "succeeded"
    assert via_traefik(platform, slug).text == "hello v1"

    restarted = wait_operation(edge, alice, app_id, request(edge, alice, app_id, "restart")["id"])
    assert restarted["status"] == "succeeded"
    detail = get_app(edge, alice, app_id)
    running = [i for i in detail["instances"] if i["status"] == "running"]
    assert len(running) == 1 and running[0]["id"] != first_instance
    assert via_traefik(platform, slug).text == "hello v1"

    r = edge.delete(f"{API}/apps/{app_id}", headers=alice.headers)
    assert r.status_code == 202
    assert r.json()["kind"] == "delete"
    # once deleted, the app is gone for its owner too
    wait_for(
        lambda: edge.get(f"{API}/apps/{app_id}", headers=alice.headers).status_code == 404,
        60,
        "the app to be deleted",
    )
    assert not via_traefik(platform, slug).text.startswith("hello")
    # the slug is free again
    create_app(edge, alice, f"file://{repo}", slug=slug)


def test_another_person_can_neither_see_nor_touch_the_app(edge, platform, alice, bob, repo):
    app = create_app(edge, alice, f"file://{repo}")
    base = f"{API}/apps/{app['id']}"
    other_op = f"{base}/operations/{uuid.uuid4()}"
    attempts = [
        edge.get(base, headers=bob.headers),
        edge.patch(base, json={"name": "mine now"}, headers=bob.headers),
        edge.delete(base, headers=bob.headers),
        edge.post(f"{base}/deployments", headers=bob.headers),
        edge.post(f"{base}/stop", headers=bob.headers),
        edge.post(f"{base}/start", headers=bob.headers),
        edge.get(f"{base}/logs", headers=bob.headers),
        edge.get(f"{base}/logs/stream", headers=bob.headers),
        edge.get(f"{base}/env", headers=bob.headers),
        edge.put(f"{base}/env/TOKEN", json={"value": "x"}, headers=bob.headers),
        edge.get(f"{base}/deployments", headers=bob.headers),
        edge.get(other_op, headers=bob.headers),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    listed = edge.get(f"{API}/apps", params={"size": 100}, headers=bob.headers).json()
    assert app["id"] not in {a["id"] for a in listed["items"]}
    assert edge.get(base).status_code == 401
    assert get_app(edge, alice, app["id"])["name"] == app["name"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "Upper-Case"),
        ("slug", "ab"),
        ("slug", "ends-with-"),
        ("slug", "double--hyphen"),
        ("slug", "admin"),
        ("slug", "x" * 41),
        ("repo_url", "ssh://git@example.com/owner/repo.git"),
        ("repo_url", "git@github.com:owner/repo.git"),
        ("repo_url", "ext::sh -c touch% /tmp/pwned"),
        ("repo_url", "--upload-pack=touch /tmp/pwned"),
        ("repo_url", "http://example.com/owner/repo.git"),
        ("repo_url", "https://user:token@example.com/owner/repo.git"),
        ("repo_url", "git://example.com/owner/repo.git"),
        ("branch", "--orphan"),
        ("branch", "a..b"),
        ("template", "no-such-template"),
        ("limits", {"memory_mb": 1}),
        ("limits", {"cpu_millis": 100_000}),
        ("limits", {"pids_max": 0}),
        ("env", [{"name": "1ABC", "value": "x"}]),
        ("env", [{"name": "PORT", "value": "1"}]),
        ("env", [{"name": "A-B", "value": "x"}]),
        ("env", [{"name": "OK", "value": "nul\x00byte"}]),
        ("unexpected", "field"),
    ],
)
def test_bad_inputs_are_refused_with_4xx(edge, alice, repo, field, value):
    body = {
        "slug": f"bad-{uuid.uuid4().hex[:6]}",
        "template": "python-web",
        "repo_url": f"file://{repo}",
        field: value,
    }
    r = edge.post(f"{API}/apps", json=body, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("validation_error", "repo_not_allowed")


def test_conflicts_and_illegal_transitions(edge, alice, repo):
    app = create_app(edge, alice, f"file://{repo}")
    taken = edge.post(
        f"{API}/apps",
        json={"slug": app["slug"], "template": "python-web", "repo_url": f"file://{repo}"},
        headers=alice.headers,
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "slug_taken"
    for action in ("start", "stop", "restart", "rollback"):
        r = edge.post(f"{API}/apps/{app['id']}/{action}", headers=alice.headers)
        assert r.status_code == 409, (action, r.text)
    bad_env = edge.put(
        f"{API}/apps/{app['id']}/env/PATH", json={"value": "/x"}, headers=alice.headers
    )
    assert bad_env.status_code == 422
    not_a_uuid = edge.get(f"{API}/apps/not-a-uuid", headers=alice.headers)
    assert not_a_uuid.status_code == 422
