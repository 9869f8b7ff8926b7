"""An app's previews on its page (over a stand-in for deploy): listed with branch, address and
status, deleted and made by hand through deploy's previews API; a preview's own page points to
its app, and the apps list marks previews."""

from typing import Any

from frontend_testkit import StandIn
from test_pages_over_a_stand_in import _sign_in, frontend_over

APP_ID = "6f1d2c3b-4a59-4e8f-9a0b-1c2d3e4f5a6b"
PREVIEW_ID = "7a2e3d4c-5b6a-4f90-8b1c-2d3e4f5a6b7c"
DEPLOY = "/api/deploy/v1/apps"


def app(app_id: str, slug: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": app_id,
        "owner_id": "3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
        "slug": slug,
        "name": slug,
        "template": "python-web",
        "repo_url": "https://example.test/shop.git",
        "branch": "main",
        "build_command": None,
        "run_command": None,
        "limits": {"memory_mb": 256, "cpu_millis": 500, "pids_max": 64},
        "status": "running",
        "status_reason": None,
        "suspended_by": None,
        "url": f"http://{slug}.apps.localhost:8080",
        "current_release": None,
        "active_operation_id": None,
        "parent_app_id": None,
        "preview_branch": None,
        "created_at": "2026-11-30T05:00:00Z",
        "updated_at": "2026-11-30T05:00:00Z",
        "status_changed_at": "2026-11-30T05:00:00Z",
        "instances": [],
        **extra,
    }


SHOP = app(APP_ID, "shop")
PREVIEW = app(
    PREVIEW_ID,
    "shop--feature-x",
    branch="feature/x",
    parent_app_id=APP_ID,
    preview_branch="feature/x",
)
EMPTY_PAGE = (200, {"items": [], "total": 0, "page": 1, "size": 8, "pages": 0})


async def test_previews_are_listed_made_and_deleted_from_the_apps_page(
    frontend_settings, public_jwks, signing_jwks
):
    answers = {
        "/api/auth/v1/me": (200, {"name": "Ada", "email": "ada@example.test"}),
        f"{DEPLOY}/{APP_ID}": (200, SHOP),
        f"{DEPLOY}/{APP_ID}/operations": EMPTY_PAGE,
        f"{DEPLOY}/{APP_ID}/releases": EMPTY_PAGE,
        f"{DEPLOY}/{APP_ID}/previews": (200, [PREVIEW]),
        f"POST {DEPLOY}/{APP_ID}/previews": (
            409,
            {"error": {"code": "preview_limit", "message": "shop already has 5 previews"}},
        ),
        f"DELETE {DEPLOY}/{APP_ID}/previews/{PREVIEW_ID}": (202, {"id": "op", "kind": "delete"}),
        f"{DEPLOY}/{PREVIEW_ID}": (200, PREVIEW),
        f"{DEPLOY}/{PREVIEW_ID}/operations": EMPTY_PAGE,
        f"{DEPLOY}/{PREVIEW_ID}/releases": EMPTY_PAGE,
        "/api/deploy/v1/templates": (200, []),
        DEPLOY: (200, {"items": [SHOP, PREVIEW], "total": 2, "page": 1, "size": 20, "pages": 1}),
    }
    with StandIn(answers) as stand_in:
        async with frontend_over(stand_in, frontend_settings, public_jwks) as client:
            _sign_in(client, signing_jwks)
            page = (await client.get(f"/panel/apps/{APP_ID}")).text
            assert f'hx-get="/partials/apps/{APP_ID}/previews"' in page
            headers = {
                "HX-Request": "true",
                "X-CSRF-Token": page.split('"X-CSRF-Token": "')[1][:64],
            }
            listing = await client.get(f"/partials/apps/{APP_ID}/previews", headers=headers)
            assert listing.status_code == 200
            assert f'data-preview="{PREVIEW_ID}"' in listing.text
            assert (
                "feature/x" in listing.text
                and "http://shop--feature-x.apps.localhost:8080" in listing.text
            )
            assert f"/partials/apps/{APP_ID}/previews/{PREVIEW_ID}/delete" in listing.text

            refused = await client.post(
                f"/partials/apps/{APP_ID}/previews", data={"branch": "six"}, headers=headers
            )
            assert refused.status_code == 200 and "already has 5 previews" in refused.text
            empty = await client.post(
                f"/partials/apps/{APP_ID}/previews", data={"branch": " "}, headers=headers
            )
            assert "Name the branch to preview." in empty.text
            deleted = await client.post(
                f"/partials/apps/{APP_ID}/previews/{PREVIEW_ID}/delete", headers=headers
            )
            assert "The preview is being deleted" in deleted.text

            own = (await client.get(f"/panel/apps/{PREVIEW_ID}")).text
            assert 'id="preview-of"' in own and f"/panel/apps/{APP_ID}" in own
            assert f"/partials/apps/{PREVIEW_ID}/previews" not in own
            listed = (await client.get("/panel/apps")).text
            assert listed.count("preview: feature/x") == 1
    assert stand_in.bodies == [{"branch": "six"}]
    assert f"DELETE {DEPLOY}/{APP_ID}/previews/{PREVIEW_ID}" in stand_in.asked
