"""Forge webhooks through the API: each forge's proof taken as that forge sends it, everything
else refused before anything is stored, one deploy per delivery of that exact commit, and the
secret only its owner's."""

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from deploy_testkit import commit, make_repo, web_app_files
from fixtures_deploy import API, new_app, op_state
from forge_payloads import FORGES, push_payload, signed
from sqlalchemy import func, select, update

from berth_deploy.models import Operation
from berth_deploy.webhooks.models import WebhookDelivery

HOOKS = f"{API}/hooks"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("hooks") / "repo", web_app_files("v1"))


async def hooked_app(http, who, repo, **fields):
    app = await new_app(http, who, repo, **fields)
    r = await http.post(f"{API}/apps/{app['id']}/webhook-secret", headers=who.headers)
    assert r.status_code == 201, r.text
    return app, r.json()


async def counts(deploy_app, app_id: str) -> tuple[int, int]:
    """(deliveries, operations) stored for the app."""
    async with deploy_app.state.db.sessionmaker() as session:
        deliveries = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.app_id == uuid.UUID(app_id))
        )
        ops = await session.scalar(
            select(func.count()).select_from(Operation).where(Operation.app_id == uuid.UUID(app_id))
        )
    return deliveries, ops


async def post(http, app_id, forge, body, headers):
    return await http.post(f"{HOOKS}/{app_id}/{forge}", content=body, headers=headers)


@pytest.mark.parametrize("forge", FORGES)
async def test_each_forge_signed_push_deploys_that_commit(deploy_http, person, repo, forge):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    assert made["urls"][forge].endswith(f"/api/deploy/v1/hooks/{app['id']}/{forge}")
    sha = commit(repo, {"note.txt": forge}, f"{forge} change")
    payload = push_payload(forge, "main", sha, message=f"{forge} change\n\nthe body")
    body, headers = signed(forge, made["secret"], payload)
    r = await post(deploy_http, app["id"], forge, body, headers)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "deployed" and r.json()["duplicate"] is False
    op = await op_state(deploy_http, ada, app["id"], r.json()["operation_id"])
    assert op["kind"] == "deploy" and op["trigger"] == "webhook"
    assert op["commit_sha"] == sha
    assert op["commit_author"] == "Ada Lovelace"  # a name: the payload's email never
    assert op["commit_message"] == f"{forge} change"
    status = (await deploy_http.get(f"{API}/apps/{app['id']}/webhook", headers=ada.headers)).json()
    assert [(d["forge"], d["outcome"], d["commit_sha"]) for d in status["deliveries"]] == [
        (forge, "deployed", sha)
    ]


