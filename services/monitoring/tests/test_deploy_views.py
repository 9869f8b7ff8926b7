"""Deploy's liveness views of a run: one GET each with monitoring's machine token, and when
deploy cannot answer, why (what a process or VPS monitor then shows instead of a verdict)."""

import json
import uuid

from fixtures_checks import Reply

from berth_monitoring.checks.deploy_views import LivenessView, VpsStateView


def _deploy(target_server, replies: dict[str, Reply]) -> str:
    prefix = f"/fake-{uuid.uuid4().hex[:6]}"
    target_server.replies[f"{prefix}/oauth/token"] = Reply(
        200,
        b'{"access_token": "machine-token", "expires_in": 300}',
        content_type="application/json",
    )
    for path, reply in replies.items():
        target_server.replies[f"{prefix}/api/deploy/v1/{path}"] = reply
    return f"http://127.0.0.2:{target_server.port}{prefix}"


async def test_each_view_asks_deploy_once_and_says_why_when_it_cannot(
    target_server, checks_settings
):
    app = uuid.uuid4()
    items = {"items": [{"app_id": str(app), "state": "running"}, {"app_id": "not-a-uuid"}]}
    url = _deploy(
        target_server,
        {
            "liveness": Reply(200, json.dumps(items).encode(), content_type="application/json"),
            "liveness/vps": Reply(503, b'{"error": {}}', content_type="application/json"),
        },
    )
    settings = checks_settings.model_copy(update={"deploy_url": url, "auth_url": url})
    liveness = LivenessView(settings)
    vps = VpsStateView(settings, liveness)
    try:
        assert await liveness.of_app(app) == ([items["items"][0]], None)
        assert await liveness.of_app(uuid.uuid4()) == ([], None)
        assert await vps.of_vps(uuid.uuid4()) == (None, "deploy answered 503 for VPS liveness")
        assert await vps.of_vps(uuid.uuid4()) == (None, "deploy answered 503 for VPS liveness")
    finally:
        await liveness.aclose()
    # the target server is the session's: only this test's fake deploy (its own prefix)
    prefix = url.split(str(target_server.port), 1)[1]
    asked = [(p, h) for p, h in target_server.requests if p.startswith(f"{prefix}/api/deploy/")]
    assert sorted(p.rsplit("/v1/", 1)[1] for p, _ in asked) == ["liveness", "liveness/vps"]
    assert {h["authorization"] for _, h in asked} == {"Bearer machine-token"}


async def test_without_a_machine_client_the_views_say_so(checks_settings):
    settings = checks_settings.model_copy(update={"client_id": None})
    liveness = LivenessView(settings)
    assert await liveness.of_app(uuid.uuid4()) == (None, "MONITORING_CLIENT_ID/SECRET are not set")
    vps = VpsStateView(settings, liveness)
    assert await vps.of_vps(uuid.uuid4()) == (None, "MONITORING_CLIENT_ID/SECRET are not set")
