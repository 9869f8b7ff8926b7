"""A person previews a branch of their app (issue 16): through the previews API the branch
gets its own app at `<slug>--<branch>.apps.localhost`, answering through Traefik with that
branch's content and the app's variables, next to the app itself; deleting it takes its route
and the app away; deleting the app takes its previews along; nobody else sees or touches
them. Real processes: Traefik, gateway, auth, deploy web and worker, the node supervisor,
sandboxed apps built from a local repository.

The webhook-driven variant (a forge's push of a branch through autodeploy.router) is
test_deploy_webhook_previews.py; this drives the same previews service through its API."""

import pytest
from deploy_e2e import API, deployed, get_app, logs, via_traefik, wait_operation
from deploy_testkit import commit, git, make_repo, wait_for, web_app_files

pytestmark = pytest.mark.usefixtures("deploy_node")

BRANCH = "feature/Blue_Sky"


@pytest.fixture(scope="module")
def alice(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def bob(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("previews") / "site", web_app_files("v1"))
    git(repo, "checkout", "-q", "-b", BRANCH)
    commit(repo, web_app_files("v2-blue"), "the branch's change")
    git(repo, "checkout", "-q", "-b", "other")
    commit(repo, web_app_files("v3-other"), "another branch")
    git(repo, "checkout", "-q", "main")
    return repo


def preview_of(edge, person, app_id: str, branch: str) -> dict:
    r = edge.post(f"{API}/apps/{app_id}/previews", json={"branch": branch}, headers=person.headers)
    assert r.status_code == 202, r.text
    body = r.json()
    done = wait_operation(edge, person, body["preview"]["id"], body["operation"]["id"])
    assert done["status"] == "succeeded", (done, logs(edge, person, body["preview"]["id"]))
    return get_app(edge, person, body["preview"]["id"])


def gone(edge, person, app_id: str) -> None:
    wait_for(
        lambda: edge.get(f"{API}/apps/{app_id}", headers=person.headers).status_code == 404,
        60,
        f"app {app_id} to be deleted",
    )


def test_a_branch_preview_answers_at_its_own_address_and_goes_when_deleted(
    edge, platform, alice, bob, repo
):
    env = [{"name": "GREETING", "value": "from-parent"}]
    app = deployed(edge, platform, alice, f"file://{repo}", env=env)
    assert via_traefik(platform, app["slug"]).text == "hello v1 from-parent"

    preview = preview_of(edge, alice, app["id"], BRANCH)
    slug = preview["slug"]
    assert slug.startswith(f"{app['slug']}--feature-blue-sky--") and len(slug) <= 63
    assert (preview["parent_app_id"], preview["preview_branch"]) == (app["id"], BRANCH)
    assert preview["status"] == "running"
    assert preview["url"] == f"http://{slug}.apps.localhost:{platform.ports['traefik']}"
    assert via_traefik(platform, slug).text == "hello v2-blue from-parent"
    assert via_traefik(platform, app["slug"]).text == "hello v1 from-parent"
    [op] = edge.get(f"{API}/apps/{preview['id']}/operations", headers=alice.headers).json()["items"]
    assert (op["kind"], op["trigger"]) == ("deploy", "preview")

    listed = edge.get(f"{API}/apps/{app['id']}/previews", headers=alice.headers).json()
    assert [p["id"] for p in listed] == [preview["id"]]
    mine = edge.get(f"{API}/apps", headers=alice.headers).json()["items"]
    assert {a["id"]: a["parent_app_id"] for a in mine}[preview["id"]] == app["id"]

    # Bob sees none of it, and cannot delete it
    base = f"{API}/apps/{app['id']}/previews"
    assert edge.get(base, headers=bob.headers).status_code == 404
    assert edge.delete(f"{base}/{preview['id']}", headers=bob.headers).status_code == 404
    assert edge.get(f"{API}/apps/{preview['id']}", headers=bob.headers).status_code == 404
    r = edge.post(base, json={"branch": "other"}, headers=bob.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert preview["id"] not in [
        a["id"] for a in edge.get(f"{API}/apps", headers=bob.headers).json()["items"]
    ]
    # bad input: a clear 4xx
    r = edge.post(base, json={"branch": "a..b"}, headers=alice.headers)
    assert r.status_code == 422 and "error" in r.json()
    r = edge.post(base, json={"branch": "main"}, headers=alice.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_previewable"

    r = edge.delete(f"{base}/{preview['id']}", headers=alice.headers)
    assert r.status_code == 202 and r.json()["kind"] == "delete"
    gone(edge, alice, preview["id"])
    assert not via_traefik(platform, slug).text.startswith("hello")
    assert edge.get(base, headers=alice.headers).json() == []
    assert via_traefik(platform, app["slug"]).text == "hello v1 from-parent"


def test_deleting_the_app_deletes_its_previews(edge, platform, alice, repo):
    app = deployed(edge, platform, alice, f"file://{repo}")
    preview = preview_of(edge, alice, app["id"], "other")
    assert via_traefik(platform, preview["slug"]).text == "hello v3-other"

    assert edge.delete(f"{API}/apps/{app['id']}", headers=alice.headers).status_code == 202
    gone(edge, alice, app["id"])
    gone(edge, alice, preview["id"])
    assert not via_traefik(platform, preview["slug"]).text.startswith("hello")
