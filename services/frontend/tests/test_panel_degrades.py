"""A signed-in person's pages while the services behind them are down: the shell still
renders and each part says what is unavailable; the admin area needs the admin role."""

PANEL_SCREENS = ["", "/apps", "/apps/new", "/billing", "/billing/ledger", "/profile"]


async def test_every_panel_screen_renders_its_unavailable_notices(frontend, sign_in_as):
    sign_in_as()
    for path in PANEL_SCREENS:
        page = await frontend.get(f"/panel{path}")
        assert page.status_code == 200, (path, page.text[:300])
        assert 'id="main"' in page.text and "data-unavailable=" in page.text
        partial = await frontend.get(f"/partials{path}", headers={"HX-Request": "true"})
        assert partial.status_code == 200 and "<html" not in partial.text
        assert "data-unavailable=" in partial.text


async def test_dashboard_names_each_service_that_is_down(frontend, sign_in_as):
    sign_in_as()
    page = (await frontend.get("/panel")).text
    for service in ("auth", "deploy", "billing"):
        assert f'data-unavailable="{service}"' in page


async def test_actions_say_nothing_changed_when_the_service_is_down(frontend, sign_in_as):
    sign_in_as()
    page = (await frontend.get("/panel/billing")).text
    token = page.split('"X-CSRF-Token": "')[1][:64]
    response = await frontend.post(
        "/partials/billing/topup",
        data={"amount": "5"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert "unavailable right now; nothing was changed" in response.text


async def test_admin_area_needs_the_admin_role(frontend, sign_in_as):
    sign_in_as()
    refused = await frontend.get("/admin")
    assert refused.status_code == 403 and "Access denied" in refused.text
    partial = await frontend.get("/admin/partials/users", headers={"HX-Request": "true"})
    assert partial.status_code == 403 and partial.headers["x-berth-error"]
    sign_in_as(roles=["user", "admin"])
    admin = await frontend.get("/admin")
    assert admin.status_code == 200 and 'data-unavailable="auth"' in admin.text


async def test_an_expired_token_without_refresh_is_signed_out(frontend, sign_in_as):
    sign_in_as(lifetime=-120)
    response = await frontend.get("/panel")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
