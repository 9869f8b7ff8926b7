"""The app page's automatic deploys over a stand-in for deploy: the settings form sends what
was chosen, a new webhook secret is shown once with each forge's URL, the recent deliveries
and each operation's trigger, commit and author show."""

from typing import Any

from frontend_testkit import StandIn
from test_pages_over_a_stand_in import _sign_in, frontend_over

APP_ID = "6d1f6f0e-2b7a-4c55-9a39-0c5c1d2e3f40"
BASE = f"/api/deploy/v1/apps/{APP_ID}"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
APP = {
    "id": APP_ID,
    "slug": "shop",
    "name": "Shop",
    "template": "python-web",
    "status": "running",
    "status_reason": None,
    "url": None,
    "repo_url": "https://example.test/ada/shop.git",
    "branch": "main",
    "created_at": "2026-11-30T05:00:00+00:00",
    "updated_at": "2026-11-30T05:00:00+00:00",
    "auto_deploy": True,
    "allow_force_push": False,
    "poll_interval_seconds": 300,
    "polled_at": "2026-11-30T05:00:00+00:00",
    "poll_error": "the repository was not found, or it is private",
    "previews_enabled": False,
    "preview_idle_days": 7,
    "webhook_secret_set_at": None,
    "current_release": None,
    "parent_app_id": None,
    "preview_branch": None,
    "instances": [],
    "limits": {"memory_mb": 256, "cpu_millis": 500, "pids_max": 64},
}
URLS = {
    f: f"http://localhost:8080/api/deploy/v1/hooks/{APP_ID}/{f}"
    for f in ("github", "gitlab", "gitea", "bitbucket")
}
DELIVERY = {
    "id": "d1",
    "forge": "gitlab",
    "delivery_id": "x",
    "event": "Push Hook",
    "branch": "main",
    "commit_sha": SHA,
    "outcome": "deployed",
    "operation_id": None,
    "received_at": "2026-11-30T05:01:00+00:00",
}


def answers(secret_set: bool) -> dict[str, Any]:
    hook = {
        "secret_set_at": "2026-11-30T05:00:00+00:00" if secret_set else None,
        "urls": URLS,
        "deliveries": [DELIVERY] if secret_set else [],
    }
    return {
        "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
        BASE: (200, APP),
        f"PATCH {BASE}": (200, APP),
        f"{BASE}/webhook": (200, hook),
        f"POST {BASE}/webhook-secret": (
            201,
            {"secret": "s3cr3t-shown-once", "set_at": hook["secret_set_at"], "urls": URLS},
        ),
        f"{BASE}/operations": (
            200,
            {
                "items": [
                    {
                        "id": "o1",
                        "kind": "deploy",
                        "status": "succeeded",
                        "step": None,
                        "reason": None,
                        "trigger": "webhook",
                        "commit_sha": SHA,
                        "commit_author": "Ada Lovelace",
                        "commit_message": "Fix the basket",
                        "created_at": "2026-11-30T05:01:00+00:00",
                    }
                ],
                "total": 1,
            },
        ),
        f"{BASE}/releases": (200, {"items": [], "total": 0}),
    }


async def _csrf(client) -> dict[str, str]:
    page = (await client.get(f"/panel/apps/{APP_ID}")).text
    return {"HX-Request": "true", "X-CSRF-Token": page.split('"X-CSRF-Token": "')[1][:64]}


async def test_the_section_shows_settings_deliveries_and_operations(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(answers(secret_set=True)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = await client.get(f"/panel/apps/{APP_ID}")
            section = await client.get(f"/partials/apps/{APP_ID}/autodeploy")
    assert page.status_code == 200
    assert f'hx-get="/partials/apps/{APP_ID}/autodeploy"' in page.text
    assert "webhook" in page.text and SHA[:7] in page.text
    assert "Fix the basket" in page.text and "by Ada Lovelace" in page.text
    text = section.text
    assert section.status_code == 200
    assert 'name="auto_deploy" checked' in text
    assert '<option value="300" selected>' in text
    assert "The last poll failed: the repository was not found, or it is private" in text
    assert all(url in text for url in URLS.values())
    assert "Push Hook" in text and "deployed" in text


async def test_settings_are_sent_and_a_new_secret_is_shown_once(
    frontend_settings, public_jwks, signing_jwks
):
    with StandIn(answers(secret_set=False)) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            headers = await _csrf(client)
            before = await client.get(f"/partials/apps/{APP_ID}/autodeploy")
            saved = await client.post(
                f"/partials/apps/{APP_ID}/autodeploy",
                data={
                    "previews_enabled": "on",
                    "preview_idle_days": "3",
                    "poll_interval_seconds": "0",
                },
                headers=headers,
            )
            made = await client.post(f"/partials/apps/{APP_ID}/webhook-secret", headers=headers)
            again = await client.get(f"/partials/apps/{APP_ID}/autodeploy")
    assert "Make a webhook secret" in before.text
    assert saved.status_code == 200 and "Automatic deploy settings saved." in saved.text
    assert stand_in.bodies[0] == {
        "auto_deploy": False,
        "allow_force_push": False,
        "previews_enabled": True,
        "preview_idle_days": 3,
        "poll_interval_seconds": None,
    }
    assert made.status_code == 200 and "s3cr3t-shown-once" in made.text
    assert "s3cr3t-shown-once" not in again.text