@pytest.mark.parametrize("forge", FORGES)
async def test_a_wrong_or_missing_proof_is_401_and_stores_nothing(
    deploy_http, deploy_app, person, repo, forge
):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    payload = push_payload(forge, "main", "a" * 40)
    wrong = "sha256=" + "0" * 64 if forge in ("github", "bitbucket") else "0" * 64
    for body, headers in (
        signed(forge, "another secret", payload),
        signed(forge, made["secret"], payload, signature=wrong),
    ):
        r = await post(deploy_http, app["id"], forge, body, headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "invalid_signature"
    body, headers = signed(forge, made["secret"], payload)
    proofs = {
        "github": ["X-Hub-Signature-256"],
        "gitlab": ["X-Gitlab-Token"],
        "gitea": ["X-Forgejo-Signature", "X-Gitea-Signature"],
        "bitbucket": ["X-Hub-Signature"],
    }
    for name in proofs[forge]:
        headers.pop(name)
    r = await post(deploy_http, app["id"], forge, body, headers)
    assert r.status_code == 401
    # a body changed after signing
    body, headers = signed(forge, made["secret"], payload)
    r = await post(deploy_http, app["id"], forge, body.replace(b"main", b"mainx"), headers)
    assert r.status_code == (200 if forge == "gitlab" else 401)  # GitLab signs nothing
    assert await counts(deploy_app, app["id"]) == ((1, 0) if forge == "gitlab" else (0, 0))


async def test_stale_deliveries_are_401(deploy_http, deploy_app, person, repo):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    sha = commit(repo, {"note.txt": "stale"})
    old = datetime.now(UTC) - timedelta(hours=2)
    body, headers = signed("gitea", made["secret"], push_payload("gitea", "main", sha))
    r = await post(deploy_http, app["id"], "gitea", body, headers | {"Date": format_datetime(old)})
    assert r.status_code == 401 and r.json()["error"]["code"] == "stale_delivery"
    payload = push_payload("github", "main", sha)
    payload["repository"]["pushed_at"] = int(old.timestamp())  # inside the signed body
    r = await post(deploy_http, app["id"], "github", *signed("github", made["secret"], payload))
    assert r.status_code == 401 and r.json()["error"]["code"] == "stale_delivery"
    assert await counts(deploy_app, app["id"]) == (0, 0)


async def test_unknown_apps_are_one_bare_404(deploy_http, person, repo):
    ada = person()
    no_secret = await new_app(deploy_http, ada, repo)
    app, made = await hooked_app(deploy_http, ada, repo)
    body, headers = signed("github", made["secret"], push_payload("github", "main", "b" * 40))
    answers = [
        await post(deploy_http, target, forge, body, headers)
        for target, forge in (
            (uuid.uuid4(), "github"),
            ("not-an-id", "github"),
            (no_secret["id"], "github"),
            (app["id"], "sourcehut"),
        )
    ]
    assert {r.status_code for r in answers} == {404}
    assert {r.text for r in answers} == {answers[0].text}
    assert answers[0].json()["error"]["details"] is None
    r = await deploy_http.delete(f"{API}/apps/{app['id']}/webhook-secret", headers=ada.headers)
    assert r.status_code == 204
    assert (await post(deploy_http, app["id"], "github", body, headers)).text == answers[0].text


async def test_a_redelivery_deploys_once(deploy_http, deploy_app, person, repo):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    sha = commit(repo, {"note.txt": "twice"})
    body, headers = signed("github", made["secret"], push_payload("github", "main", sha))
    first = await post(deploy_http, app["id"], "github", body, headers)
    again = await post(deploy_http, app["id"], "github", body, headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert await counts(deploy_app, app["id"]) == (1, 1)


async def test_an_old_push_replayed_under_a_new_delivery_id_does_not_roll_back(
    deploy_http, deploy_app, person, repo
):
    """Delivery ids are not signed: a push body seen once (a forge's delivery log, a proxy)
    sent again with a fresh id must not bring back the commit it named."""
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    old = commit(repo, {"note.txt": "old"})
    old_body, _ = signed("gitea", made["secret"], push_payload("gitea", "main", old))
    new = commit(repo, {"note.txt": "new"})
    for body in (old_body, signed("gitea", made["secret"], push_payload("gitea", "main", new))[0]):
        _, headers = signed("gitea", made["secret"], {}, raw=body)
        assert (await post(deploy_http, app["id"], "gitea", body, headers)).json()["outcome"] == (
            "deployed"
        )
    _, headers = signed("gitea", made["secret"], {}, raw=old_body)
    r = await post(deploy_http, app["id"], "gitea", old_body, headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"outcome": "already_deployed", "operation_id": None, "duplicate": False}
    assert await counts(deploy_app, app["id"]) == (3, 2)


async def test_untracked_branches_pings_and_auto_deploy_off(deploy_http, deploy_app, person, repo):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    sha = commit(repo, {"note.txt": "feature"})
    r = await post(
        deploy_http,
        app["id"],
        "gitlab",
        *signed("gitlab", made["secret"], push_payload("gitlab", "feature/x", sha)),
    )
    assert r.json() == {"outcome": "ignored", "operation_id": None, "duplicate": False}
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1}
    r = await post(
        deploy_http, app["id"], "github", *signed("github", made["secret"], ping, event="ping")
    )
    assert r.status_code == 200 and r.json()["outcome"] == "ping"
    r = await deploy_http.patch(
        f"{API}/apps/{app['id']}", json={"auto_deploy": False}, headers=ada.headers
    )
    assert r.status_code == 200 and r.json()["auto_deploy"] is False
    r = await post(
        deploy_http,
        app["id"],
        "bitbucket",
        *signed("bitbucket", made["secret"], push_payload("bitbucket", "main", sha)),
    )
    assert r.json()["outcome"] == "disabled"
    assert await counts(deploy_app, app["id"]) == (3, 0)


async def test_pushes_while_a_deploy_runs_collapse_to_the_newest(
    deploy_http, deploy_app, person, repo
):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    shas = [commit(repo, {"note.txt": f"run {i}"}) for i in range(3)]

    async def push(sha):
        r = await post(
            deploy_http,
            app["id"],
            "gitea",
            *signed("gitea", made["secret"], push_payload("gitea", "main", sha)),
        )
        assert r.json()["outcome"] == "deployed", r.text
        return r.json()["operation_id"]

    running = await push(shas[0])
    async with deploy_app.state.db.sessionmaker() as session, session.begin():
        await session.execute(
            update(Operation)
            .where(Operation.id == uuid.UUID(running))
            .values(status="running", started_at=func.now())
        )
    queued = await push(shas[1])
    newest = await push(shas[2])
    states = [
        (await op_state(deploy_http, ada, app["id"], op))["status"]
        for op in (running, queued, newest)
    ]
    assert states == ["running", "superseded", "queued"]
    assert (await op_state(deploy_http, ada, app["id"], newest))["commit_sha"] == shas[2]


async def test_only_the_owner_reads_or_rotates_the_secret(deploy_http, deploy_app, person, repo):
    ada, bob = person(), person()
    app, made = await hooked_app(deploy_http, ada, repo)
    base = f"{API}/apps/{app['id']}"
    for method, path in (
        ("GET", "/webhook"),
        ("POST", "/webhook-secret"),
        ("DELETE", "/webhook-secret"),
    ):
        r = await deploy_http.request(method, base + path, headers=bob.headers)
        assert r.status_code == 404, (method, path, r.text)
    r = await post(
        deploy_http,
        app["id"],
        "github",
        *signed("github", made["secret"], push_payload("github", "main", commit(repo, {"a": "1"}))),
    )
    assert r.json()["outcome"] == "deployed"  # Bob's tries changed nothing
    rotated = await deploy_http.post(f"{base}/webhook-secret", headers=ada.headers)
    assert rotated.json()["secret"] != made["secret"]
    body, headers = signed("github", made["secret"], push_payload("github", "main", "c" * 40))
    assert (await post(deploy_http, app["id"], "github", body, headers)).status_code == 401
    detail = (await deploy_http.get(base, headers=ada.headers)).json()
    assert detail["webhook_secret_set_at"] is not None
    assert made["secret"] not in str(detail) and rotated.json()["secret"] not in str(detail)


async def test_bodies_past_the_limit_are_413(deploy_http, deploy_settings, person, repo):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    payload = push_payload("github", "main", "d" * 40)
    payload["padding"] = "x" * deploy_settings.webhook_max_bytes
    r = await post(deploy_http, app["id"], "github", *signed("github", made["secret"], payload))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


async def test_a_commit_not_in_the_repository_fails_the_deploy_saying_so(
    deploy_http, deploy_node, person, repo
):
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    payload = push_payload("github", "main", "f" * 40)
    r = await post(deploy_http, app["id"], "github", *signed("github", made["secret"], payload))
    assert r.json()["outcome"] == "deployed", r.text
    await deploy_node.run_all(uuid.UUID(app["id"]))
    op = await op_state(deploy_http, ada, app["id"], r.json()["operation_id"])
    assert op["status"] == "failed"
    releases = await deploy_http.get(f"{API}/apps/{app['id']}/releases", headers=ada.headers)
    error = releases.json()["items"][0]["error"]
    assert "the commit was not found in the repository" in error, error


@pytest.mark.parametrize(
    ("forge", "raw", "payload", "extra", "status"),
    [
        # JSON nested past the parser's recursion limit
        ("github", b"[" * 100_000, {}, {}, 400),
        ("gitea", b'{"a":' * 100_000, {}, {}, 400),
        # not UTF-8, or a form post instead of JSON
        ("github", b"\xff\xfe\x00\xd8", {}, {}, 400),
        (
            "github",
            b"payload=%7B%7D",
            {},
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
        ),
        # a Date header past what a datetime holds
        ("github", None, {}, {"Date": "Mon, 01 Jan 99999999999 00:00:00 GMT"}, 400),
        ("gitea", None, {}, {"Date": "Mon, 01 Jan 2026 00:00:00 +99999999999999999"}, 400),
        # a signed push time no clock has: refused as stale
        ("github", None, {"repository": {"pushed_at": 10**20}}, {}, 401),
        # fields of another type than the forge sends: nothing comes of them
        ("gitlab", None, {"commits": 5}, {}, 200),
        ("bitbucket", None, {"push": {"changes": 7}}, {}, 200),
        ("github", None, {"action": ["opened"]}, {"X-GitHub-Event": "pull_request"}, 200),
        ("gitea", None, {"action": {"x": 1}}, {"X-Gitea-Event": "pull_request"}, 200),
        # NUL and other control characters (PostgreSQL refuses NUL in text)
        ("github", None, {"ref": "refs/heads/fe\u0000ture"}, {}, 200),
        (
            "gitea",
            None,
            {"ref": "refs/heads/main", "head_commit": {"message": "a\u0000b"}},
            {},
            200,
        ),
        (
            "github",
            None,
            {"ref": "refs/heads/main", "head_commit": {"author": {"name": "Ada\u0000\u001b[31m"}}},
            {},
            200,
        ),
    ],
)
async def test_signed_bodies_that_break_parsing_are_4xx(
    deploy_http, person, repo, forge, raw, payload, extra, status
):
    """The secret's holder (the owner) sending anything at all gets a 4xx or a plain outcome,
    never a 500."""
    ada = person()
    app, made = await hooked_app(deploy_http, ada, repo)
    base = push_payload(forge, "feature", "e" * 40)
    body, headers = signed(forge, made["secret"], base | payload, raw=raw)
    if "X-Gitea-Event" in extra:
        extra = extra | {"X-Forgejo-Event": extra["X-Gitea-Event"]}
    r = await post(deploy_http, app["id"], forge, body, headers | extra)
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["error"]["code"] in ("bad_delivery", "stale_delivery")
