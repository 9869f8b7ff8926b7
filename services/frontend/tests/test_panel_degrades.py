"""A signed-in person's pages while the services behind them are down: the shell still
renders and each part says what is unavailable; the admin area needs the admin role."""

PANEL_SCREENS = [
    "",
    "/apps",
    "/apps/new",
    "/billing",
    "/billing/ledger",
    "/profile",
    "/monitoring",
    "/monitoring/incidents",
    "/monitoring/maintenance",
]


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


async def test_monitoring_actions_say_nothing_changed_when_it_is_down(frontend, sign_in_as):
    sign_in_as()
    page = (await frontend.get("/panel/monitoring/new")).text
    assert 'id="new-monitor-form"' in page
    token = page.split('"X-CSRF-Token": "')[1][:64]
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    response = await frontend.post(
        "/partials/monitoring",
        data={"kind": "http", "name": "site", "url": "https://example.com/"},
        headers=headers,
    )
    assert response.status_code == 200
    assert "Monitoring is unavailable right now; nothing was changed" in response.text
    response = await frontend.post(
        "/partials/monitoring/3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e91/pause", headers=headers
    )
    # the action's answer is the monitor's screen, which cannot be drawn without it: the
    # error page says which service is missing (as for an app's actions)
    assert response.status_code == 503
    assert "Monitoring is unavailable right now" in response.text


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


async def test_the_admin_overview_shows_an_unsafe_platform_setting_as_a_red_banner(
    frontend_settings, public_jwks, signing_jwks
):
    """deploy's /admin/runtime says isolation is off (served here by a stand-in): the
    overview leads with the warning; with isolation on there is no banner."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from berth_frontend.main import create_app
    from berth_testing.oauth import mint_access_token
    from berth_testing.plugin import app_client, trust_keys

    answer = {"network_isolation": False, "warnings": ["Network isolation is OFF (test)"]}

    class Deploy(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(answer).encode()
            ok = self.path.startswith("/api/deploy/v1/admin/runtime")
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Deploy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = frontend_settings.model_copy(
            update={"deploy_url": f"http://127.0.0.1:{server.server_port}"}
        )
        app = create_app(settings)
        trust_keys(app, public_jwks)
        async with app_client(app, base_url="http://localhost:8080") as client:
            token = mint_access_token(
                signing_jwks,
                issuer=str(frontend_settings.public_url).rstrip("/"),
                subject="3f0c6a52-8d1e-4b8e-9a55-2b0f6c1d7e90",
                roles=["user", "admin"],
                lifetime=600,
            )
            client.cookies.set("berth_access", token)
            page = await client.get("/admin")
            assert page.status_code == 200
            assert 'data-warning="runtime"' in page.text
            assert "Network isolation is OFF (test)" in page.text
            answer.update(network_isolation=True, warnings=[])
            assert 'data-warning="runtime"' not in (await client.get("/admin")).text
    finally:
        server.shutdown()
