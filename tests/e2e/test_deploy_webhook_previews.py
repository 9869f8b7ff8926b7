"""Preview apps driven by a forge (issue 16): with previews on, a signed GitHub push of a new
branch makes that branch's preview app, built from exactly the pushed commit and answering
through Traefik at `<slug>--<branch>.apps…`; the push of its deletion removes it (route and
app). The same delivery sent twice makes one preview. Real processes: Traefik, gateway, auth,
deploy web and worker, the node supervisor, sandboxed builds from a local bare repository."""

import subprocess
from pathlib import Path

import pytest
from deploy_e2e import API, deployed, via_traefik, wait_operation
from deploy_testkit import GIT_ENV, commit, git, make_repo, wait_for, web_app_files
from forge_payloads import push_payload, signed

pytestmark = pytest.mark.usefixtures("deploy_node")

BRANCH = "feature-x"
ZERO = "0" * 40


@pytest.fixture(scope="module")
def alice(signed_in):
    return signed_in()


@pytest.fixture(scope="module")
def forge_repo(tmp_path_factory) -> tuple[Path, Path]:
    """A working copy and the bare repository it pushes to (as a forge's would be)."""
    work = make_repo(tmp_path_factory.mktemp("wp") / "work", web_app_files("main-1"))
    bare = tmp_path_factory.mktemp("wp-forge") / "site.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=GIT_ENV, check=True)
    git(work, "remote", "add", "forge", str(bare))
    return work, bare


def deliver(edge, app_id: str, secret: str, payload: dict, delivery: str | None = None):
    body, headers = signed("github", secret, payload, delivery=delivery)
    r = edge.post(f"{API}/hooks/{app_id}/github", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def previews(edge, person, app_id: str) -> list[dict]:
    r = edge.get(f"{API}/apps/{app_id}/previews", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_pushed_branch_gets_a_preview_and_loses_it_when_deleted(
    edge, platform, alice, forge_repo
):
    work, bare = forge_repo
    app = deployed(edge, platform, alice, f"file://{bare}")
    r = edge.patch(
        f"{API}/apps/{app['id']}", json={"previews_enabled": True}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["previews_enabled"] is True, r.text
    r = edge.post(f"{API}/apps/{app['id']}/webhook-secret", headers=alice.headers)
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]

    git(work, "checkout", "-q", "-b", BRANCH)
    sha = commit(work, web_app_files("feature-1"), "the feature")
    git(work, "push", "-q", "forge", f"HEAD:refs/heads/{BRANCH}")
    commit(work, web_app_files("feature-2"), "not delivered")  # the branch moves on locally
    git(work, "push", "-q", "forge", f"HEAD:refs/heads/{BRANCH}")
    git(work, "checkout", "-q", "main")

    payload = push_payload("github", BRANCH, sha, author="Grace Hopper")
    first = deliver(edge, app["id"], secret, payload, delivery="d-preview-1")
    assert first["outcome"] == "preview", first
    again = deliver(edge, app["id"], secret, payload, delivery="d-preview-1")
    assert again["outcome"] == "preview" and again.get("duplicate") is True, again

    [preview] = previews(edge, alice, app["id"])
    assert preview["slug"] == f"{app['slug']}--{BRANCH}"
    assert preview["preview_branch"] == BRANCH
    ops = edge.get(f"{API}/apps/{preview['id']}/operations", headers=alice.headers).json()
    [op] = ops["items"]  # one deploy, however often the push was delivered
    assert (op["trigger"], op["commit_sha"], op["commit_author"]) == (
        "preview",
        sha,
        "Grace Hopper",
    )
    done = wait_operation(edge, alice, preview["id"], op["id"])
    assert done["status"] == "succeeded", done
    assert via_traefik(platform, preview["slug"]).text == "hello feature-1"  # that commit
    assert via_traefik(platform, app["slug"]).text == "hello main-1"

    deleted = push_payload("github", BRANCH, ZERO) | {"deleted": True, "head_commit": None}
    gone = deliver(edge, app["id"], secret, deleted, delivery="d-preview-2")
    assert gone["outcome"] == "preview_removed", gone
    wait_for(
        lambda: edge.get(f"{API}/apps/{preview['id']}", headers=alice.headers).status_code == 404,
        60,
        "the preview to be deleted",
    )
    assert previews(edge, alice, app["id"]) == []
    assert not via_traefik(platform, preview["slug"]).text.startswith("hello")
    assert via_traefik(platform, app["slug"]).text == "hello main-1"
