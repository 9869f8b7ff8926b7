"""Logs: stored raw per release, served in pages by byte offset and as Server-Sent Events
whose ids are offsets (resume with Last-Event-ID), with secret values scrubbed."""

import uuid

import pytest
from deploy_testkit import make_repo, web_app_files
from fixtures_deploy import API, app_state, ask, new_app
from sqlalchemy import func, select, update

from berth_deploy.logs.service import claim_stream
from berth_deploy.logs.store import LogStore, scrub, scrub_list
from berth_deploy.models import LogStream

TOKEN = "tok-4242-secret"


def test_the_store_serves_whole_lines_by_offset(tmp_path):
    store = LogStore(tmp_path)
    path = tmp_path / "x.log"
    path.write_bytes(b"first\nsecond\npartial")
    lines, offset = store.read(path, 0, 1024)
    assert [(line.end, line.text) for line in lines] == [(6, "first"), (13, "second")]
    assert offset == 13
    assert store.read(path, offset, 1024) == ([], 13)  # the unfinished line waits
    path.write_bytes(b"x" * 3000 + b"\n")
    lines, offset = store.read(path, 0, 1024)
    assert (len(lines), offset) == (1, 1024)  # an overlong line comes in pieces
    assert store.read(tmp_path / "missing.log", 0, 10) == ([], 0)


def test_secrets_are_scrubbed_longest_first():
    secrets = scrub_list(["abc", "hunter2", "hunter2-extended", ""])
    assert secrets == ["hunter2-extended", "hunter2"]
    assert scrub("pw=hunter2-extended and hunter2", secrets) == "pw=[secret] and [secret]"


@pytest.fixture(scope="module")
async def built(deploy_http, deploy_node, person, tmp_path_factory):
    """An app deployed with a build step that prints a secret."""
    repo = make_repo(tmp_path_factory.mktemp("logs") / "repo", web_app_files("v1"))
    ada = person()
    app = await new_app(
        deploy_http,
        ada,
        repo,
        build_command="echo token=$API_TOKEN; for i in 1 2 3 4 5; do echo step $i; done",
        env=[{"name": "API_TOKEN", "value": TOKEN, "secret": True}],
    )
    await ask(deploy_http, ada, app["id"], "deploy")
    await deploy_node.run_all(uuid.UUID(app["id"]))
    assert (await app_state(deploy_http, ada, app["id"]))["status"] == "running"
    return ada, app


async def test_history_pages_follow_next_offset(deploy_http, deploy_settings, built):
    ada, app = built
    base = f"{API}/apps/{app['id']}/logs"
    whole = (await deploy_http.get(base, headers=ada.headers)).json()
    texts = [line["text"] for line in whole["lines"]]
    assert "token=[secret]" in texts
    assert [t for t in texts if t.startswith("step")] == [f"step {i}" for i in range(1, 6)]
    raw = (deploy_settings.data_dir / "logs").rglob("build.log")
    assert any(TOKEN in p.read_text() for p in raw)  # stored as printed, scrubbed when served

    paged, offset = [], 0
    while True:
        page = (
            await deploy_http.get(
                base, params={"offset": offset, "limit_bytes": 1024}, headers=ada.headers
            )
        ).json()
        if not page["lines"]:
            break
        paged += [line["text"] for line in page["lines"]]
        offset = page["next_offset"]
    assert paged == texts and offset == whole["size"]

    past = await deploy_http.get(base, params={"offset": whole["size"] + 1}, headers=ada.headers)
    assert past.status_code == 422
    other = await deploy_http.get(
        base, params={"release_id": str(uuid.uuid4())}, headers=ada.headers
    )
    assert other.status_code == 404
    bad_kind = await deploy_http.get(base, params={"kind": "secrets"}, headers=ada.headers)
    assert bad_kind.status_code == 422


def events_of(body: str) -> list[dict]:
    events = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in block.splitlines()
            if ": " in line and not line.startswith(":")
        )
        if fields:
            events.append(fields)
    return events


async def test_the_stream_ends_with_the_build_and_resumes_from_an_event_id(deploy_http, built):
    ada, app = built
    url = f"{API}/apps/{app['id']}/logs/stream"
    r = await deploy_http.get(url, params={"kind": "build"}, headers=ada.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = events_of(r.text)
    lines = [e for e in events if "id" in e]
    assert events[-1]["event"] == "end"
    assert "token=[secret]" in [e["data"] for e in lines]
    assert TOKEN not in r.text

    middle = lines[len(lines) // 2]
    resumed = await deploy_http.get(
        url, params={"kind": "build"}, headers={**ada.headers, "Last-Event-ID": middle["id"]}
    )
    assert [e for e in events_of(resumed.text) if "id" in e] == lines[len(lines) // 2 + 1 :]
    for bad_id in ("not-a-number", "99999999999999999999", str(2**53 + 1), "-1", "1.5", " 12"):
        bad = await deploy_http.get(url, headers={**ada.headers, "Last-Event-ID": bad_id})
        assert bad.status_code == 400, (bad_id, bad.text)
        assert bad.json()["error"]["code"] == "invalid_resume_id"


async def test_live_streams_per_person_are_limited(
    deploy_http, deploy_app, deploy_settings, person, built
):
    ada, app = built
    limit = deploy_settings.log_streams_per_user
    assert limit == 5
    url = f"{API}/apps/{app['id']}/logs/stream"
    sessionmaker = deploy_app.state.db.sessionmaker

    async def open_claims() -> int:
        async with sessionmaker() as session:
            stmt = select(func.count()).where(
                LogStream.viewer == str(ada.id), LogStream.expires_at > func.now()
            )
            return (await session.execute(stmt)).scalar_one()

    # streams ada holds open, wherever they are served (another web process, say)
    async with sessionmaker() as session, session.begin():
        claims = [
            await claim_stream(session, deploy_settings, str(ada.id), uuid.UUID(app["id"]))
            for _ in range(limit)
        ]
    refused = await deploy_http.get(url, params={"kind": "build"}, headers=ada.headers)
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["error"] == {
        "code": "too_many_log_streams",
        "message": "At most 5 live log streams can be open at once; close one and retry",
        "details": {"limit": 5, "open": 5, "retry_after": 5},
    }
    history = await deploy_http.get(f"{API}/apps/{app['id']}/logs", headers=ada.headers)
    assert history.status_code == 200  # pages of history are not streams

    # the claim of a stream whose process died lapses, and a place is free again
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(LogStream)
            .where(LogStream.id == claims[0].id)
            .values(expires_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1))
        )
    served = await deploy_http.get(url, params={"kind": "build"}, headers=ada.headers)
    assert served.status_code == 200, served.text
    assert events_of(served.text)[-1]["event"] == "end"
    assert await open_claims() == limit - 1  # the stream that ended gave its place back
    async with sessionmaker() as session:
        assert await session.get(LogStream, claims[0].id) is None  # the lapsed one is purged
