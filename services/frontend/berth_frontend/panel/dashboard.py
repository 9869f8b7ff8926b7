"""The dashboard: apps running, balance, recent activity; each card from its own service,
fetched in parallel, each rendered as unavailable on its own when its service is down."""

from typing import Any

from berth_frontend.web.backends import sections
from berth_frontend.web.screens import ScreenContext


async def dashboard(ctx: ScreenContext) -> dict[str, Any]:
    caller = ctx.viewer.caller
    activity, balance, apps, running = await sections(
        ctx.backends.auth.get("/api/auth/v1/me/login-history", caller, size=5),
        ctx.backends.billing.get("/api/billing/v1/account", caller),
        ctx.backends.deploy.get("/api/deploy/v1/apps", caller, size=5, sort="-updated_at"),
        ctx.backends.deploy.get("/api/deploy/v1/apps", caller, size=1, status="running"),
    )
    if apps.ok and running.ok:
        apps.extra = {"total": apps.data["total"], "running": running.data["total"]}
    elif running.down or running.error:
        apps = running  # one notice for the card, whichever call failed
    return {"activity": activity, "balance": balance, "apps": apps}
