"""The panel in a real browser (chromium, headless): sign-up to sign-out, navigation without
reloads, deep links and history, the burger on a narrow screen, the admin area.
Screenshots of the main screens are saved as artifacts (see browser_support.py)."""

import re
import uuid

import pytest
from browser_support import ConsoleWatch, artifacts_dir, chromium  # noqa: F401 - fixture
from frontend_web import static_site_repo
from support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, code_from_mail

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def base_url(platform) -> str:
    # the public URL the platform is configured with (cookies, redirects, CSRF origin)
    return platform.env["BERTH_PUBLIC_URL"]


def new_page(chromium, base_url, width=1280, height=860):  # noqa: F811
    context = chromium.new_context(base_url=base_url, viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page, ConsoleWatch(page)


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.fill("#f-email", email)
    page.fill("#f-password", password)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/(panel|admin)"))


def test_sign_up_verify_sign_in_navigate_and_sign_out(chromium, platform, base_url, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    shots = artifacts_dir()
    context, page, console = new_page(chromium, base_url)
    email = f"browser-{uuid.uuid4().hex[:8]}@example.test"

    page.goto("/")
    expect(page.locator("h1")).to_contain_text("Ship apps")
    page.screenshot(path=shots / "01-landing.png", full_page=True)

    page.click("text=Get started")
    expect(page).to_have_url(f"{base_url}/register")
    page.fill("#f-name", "Ada")
    page.fill("#f-email", email)
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_confirm", PASSWORD)
    page.screenshot(path=shots / "02-register.png", full_page=True)
    page.click("button:has-text('Create account')")

    expect(page).to_have_url(re.compile(r"/verify-email\?"))
    page.fill("#f-code", code_from_mail(platform, email))
    page.screenshot(path=shots / "03-verify.png", full_page=True)
    page.click("button:has-text('Verify email')")

    expect(page).to_have_url(re.compile(r"/login\?verified=1"))
    expect(page.locator("#f-email")).to_have_value(email)
    page.fill("#f-password", PASSWORD)
    page.screenshot(path=shots / "04-login.png", full_page=True)
    page.click("button:has-text('Sign in')")

    expect(page).to_have_url(f"{base_url}/panel")
    expect(page.locator("#main h1")).to_have_text("Dashboard")
    expect(page.locator(".menu-item.active")).to_have_text("Dashboard")
    expect(page.locator("#card-activity .timeline li").first).to_contain_text("Succeeded")
    page.screenshot(path=shots / "05-dashboard.png", full_page=True)

    # navigating the panel swaps partials: the window (and this marker) survives
    page.evaluate("window.berthMarker = 'kept'")
    page.click(".menu a[data-menu='profile']")
    expect(page).to_have_url(f"{base_url}/panel/profile")
    expect(page.locator("#main h1")).to_have_text("Profile")
    expect(page.locator(".menu-item.active")).to_have_text("Profile")
    expect(page).to_have_title("Profile · Berth")
    expect(page.locator("#sessions-table")).to_be_visible()  # lazy section, loaded on open
    expect(page.locator("#sessions-table")).to_contain_text("this session")
    page.fill("#f-name", "Ada Lovelace")
    page.click("button:has-text('Save details')")
    expect(page.locator("#profile-details")).to_contain_text("Your details have been saved.")
    expect(page.locator(".who-name")).to_have_text("Ada")  # the shell is not re-rendered
    page.locator("#profile-logins").scroll_into_view_if_needed()
    expect(page.locator("#logins-table")).to_contain_text("success")
    page.screenshot(path=shots / "06-profile.png", full_page=True)
    assert page.evaluate("window.berthMarker") == "kept"

    # history works both ways without a reload
    page.go_back()
    expect(page).to_have_url(f"{base_url}/panel")
    expect(page.locator("#main h1")).to_have_text("Dashboard")
    expect(page.locator(".menu-item.active")).to_have_text("Dashboard")
    page.go_forward()
    expect(page).to_have_url(f"{base_url}/panel/profile")
    expect(page.locator("#main h1")).to_have_text("Profile")
    assert page.evaluate("window.berthMarker") == "kept"

    # and every URL also loads directly
    page.goto("/panel/profile")
    expect(page.locator("#main h1")).to_have_text("Profile")
    expect(page.locator("#f-name")).to_have_value("Ada Lovelace")
    assert page.evaluate("window.berthMarker") is None

    if "deploy" in platform.processes:
        deploy_an_app(page, base_url, tmp_path)
    if "billing" in platform.processes:
        top_up(page, base_url)

    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(f"{base_url}/login?signed_out=1")
    expect(page.locator(".notice-success")).to_contain_text("signed out")
    page.goto("/panel/profile")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fpanel%2Fprofile$"))
    console.assert_clean()
    context.close()


def deploy_an_app(page, base_url, tmp_path) -> None:
    """Create a static site from a template, deploy it, watch it start and read its logs."""
    from playwright.sync_api import expect

    shots = artifacts_dir()
    slug = f"site-{uuid.uuid4().hex[:6]}"
    page.evaluate("window.berthMarker = 'apps'")
    page.click(".menu a[data-menu='apps']")
    expect(page).to_have_url(f"{base_url}/panel/apps")
    page.click("#main a:has-text('New app')")
    expect(page).to_have_url(f"{base_url}/panel/apps/new")
    page.check("input[name=template][value='static-site']")
    page.fill("#f-slug", slug)
    page.fill("#f-name", "My first site")
    page.fill("#f-repo_url", static_site_repo(tmp_path / slug))
    page.fill("#f-env", "GREETING=hello")
    page.screenshot(path=shots / "13-new-app.png", full_page=True)
    page.click("button:has-text('Create app')")
    expect(page).to_have_url(re.compile(r"/panel/apps/[0-9a-f-]{36}$"))
    expect(page.locator(".notice-success")).to_contain_text("first deployment is queued")
    # the status card polls while the app builds and starts: no reload needed
    expect(page.locator("#app-status .status-badge")).to_have_text("running", timeout=90_000)
    expect(page.locator("#app-url")).to_contain_text(slug)
    expect(page.locator("#app-operations")).to_contain_text("deploy · succeeded")
    expect(page.locator("#app-releases")).to_contain_text("current")
    page.click("[data-log-tab='build']")
    expect(page.locator("#log-lines .log-line").first).to_be_visible()
    page.locator("#app-env").scroll_into_view_if_needed()
    expect(page.locator("#env-table")).to_contain_text("GREETING")
    page.screenshot(path=shots / "14-app-running.png", full_page=True)
    assert page.evaluate("window.berthMarker") == "apps"
    page.click(".menu a[data-menu='dashboard']")
    expect(page.locator("[data-stat='apps-running']")).to_have_text("1")


def top_up(page, base_url) -> None:
    """Top up through the sandbox checkout, then see the balance and the ledger."""
    from playwright.sync_api import expect

    shots = artifacts_dir()
    page.click(".menu a[data-menu='billing']")
    expect(page).to_have_url(f"{base_url}/panel/billing")
    expect(page.locator("[data-stat='balance']")).to_have_text("0.00 EUR")
    page.fill("#f-amount", "20")
    page.click("button:has-text('Continue to checkout')")
    expect(page).to_have_url(re.compile(r"/api/billing/v1/sandbox/checkout/"))
    page.click("button:has-text('Pay')")
    expect(page.locator("body")).to_contain_text("being confirmed")
    page.goto("/panel/billing")
    # the summary refreshes itself while the payment is being confirmed
    expect(page.locator("[data-stat='balance']")).to_have_text("20.00 EUR", timeout=30_000)
    # once it settles the whole screen refreshes: the balance chart ends at 20 too
    expect(page.locator("canvas[data-chart-name='balance'][data-chart*='20.0]']")).to_be_visible()
    page.screenshot(path=shots / "15-billing.png", full_page=True)
    page.click("a.tab:has-text('Ledger')")
    expect(page).to_have_url(f"{base_url}/panel/billing/ledger")
    page.select_option("select[name=kind]", "topup")
    page.click("button:has-text('Filter')")
    expect(page).to_have_url(f"{base_url}/panel/billing/ledger?kind=topup")
    expect(page.locator("#ledger-table")).to_contain_text("20.00 EUR")
    page.screenshot(path=shots / "16-ledger.png", full_page=True)


def test_narrow_screens_get_a_burger_menu(chromium, platform, base_url, register_verified):  # noqa: F811
    from playwright.sync_api import expect

    email = register_verified()
    context, page, console = new_page(chromium, base_url, width=390, height=844)
    page.emulate_media(reduced_motion="reduce")  # no slide animation: stable screenshots
    sign_in(page, email)
    expect(page.locator("#main h1")).to_have_text("Dashboard")
    burger = page.locator(".burger")
    expect(burger).to_be_visible()
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    page.screenshot(path=artifacts_dir() / "07-narrow-dashboard.png", full_page=True)
    burger.click()
    expect(page.locator("#sidebar")).to_be_in_viewport()
    expect(burger).to_have_attribute("aria-expanded", "true")
    page.screenshot(path=artifacts_dir() / "08-narrow-menu-open.png")
    page.click(".menu a[data-menu='profile']")
    expect(page).to_have_url(f"{base_url}/panel/profile")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()  # closed after navigating
    burger.click()
    expect(page.locator("#sidebar")).to_be_in_viewport()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    console.assert_clean()
    context.close()


def test_the_admin_area_is_for_admins_only(chromium, platform, base_url, register_verified):  # noqa: F811
    from playwright.sync_api import expect

    shots = artifacts_dir()
    person = register_verified()
    context, page, _ = new_page(chromium, base_url)
    sign_in(page, person)
    expect(page.locator(".sidebar a[href='/admin']")).to_have_count(0)
    response = page.goto("/admin/users")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Access denied")
    page.screenshot(path=shots / "09-admin-forbidden.png", full_page=True)
    context.close()

    context, page, console = new_page(chromium, base_url)
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.click(".sidebar a[href='/admin']")
    expect(page).to_have_url(f"{base_url}/admin")
    expect(page.locator("#main h1")).to_have_text("Administration")
    page.evaluate("window.berthMarker = 'admin'")
    page.click(".menu a[data-menu='users']")
    expect(page).to_have_url(f"{base_url}/admin/users")
    page.fill("input[name=q]", person.split("@")[0])
    page.click("button:has-text('Filter')")
    expect(page).to_have_url(re.compile(r"/admin/users\?q=person-"))  # filter state in the URL
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    page.screenshot(path=shots / "10-admin-users.png", full_page=True)
    page.click(f"#users-table a:has-text('{person}')")
    expect(page.locator("#main h1")).to_have_text(person)
    page.fill("#f-reason", "browser test")
    page.click("button:has-text('Block user')")
    expect(page.locator("#confirm-dialog")).to_be_visible()  # our dialog, not window.confirm
    page.click("#confirm-ok")
    expect(page.locator(".notice-success")).to_contain_text("blocked")
    expect(page.locator("#main")).to_contain_text("browser test")
    page.screenshot(path=shots / "11-admin-user.png", full_page=True)

    page.click(".menu a[data-menu='clients']")
    page.fill("#f-client-name", "Browser test team")
    page.check("input[name=scopes][value='deploy:read']")
    page.click("button:has-text('Create client')")
    secret = page.locator("#secret-value")
    expect(secret).to_be_visible()
    assert len(secret.inner_text()) > 20
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button[data-copy='#secret-value']")
    expect(page.locator(".toast")).to_contain_text("Copied")
    page.screenshot(path=shots / "12-admin-clients.png", full_page=True)
    assert page.evaluate("window.berthMarker") == "admin"
    console.assert_clean()
    context.close()
